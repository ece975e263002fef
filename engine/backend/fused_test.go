package backend_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"dayi/engine/backend"
	"dayi/kernels"
	"dayi/weights"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph DSL reads best unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestFusedSimple(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x := randF32(r, -4, 4, 3, 5, 7)
	w := randF32(r, -1, 1, 7, 6)
	bias := randF32(r, -1, 1, 6)
	var cases []opCase
	for axis := 0; axis < 3; axis++ {
		cases = append(cases, opCase{name: fmt.Sprintf("Softmax%d", axis),
			fn: one(func(x *Node) *Node { return BackendFusedSoftmax(x, axis) }), inputs: []any{x}, tol: 1e-6, scale: 1e-3})
	}
	cases = append(cases,
		opCase{name: "GeluExact", fn: one(func(x *Node) *Node { return BackendFusedGelu(x, true) }), inputs: []any{x}, tol: 1e-6, scale: 1e-3},
		opCase{name: "GeluTanh", fn: one(func(x *Node) *Node { return BackendFusedGelu(x, false) }), inputs: []any{x}, tol: 1e-6, scale: 1e-3},
	)
	for _, act := range []backends.ActivationType{backends.ActivationNone, backends.ActivationSilu, backends.ActivationGelu,
		backends.ActivationRelu, backends.ActivationTanh} {
		cases = append(cases, opCase{name: "Dense/" + act.String(), fn: func(in []*Node) []*Node {
			return []*Node{BackendFusedDense(in[0], in[1], in[2], act)}
		}, inputs: []any{x, w, bias}, tol: 1e-5, scale: 1})
	}
	runCases(t, cases)
}

// quantized returns random weights [n,k] quantized to t (raw GGUF rows) and
// their dequantized float32 values.
func quantized(t *testing.T, r *rand.Rand, typ weights.Type, n, k int) ([]byte, []float32) {
	t.Helper()
	rs, err := typ.RowSize(int64(k))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, n*int(rs))
	deq := make([]float32, n*k)
	row := make([]float32, k)
	for j := 0; j < n; j++ {
		for i := range row {
			row[i] = float32(r.NormFloat64())
		}
		if err := weights.QuantizeRow(typ, raw[j*int(rs):(j+1)*int(rs)], row); err != nil {
			t.Skipf("weights.QuantizeRow(%s): %v", typ, err)
		}
		if err := weights.DequantizeRow(typ, deq[j*k:(j+1)*k], raw[j*int(rs):(j+1)*int(rs)]); err != nil {
			t.Fatal(err)
		}
	}
	return raw, deq
}

// TestFusedQuantizedDense checks GGUF matmuls against dequantize-then-dot on
// simplego. Kernels quantize activations as ggml does (Q8_0/Q8_1/Q8_K, or f16
// for F16 weights), so the bound is that rounding: per output,
// Σ|w| · max|x| / 127 (half a Q8 step is max|x|/254 per activation).
func TestFusedQuantizedDense(t *testing.T) {
	ours, ref := backendsUnderTest(t)
	r := rand.New(rand.NewPCG(23, 24))
	const m, n, k = 3, 40, 512
	xs := randF32(r, -1, 1, m, k)
	x := tensors.MustCopyFlatData[float32](xs)
	xmax := 0.0
	for _, v := range x {
		xmax = math.Max(xmax, math.Abs(float64(v)))
	}
	for _, typ := range []weights.Type{weights.TypeQ8_0, weights.TypeQ4_0, weights.TypeQ4_K, weights.TypeQ6_K,
		weights.TypeQ5_K, weights.TypeQ4_1, weights.TypeF32, weights.TypeF16, weights.TypeBF16, weights.TypeQ8_1} {
		t.Run(typ.String(), func(t *testing.T) {
			raw, deq := quantized(t, r, typ, n, k)
			wt := tensors.FromFlatDataAndDimensions(raw, n, len(raw)/n)
			for _, act := range []backends.ActivationType{backends.ActivationNone, backends.ActivationSilu} {
				got := runGraph(t, ours, two(func(x, w *Node) *Node {
					q := &Quantization{Scheme: backend.GGUFScheme(typ), Scale: Scalar(x.Graph(), dtypes.Float32, 1),
						BlockAxis: 1, BlockSize: typ.BlockSize()}
					return BackendFusedQuantizedDense(x, w, nil, q, act)
				}), xs, wt)[0]
				want := runGraph(t, ref, two(func(x, w *Node) *Node {
					y := Einsum("mk,nk->mn", x, w)
					if act == backends.ActivationSilu {
						y = Mul(y, Sigmoid(y))
					}
					return y
				}), xs, tensors.FromFlatDataAndDimensions(deq, n, k))[0]
				g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
				if len(g) != m*n {
					t.Fatalf("output has %d values, want %d (shape %s)", len(g), m*n, got.Shape())
				}
				for j := 0; j < n; j++ {
					var sw float64
					for i := 0; i < k; i++ {
						sw += math.Abs(float64(deq[j*k+i]))
					}
					bound := sw*xmax/127 + 1e-4
					for i := 0; i < m; i++ {
						if d := math.Abs(float64(g[i*n+j] - w[i*n+j])); d > bound || math.IsNaN(d) {
							t.Errorf("%s %s: out[%d,%d] = %g, reference %g (diff %g > %g)", typ, act, i, j, g[i*n+j], w[i*n+j], d, bound)
						}
					}
				}
			}
		})
	}
}

