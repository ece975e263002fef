package arch

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"dayi/kernels"
)

// QuantizeKV turns KV rows x [T, KV, D] (Float32, D a multiple of 32) into
// rows of t's 32-value blocks, Uint8 [T, KV, t.RowBytes(D)], with the values
// llama.cpp writes into a q8_0 or q4_0 cache (kernels.QuantizeRow is the
// reference and says which ggml routine each follows). The bytes are built
// with plain graph ops, so the cache update stays a DynamicUpdateSlice.
func QuantizeKV(x *Node, t kernels.KVQuant) *Node {
	g := x.Graph()
	dims := x.Shape().Dimensions
	T, KV, D := dims[0], dims[1], dims[2]
	nb := D / kernels.QK
	blk := []int{T, KV, nb, kernels.QK}
	xb := graph.Reshape(graph.ConvertDType(x, dtypes.Float32), blk...)
	f32 := func(v float64) *Node { return graph.Scalar(g, dtypes.Float32, v) }
	perBlock := func(v *Node) *Node { return graph.BroadcastToDims(v, blk...) } // [T,KV,nb,1] → blk
	abs := graph.Abs(xb)
	amax := graph.ReduceAndKeep(abs, graph.ReduceMax, 3)
	nonzero := graph.NotEqual(amax, graph.ZerosLike(amax))
	var d, q *Node
	switch t {
	case kernels.KVQ8_0:
		d = graph.Div(amax, f32(127))
		id := graph.Where(nonzero, graph.Div(graph.BroadcastToDims(f32(127), amax.Shape().Dimensions...), amax), graph.ZerosLike(amax))
		qi := graph.ConvertDType(graph.Round(graph.Mul(xb, perBlock(id))), dtypes.Int8)
		q = graph.Bitcast(qi, dtypes.Uint8)
	case kernels.KVQ4_0:
		// m: the first value of largest magnitude in its block.
		idx := graph.Iota(g, shapes.Make(dtypes.Int32, blk...), 3)
		first := graph.ReduceAndKeep(graph.Where(graph.Equal(abs, perBlock(amax)), idx, graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, kernels.QK), blk...)), graph.ReduceMin, 3)
		m := graph.ReduceAndKeep(graph.Where(graph.Equal(idx, perBlock(first)), xb, graph.ZerosLike(xb)), graph.ReduceSum, 3)
		d = graph.Div(m, f32(-8))
		dnz := graph.NotEqual(d, graph.ZerosLike(d))
		id := graph.Where(dnz, graph.Div(graph.BroadcastToDims(f32(1), d.Shape().Dimensions...), d), graph.ZerosLike(d))
		// min(15, trunc(x*id + 8.5)); the sum lies in [0.5, 16.5].
		qi := graph.ConvertDType(graph.Add(graph.Mul(xb, perBlock(id)), f32(8.5)), dtypes.Int32)
		qi = graph.Min(qi, graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, 15), blk...))
		lo := graph.SliceAxis(qi, 3, graph.AxisRange(0, kernels.QK/2))
		hi := graph.SliceAxis(qi, 3, graph.AxisRange(kernels.QK/2, kernels.QK))
		packed := graph.Add(lo, graph.Mul(hi, graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, 16), lo.Shape().Dimensions...)))
		q = graph.ConvertDType(packed, dtypes.Uint8)
	default:
		panic("arch: QuantizeKV: unknown type")
	}
	// d's f16 bits as two little-endian bytes.
	bits := graph.ConvertDType(graph.Bitcast(graph.ConvertDType(d, dtypes.Float16), dtypes.Uint16), dtypes.Int32)
	c256 := graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, 256), bits.Shape().Dimensions...)
	dlo := graph.ConvertDType(graph.Rem(bits, c256), dtypes.Uint8)
	dhi := graph.ConvertDType(graph.Div(bits, c256), dtypes.Uint8)
	out := graph.Concatenate([]*Node{dlo, dhi, q}, 3) // [T, KV, nb, BlockBytes]
	return graph.Reshape(out, T, KV, t.RowBytes(D))
}

// RotateKV rotates k and v ([T, KV, D]) as llama.cpp does before writing a
// quantized cache (kernels.RotK/RotV): a Walsh-Hadamard transform of each
// n-value chunk, in ggml-cpu's butterfly order (kernels.FWHT). Caches of
// other types get k and v back unchanged.
func RotateKV(cache, k, v *Node) (*Node, *Node) {
	D := k.Shape().Dimensions[2]
	if cache.DType() != dtypes.Uint8 || kernels.KVQuantFromRow(cache.Shape().Dimensions[3], D) == 0 {
		return k, v
	}
	return fwht(k, kernels.RotK(D)), fwht(v, kernels.RotV(D))
}

// fwht is kernels.FWHT as graph ops (n 0: x unchanged).
func fwht(x *Node, n int) *Node {
	if n == 0 {
		return x
	}
	dims := x.Shape().Dimensions
	R := x.Shape().Size() / n
	y := graph.Mul(graph.Reshape(x, R, n), graph.Scalar(x.Graph(), dtypes.Float32, float64(kernels.FWHTScale(n))))
	for l := 1; l < n; l <<= 1 {
		y4 := graph.Reshape(y, R, n/(2*l), 2, l)
		u := graph.SliceAxis(y4, 2, graph.AxisRange(0, 1))
		v := graph.SliceAxis(y4, 2, graph.AxisRange(1, 2))
		y = graph.Reshape(graph.Concatenate([]*Node{graph.Add(u, v), graph.Sub(u, v)}, 2), R, n)
	}
	return graph.Reshape(y, dims...)
}
