package arch

import (
	"dayi/kernels"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Ctx carries the inputs of one forward step and collects its state outputs.
type Ctx struct {
	G *graph.Graph
	H *Hyper
	// X is the step's input embeddings [T, dim] (already looked up, unscaled):
	// the rows of every sequence of the step, one after the other.
	X *Node
	// Cos and Sin are the rotary tables [T, RopeDim/2], one per Hyper.Ropes.
	Cos, Sin []*Node
	// Seqs are the sequences of the step: a prefill step has one sequence of T
	// rows, a batched decode step B sequences of one row each.
	Seqs []Seq
	// KCache and VCache hold, per layer and per sequence, [1, S, KVHeads,
	// HeadDim] on input; the step replaces them by the updated caches.
	KCache, VCache [][]*Node
	// DynamicUpdate tells whether the backend has DynamicUpdateSlice; without it
	// the cache update uses a one-hot select (portable, O(S) per step).
	DynamicUpdate bool
	// Embeddings: X holds embeddings given by the caller (an image's soft
	// tokens from a vision projector), not token-table rows. llama.cpp
	// applies a family's token-embedding scale to token rows only
	// (gemma3.cpp: ggml_scale by ubatch.token ? sqrt(n_embd) : 1), so an
	// architecture that scales must skip it for these.
	Embeddings bool
	// RowChunk > 0 is the most rows Ctx.Rows hands its function at once
	// (the engine's choice; 0: all rows).
	RowChunk int
}

// Seq is one sequence of a step.
type Seq struct {
	Rows int // rows of X that belong to it
	// CachePos, one per Hyper.Caches, is the cache row its first row is
	// written to (int32 scalar): its absolute position, less the position
	// of the cache's row 0 where the engine keeps a sliding-window view in
	// a buffer shorter than the context (session.go, compact caches).
	CachePos []*Node
	// Masks [Rows, S] (bool: true = attend), one per Hyper.Caches, in the
	// same cache rows (S is that view's cache length).
	Masks []*Node
}

// Rows is f(x) for a row-wise f of x [T, ...], run on at most c.RowChunk
// rows at a time and concatenated: the feed-forward block of a 512-row step
// holds its gate and up activations ([T, FFN] f32 each, 16 MiB on llama-1b)
// for a chunk instead of the whole step. The rows' results are those of
// one call: the matmul kernels give each row the same arithmetic whatever
// the row count past 4 (kernels/plan.go).
func (c *Ctx) Rows(x *Node, f func(*Node) *Node) *Node {
	T := x.Shape().Dimensions[0]
	if c.RowChunk <= 0 || T <= c.RowChunk {
		return f(x)
	}
	parts := make([]*Node, 0, (T+c.RowChunk-1)/c.RowChunk)
	for r := 0; r < T; r += c.RowChunk {
		parts = append(parts, f(graph.SliceAxis(x, 0, graph.AxisRange(r, min(r+c.RowChunk, T)))))
	}
	return graph.Concatenate(parts, 0)
}

// T returns the number of rows of the step.
func (c *Ctx) T() int { return c.X.Shape().Dimensions[0] }

// Linear computes x·Wᵀ for x [T, K] and W with GGUF rows [N, K], giving [T, N].
// Raw GGUF weights (Uint8 [N, rowBytes]) go through the backend's fused
// quantized dense; float weights [N, K] through DotGeneral (portable path).
func (c *Ctx) Linear(x *Node, w *Weight) *Node {
	if w.Node.DType() == dtypes.Uint8 {
		return c.fusedQDense(x, w, backends.ActivationNone)
	}
	return graph.DotGeneral(x, []int{x.Rank() - 1}, nil, w.Node, []int{1}, nil)
}

// fusedQDense is x·wᵀ for raw GGUF-quantized weights through the backend's
// fused quantized dense op, with an optional activation.
func (c *Ctx) fusedQDense(x *Node, w *Weight, act backends.ActivationType) *Node {
	t := w.Info.Type
	l := kernels.LayoutGGUF
	if w.Rows16 {
		l = kernels.LayoutRows16
	}
	q := &graph.Quantization{
		Scheme:    backends.QuantizationScheme(kernels.Scheme(t, l)), // kernels owns the numbers
		Scale:     graph.Scalar(c.G, dtypes.Float32, 1),
		BlockAxis: 1,
		BlockSize: t.BlockSize(),
	}
	return graph.BackendFusedQuantizedDense(x, w.Node, nil, q, act)
}

// LinearSiLU is SiLU(Linear(x, w)). With quantized weights the SiLU runs
// inside the fused matmul (kernels.SiLURow: llama.cpp's vectorised swiglu
// numerics, ~10x cheaper than the Logistic graph op); otherwise it is the
// graph's SiLU.
func (c *Ctx) LinearSiLU(x *Node, w *Weight) *Node {
	if w.Node.DType() == dtypes.Uint8 {
		return c.fusedQDense(x, w, backends.ActivationSilu)
	}
	return SiLU(c.Linear(x, w))
}

// GeGLU is llama.cpp's gelu(x·gateᵀ)·(x·upᵀ) (geglu: ggml_geglu_split with
// the f16 GELU table). With quantized gate weights the GELU runs inside
// the fused matmul (kernels.GeluF16Row, asked for with the activation
// number kernels.GeluF16Activation): one pass instead of geglu's eight
// graph ops, the same values bit for bit. table is geluTableConst's node
// (used only on the graph path).
func (c *Ctx) GeGLU(x *Node, gate, up *Weight, table *Node) *Node {
	if gate.Node.DType() == dtypes.Uint8 {
		return graph.Mul(c.fusedQDense(x, gate, backends.ActivationType(kernels.GeluF16Activation)), c.Linear(x, up))
	}
	return geglu(c.Linear(x, gate), c.Linear(x, up), table)
}

// LinearBias is Linear plus an optional bias.
func (c *Ctx) LinearBias(x *Node, w, b *Weight) *Node {
	y := c.Linear(x, w)
	if b != nil {
		y = graph.Add(y, graph.ExpandLeftToRank(b.Node, y.Rank()))
	}
	return y
}

// RMSNorm normalises the last axis and scales by w (ggml_rms_norm then mul).
func (c *Ctx) RMSNorm(x *Node, w *Weight) *Node {
	last := x.Rank() - 1
	n := x.Shape().Dimensions[last]
	// ggml_compute_forward_rms_norm_f32: the sum of squares of float32
	// products is accumulated in double, mean = sum/n in float, and the scale
	// is 1.0f/sqrtf(mean + eps).
	sq := graph.ConvertDType(graph.Square(x), dtypes.Float64)
	sum := graph.ConvertDType(graph.ReduceAndKeep(sq, graph.ReduceSum, last), dtypes.Float32)
	ms := graph.DivScalar(sum, float64(n))
	scale := graph.Reciprocal(graph.Sqrt(graph.AddScalar(ms, float64(c.H.NormEps))))
	y := graph.Mul(x, scale)
	if w != nil {
		y = graph.Mul(y, graph.ExpandLeftToRank(w.Node, y.Rank()))
	}
	return y
}

// Rope rotates the first RopeDim channels of each head of x [T, heads, D]
// with the rotary table of layer's kind.
func (c *Ctx) Rope(layer int, x *Node) *Node {
	r := c.H.Kinds[layer].Rope
	cos, sin := c.Cos[r], c.Sin[r]
	dims := x.Shape().Dimensions
	T, nh, D := dims[0], dims[1], dims[2]
	rd := c.H.RopeDim
	rot := x
	var pass *Node
	if rd < D {
		rot = graph.SliceAxis(x, 2, graph.AxisRange(0, rd))
		pass = graph.SliceAxis(x, 2, graph.AxisRange(rd, D))
	}
	cs := graph.Reshape(cos, T, 1, rd/2)
	sn := graph.Reshape(sin, T, 1, rd/2)
	var a, b *Node
	if c.H.RopeType == RopeNeoX {
		a = graph.SliceAxis(rot, 2, graph.AxisRange(0, rd/2))
		b = graph.SliceAxis(rot, 2, graph.AxisRange(rd/2, rd))
	} else {
		pairs := graph.Reshape(rot, T, nh, rd/2, 2)
		a = graph.Reshape(graph.SliceAxis(pairs, 3, graph.AxisRange(0, 1)), T, nh, rd/2)
		b = graph.Reshape(graph.SliceAxis(pairs, 3, graph.AxisRange(1, 2)), T, nh, rd/2)
	}
	ra := graph.Sub(graph.Mul(a, cs), graph.Mul(b, sn))
	rb := graph.Add(graph.Mul(a, sn), graph.Mul(b, cs))
	var out *Node
	if c.H.RopeType == RopeNeoX {
		out = graph.Concatenate([]*Node{ra, rb}, 2)
	} else {
		out = graph.Reshape(graph.Stack([]*Node{ra, rb}, 3), T, nh, rd)
	}
	if pass != nil {
		out = graph.Concatenate([]*Node{out, pass}, 2)
	}
	return out
}

// Attention writes k and v ([T, KVHeads, D]) into each sequence's cache at
// its position and attends q [T, Heads, D] over the part of it that layer's
// kind sees (Hyper.Caches); it returns [T, Heads*D]. Scores are scaled by
// Hyper.AttnScale.
func (c *Ctx) Attention(layer int, q, k, v *Node) *Node {
	H, D := c.H.Heads, c.H.HeadDim
	kv := c.H.KVHeads[layer]
	return c.attend(layer, q, k, v, func(q4, kc, vc, mask *Node, rows int) *Node {
		out := graph.BackendFusedScaledDotProductAttention(q4, kc, vc, mask, H, kv, backends.AxesLayoutBSHD,
			float64(c.H.AttnScale), false, nil)
		return graph.Reshape(out, rows, H*D)
	})
}

// attend updates each sequence's caches of layer with its rows of k and v
// and concatenates what one(q4 [1, rows, H, D], kcache, vcache, mask, rows)
// returns for each sequence.
func (c *Ctx) attend(layer int, q, k, v *Node, one func(q4, kc, vc, mask *Node, rows int) *Node) *Node {
	H, D := c.H.Heads, c.H.HeadDim
	cache := c.H.Kinds[layer].Cache
	outs := make([]*Node, len(c.Seqs))
	row := 0
	for s, seq := range c.Seqs {
		rows := func(x *Node) *Node {
			if len(c.Seqs) == 1 {
				return x
			}
			return graph.SliceAxis(x, 0, graph.AxisRange(row, row+seq.Rows))
		}
		kr, vr := RotateKV(c.KCache[layer][s], rows(k), rows(v)) // q8_0/q4_0 caches only (kvquant.go)
		kc := c.updateCache(c.KCache[layer][s], kr, seq.CachePos[cache])
		vc := c.updateCache(c.VCache[layer][s], vr, seq.CachePos[cache])
		c.KCache[layer][s], c.VCache[layer][s] = kc, vc
		q4 := graph.Reshape(rows(q), 1, seq.Rows, H, D)
		outs[s] = one(q4, kc, vc, seq.Masks[cache], seq.Rows)
		row += seq.Rows
	}
	if len(outs) == 1 {
		return outs[0]
	}
	return graph.Concatenate(outs, 0)
}

// updateCache writes rows [T, KV, D] into cache [1, S, KV, D] at pos.
func (c *Ctx) updateCache(cache, rows, pos *Node) *Node {
	dims := rows.Shape().Dimensions
	T := dims[0]
	var upd *Node
	if q := kernels.KVQuantFromRow(cache.Shape().Dimensions[3], dims[2]); cache.DType() == dtypes.Uint8 && q != 0 {
		upd = graph.Reshape(QuantizeKV(rows, q), 1, T, dims[1], q.RowBytes(dims[2])) // q8_0/q4_0 cache (kvquant.go)
	} else {
		upd = graph.ConvertDType(graph.Reshape(rows, 1, T, dims[1], dims[2]), cache.DType())
	}
	if c.DynamicUpdate {
		zero := graph.Scalar(c.G, dtypes.Int32, 0)
		return graph.DynamicUpdateSlice(cache, upd, []*Node{zero, pos, zero, zero})
	}
	// Portable path: one-hot [S, T] placement, selected with Where.
	S := cache.Shape().Dimensions[1]
	sIdx := graph.Iota(c.G, shapes.Make(dtypes.Int32, S, T), 0)
	tIdx := graph.Add(graph.Iota(c.G, shapes.Make(dtypes.Int32, S, T), 1), pos)
	onehot := graph.Equal(sIdx, tIdx)
	placed := graph.DotGeneral(graph.ConvertDType(onehot, dtypes.Float32), []int{1}, nil,
		graph.Reshape(graph.ConvertDType(rows, dtypes.Float32), T, dims[1]*dims[2]), []int{0}, nil)
	hit := graph.ReduceLogicalOr(onehot, 1)
	placed = graph.ConvertDType(graph.Reshape(placed, 1, S, dims[1], dims[2]), cache.DType())
	sel := graph.BroadcastToDims(graph.Reshape(hit, 1, S, 1, 1), 1, S, dims[1], dims[2])
	return graph.Where(sel, placed, cache)
}

// SiLU is x·σ(x).
func SiLU(x *Node) *Node { return graph.Mul(x, graph.Logistic(x)) }

// GeLUTanh is ggml_gelu's tanh approximation.
func GeLUTanh(x *Node) *Node {
	// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), ggml-cpu vec.h GELU_COEF_A / SQRT_2_OVER_PI.
	x3 := graph.Mul(graph.Mul(x, x), x)
	inner := graph.MulScalar(graph.Add(x, graph.MulScalar(x3, 0.044715)), 0.7978845608028654)
	return graph.Mul(graph.MulScalar(x, 0.5), graph.AddScalar(graph.Tanh(inner), 1))
}

// HeadsView reshapes [T, n*D] to [T, n, D].
func HeadsView(x *Node, n, d int) *Node {
	return graph.Reshape(x, x.Shape().Dimensions[0], n, d)
}