// refAttention is softmax(q·kᵀ·scale + mask)·v as plain graph ops, for BSHD.
func refAttention(q, k, v, mask *Node, scale float64, hkv int) *Node {
	B, T, H, D := q.Shape().Dimensions[0], q.Shape().Dimensions[1], q.Shape().Dimensions[2], q.Shape().Dimensions[3]
	G := H / hkv
	if k.DType() != dtypes.Float32 {
		k, v = ConvertDType(k, dtypes.Float32), ConvertDType(v, dtypes.Float32)
	}
	q5 := Reshape(q, B, T, hkv, G, D)
	s := MulScalar(Einsum("btkgd,bskd->bkgts", q5, k), scale)
	if mask != nil {
		if mask.DType() == dtypes.Bool {
			s = Where(BroadcastToDims(Reshape(mask, 1, 1, 1, T, -1), s.Shape().Dimensions...), s, BroadcastToDims(Infinity(s.Graph(), dtypes.Float32, -1), s.Shape().Dimensions...))
		} else {
			s = Add(s, BroadcastToDims(Reshape(mask, 1, 1, 1, T, -1), s.Shape().Dimensions...))
		}
	}
	p := Softmax(s, -1)
	o := Einsum("bkgts,bskd->btkgd", p, v)
	return Reshape(o, B, T, H, D)
}

func boolMask(T, S int, attend func(t, s int) bool) *tensors.Tensor {
	m := make([]bool, T*S)
	for t := 0; t < T; t++ {
		for s := 0; s < S; s++ {
			m[t*S+s] = attend(t, s)
		}
	}
	return tensors.FromFlatDataAndDimensions(m, T, S)
}

func TestFusedSDPA(t *testing.T) {
	ours, ref := backendsUnderTest(t)
	r := rand.New(rand.NewPCG(25, 26))
	const B, H, Hkv, D, S = 2, 4, 2, 16, 32
	type maskCase struct {
		name string
		T    int
		mask func(T int) *tensors.Tensor
	}
	causalAt := func(pos0 int) func(T int) *tensors.Tensor {
		return func(T int) *tensors.Tensor { return boolMask(T, S, func(t, s int) bool { return s <= pos0+t }) }
	}
	masks := []maskCase{
		{"decode@10", 1, causalAt(10)},
		{"prefill@0", 6, causalAt(0)},
		{"prefill@7", 5, causalAt(7)},
		{"window4@12", 3, func(T int) *tensors.Tensor {
			return boolMask(T, S, func(t, s int) bool { return s <= 12+t && s > 12+t-4 })
		}},
		{"holes", 3, func(T int) *tensors.Tensor {
			return boolMask(T, S, func(t, s int) bool { return s%3 != 1 && s <= 20+t })
		}},
		{"additive0/-inf", 2, func(T int) *tensors.Tensor {
			m := make([]float32, T*S)
			for i := range m {
				if i%S > 15+i/S {
					m[i] = float32(math.Inf(-1))
				}
			}
			return tensors.FromFlatDataAndDimensions(m, T, S)
		}},
		{"additiveBias", 2, func(T int) *tensors.Tensor {
			m := make([]float32, T*S)
			for i := range m {
				m[i] = -0.1 * float32(i%S)
			}
			return tensors.FromFlatDataAndDimensions(m, T, S)
		}},
	}
	for _, half := range []bool{false, true} {
		for _, mc := range masks {
			name := mc.name
			if half {
				name += "/f16"
			}
			t.Run(name, func(t *testing.T) {
				q := randF32(r, -1, 1, B, mc.T, H, D)
				k := randF32(r, -1, 1, B, S, Hkv, D)
				v := randF32(r, -1, 1, B, S, Hkv, D)
				mask := mc.mask(mc.T)
				scale := 1 / math.Sqrt(D)
				conv := func(x *Node) *Node {
					if half {
						return ConvertDType(x, dtypes.Float16)
					}
					return x
				}
				got := runGraph(t, ours, func(in []*Node) []*Node {
					return []*Node{BackendFusedScaledDotProductAttention(in[0], conv(in[1]), conv(in[2]), in[3], H, Hkv,
						backends.AxesLayoutBSHD, scale, false, nil)}
				}, q, k, v, mask)[0]
				want := runGraph(t, ref, func(in []*Node) []*Node {
					return []*Node{refAttention(in[0], conv(in[1]), conv(in[2]), in[3], scale, Hkv)}
				}, q, k, v, mask)[0]
				tol := 1e-5
				if half {
					tol = 4e-3 // ggml's f16 path rounds q and p to f16
				}
				compareTensors(t, name, got, want, tol, 1)
				// BHSD layout over the same data must agree with BSHD.
				bhsd := runGraph(t, ours, func(in []*Node) []*Node {
					tr := func(x *Node) *Node { return TransposeAllAxes(x, 0, 2, 1, 3) }
					o := BackendFusedScaledDotProductAttention(tr(in[0]), tr(conv(in[1])), tr(conv(in[2])), in[3], H, Hkv,
						backends.AxesLayoutBHSD, scale, false, nil)
					return []*Node{tr(o)}
				}, q, k, v, mask)[0]
				compareTensors(t, name+"/BHSD", bhsd, want, tol, 1)
			})
		}
	}
	t.Run("causal", func(t *testing.T) {
		const T = 5
		q := randF32(r, -1, 1, B, T, H, D)
		k := randF32(r, -1, 1, B, S, Hkv, D)
		v := randF32(r, -1, 1, B, S, Hkv, D)
		scale := 0.3
		got := runGraph(t, ours, func(in []*Node) []*Node {
			return []*Node{BackendFusedScaledDotProductAttention(in[0], in[1], in[2], nil, H, Hkv,
				backends.AxesLayoutBSHD, scale, true, nil)}
		}, q, k, v)[0]
		// GoMLX's causal is top-left aligned: query t sees keys 0..t.
		want := runGraph(t, ref, func(in []*Node) []*Node {
			return []*Node{BackendFusedScaledDotProductAttention(in[0], in[1], in[2], nil, H, Hkv,
				backends.AxesLayoutBSHD, scale, true, nil)}
		}, q, k, v)[0]
		compareTensors(t, "causal", got, want, 1e-5, 1)
	})
}

// TestDonatedCacheUpdateInPlace: a donated cache is updated in place, so
// its address stays the same across calls, and the values are right.
func TestDonatedCacheUpdateInPlace(t *testing.T) {
	b, err := backend.NewBackend("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	const S, W = 64, 16
	exec, err := NewExec(b, func(cache, row, pos *Node) *Node {
		z := ScalarZero(cache.Graph(), dtypes.Int32)
		return DynamicUpdateSlice(cache, row, []*Node{pos, z})
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := tensors.FromShape(shapes.Make(dtypes.Float32, S, W))
	var addr uintptr
	for p := 0; p < S; p++ {
		row := make([]float32, W)
		for i := range row {
			row[i] = float32(p*100 + i)
		}
		donated, err := DonateTensorBuffer(cache, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(donated, tensors.FromFlatDataAndDimensions(row, 1, W), int32(p))
		if err != nil {
			t.Fatal(err)
		}
		cache = outs[0]
		buf, err := cache.Buffer(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		flat, _ := b.BufferData(buf)
		a := uintptr(unsafe.Pointer(&flat.([]float32)[0]))
		if p > 1 && a != addr { // the first call copies the host tensor to the backend
			t.Fatalf("call %d: cache moved from %#x to %#x: not updated in place", p, addr, a)
		}
		addr = a
	}
	got := tensors.MustCopyFlatData[float32](cache)
	for p := 0; p < S; p++ {
		for i := 0; i < W; i++ {
			if got[p*W+i] != float32(p*100+i) {
				t.Fatalf("cache[%d,%d] = %g, want %d", p, i, got[p*W+i], p*100+i)
			}
		}
	}
}

// TestBufferFromBytesZeroCopy: wrapped memory is used as is and never
// recycled by the backend.
func TestBufferFromBytesZeroCopy(t *testing.T) {
	b, err := backend.NewBackend("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4*8)
	for i := 0; i < 8; i++ {
		*(*float32)(unsafe.Pointer(&data[4*i])) = float32(i)
	}
	buf, err := b.BufferFromBytes(data, shapes.Make(dtypes.Float32, 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	flat, _ := b.BufferData(buf)
	if &flat.([]float32)[0] != (*float32)(unsafe.Pointer(&data[0])) {
		t.Fatal("BufferFromBytes copied the data")
	}
	wt, err := tensors.FromBuffer(b, buf)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := NewExec(b, func(x *Node) *Node { return MulScalar(x, 2) })
	if err != nil {
		t.Fatal(err)
	}
	out := exec.MustExec(wt)[0]
	if got := tensors.MustCopyFlatData[float32](out); got[7] != 14 {
		t.Fatalf("2*x[7] = %g, want 14", got[7])
	}
	wt.MustFinalizeAll()
	for range 4 { // recycled buffers would now alias data
		o := exec.MustExec(tensors.FromFlatDataAndDimensions(make([]float32, 8), 2, 4))[0]
		o.MustFinalizeAll()
	}
	if *(*float32)(unsafe.Pointer(&data[28])) != 7 {
		t.Fatal("wrapped memory was reused by the backend")
	}
	if _, err := b.BufferFromBytes(data[1:29], shapes.Make(dtypes.Float32, 7)); err == nil {
		t.Error("misaligned float32 view accepted")
	}
}

func TestUnsupportedOpFailsAtBuildTime(t *testing.T) {
	b, err := backend.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	exec, _ := NewExec(b, func(x *Node) *Node { return Atan2(x, x) })
	_, err = exec.Exec(tensors.FromValue([]float32{1, 2}))
	if err == nil || !backends.IsNotImplemented(err) {
		t.Fatalf("Atan2: got error %v, want one wrapping backends.ErrNotImplemented", err)
	}
	if b.Capabilities().Operations[backends.OpTypeAtan2] || !b.Capabilities().Operations[backends.OpTypeFusedQuantizedDense] {
		t.Error("capabilities do not match the implementation")
	}
}

// TestFusedGeluF16 checks the gemma GeGLU gate activation
// (kernels.GeluF16Activation) inside the quantized matmul against the graph
// ops it replaces (engine/arch geglu: f16-rounded index into ggml's GELU
// table, 0 at or below -10, the input at or above 10) applied to the same
// matmul's plain output: equal bit for bit. The activations are wide enough
// (outputs up to about ±60) that both clamps and the table all occur.
func TestFusedGeluF16(t *testing.T) {
	ours, _ := backendsUnderTest(t)
	r := rand.New(rand.NewPCG(25, 26))
	const m, n, k = 20, 48, 512
	xs := randF32(r, -4, 4, m, k)
	table := tensors.FromFlatDataAndDimensions(slices.Clone(kernels.GeluF16Table()), 1<<16)
	for _, typ := range []weights.Type{weights.TypeQ8_0, weights.TypeQ4_0, weights.TypeQ4_K, weights.TypeQ6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			raw, _ := quantized(t, r, typ, n, k)
			wt := tensors.FromFlatDataAndDimensions(raw, n, len(raw)/n)
			dense := func(x, w *Node, act backends.ActivationType) *Node {
				q := &Quantization{Scheme: backend.GGUFScheme(typ), Scale: Scalar(x.Graph(), dtypes.Float32, 1),
					BlockAxis: 1, BlockSize: typ.BlockSize()}
				return BackendFusedQuantizedDense(x, w, nil, q, act)
			}
			got := runGraph(t, ours, two(func(x, w *Node) *Node {
				return dense(x, w, backends.ActivationType(kernels.GeluF16Activation))
			}), xs, wt)[0]
			want := runGraph(t, ours, func(in []*Node) []*Node {
				y := dense(in[0], in[1], backends.ActivationNone)
				h := Bitcast(ConvertDType(y, dtypes.Float16), dtypes.Uint16)
				tv := Gather(in[2], ExpandAxes(ConvertDType(h, dtypes.Int32), -1))
				lo := LessOrEqual(y, Scalar(y.Graph(), dtypes.Float32, -10))
				hi := GreaterOrEqual(y, Scalar(y.Graph(), dtypes.Float32, 10))
				return []*Node{Where(lo, ZerosLike(y), Where(hi, y, tv))}
			}, xs, wt, table)[0]
			g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
			var lo, hi int
			for i := range w {
				if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
					t.Fatalf("%s: out[%d] = %g, graph ops %g", typ, i, g[i], w[i])
				}
				if w[i] == 0 {
					lo++
				} else if w[i] >= 10 {
					hi++
				}
			}
			if lo == 0 || hi == 0 {
				t.Fatalf("%s: the clamps were not exercised (%d zeros, %d ≥ 10)", typ, lo, hi)
			}
		})
	}
}
