package backend_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"

	_ "dayi/engine/backend"                      // registers "dayi"
	_ "github.com/gomlx/gomlx/backends/simplego" // reference implementation: registers "go"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph DSL reads best unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// backendsUnderTest returns ours and GoMLX's simplego (the reference).
func backendsUnderTest(t testing.TB) (ours, ref backends.Backend) {
	t.Helper()
	var err error
	ours, err = backends.NewWithConfig("dayi:threads=2")
	if err != nil {
		t.Fatal(err)
	}
	ref, err = backends.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	return ours, ref
}

func runGraph(t testing.TB, b backends.Backend, fn func([]*Node) []*Node, inputs ...any) []*tensors.Tensor {
	t.Helper()
	e, err := NewExecAny(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = in
		if tt, ok := in.(*tensors.Tensor); ok {
			// A tensor binds to the first backend that uses it: give each its own copy.
			c, err := tt.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			args[i] = c
		}
	}
	outs, err := e.Exec(args...)
	if err != nil {
		t.Fatalf("%s: %v", b.Name(), err)
	}
	return outs
}

func flatF64(t *tensors.Tensor) []float64 {
	var out []float64
	t.MustConstFlatData(func(flat any) {
		switch s := flat.(type) {
		case []float32:
			for _, v := range s {
				out = append(out, float64(v))
			}
		case []float64:
			out = append(out, s...)
		}
	})
	return out
}

// compareTensors checks shapes, then values: integer/bool/half dtypes must be
// bit-identical, float32/64 within tol relative to max(|x|, scale).
func compareTensors(t *testing.T, name string, got, want *tensors.Tensor, tol, scale float64) {
	t.Helper()
	if !got.Shape().Equal(want.Shape()) {
		t.Errorf("%s: shape %s, reference %s", name, got.Shape(), want.Shape())
		return
	}
	switch got.DType() {
	case dtypes.Float32, dtypes.Float64:
		g, w := flatF64(got), flatF64(want)
		bad := 0
		for i := range g {
			if math.IsNaN(g[i]) && math.IsNaN(w[i]) {
				continue
			}
			d := math.Abs(g[i] - w[i])
			if d > tol*math.Max(math.Max(math.Abs(w[i]), math.Abs(g[i])), scale) || math.IsNaN(d) {
				if bad < 5 {
					t.Errorf("%s: [%d] = %g, reference %g (diff %g)", name, i, g[i], w[i], d)
				}
				bad++
			}
		}
	default:
		var gb, wb []byte
		_ = got.ConstBytes(func(d []byte) { gb = bytes.Clone(d) })
		_ = want.ConstBytes(func(d []byte) { wb = bytes.Clone(d) })
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s: bytes differ:\n got %v\nwant %v", name, got, want)
		}
	}
}

type opCase struct {
	name   string
	fn     func([]*Node) []*Node
	inputs []any
	tol    float64 // 0: exact for floats too
	scale  float64
}

func randF32(r *rand.Rand, lo, hi float32, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float32()
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func randI32(r *rand.Rand, lo, hi int32, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = lo + r.Int32N(hi-lo)
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func runCases(t *testing.T, cases []opCase) {
	ours, ref := backendsUnderTest(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runGraph(t, ours, c.fn, c.inputs...)
			want := runGraph(t, ref, c.fn, c.inputs...)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, reference %d", len(got), len(want))
			}
			for i := range got {
				compareTensors(t, fmt.Sprintf("%s#%d", c.name, i), got[i], want[i], c.tol, c.scale)
			}
		})
	}
}

func one(f func(x *Node) *Node) func([]*Node) []*Node {
	return func(in []*Node) []*Node { return []*Node{f(in[0])} }
}

func two(f func(x, y *Node) *Node) func([]*Node) []*Node {
	return func(in []*Node) []*Node { return []*Node{f(in[0], in[1])} }
}

func TestElementwiseOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pos := randF32(r, 0.1, 3, 3, 5)
	sym := randF32(r, -3, 3, 3, 5)
	var cases []opCase
	for name, f := range map[string]func(*Node) *Node{
		"Sqrt": Sqrt, "Rsqrt": Rsqrt, "Log": Log, "Log1p": Log1p,
	} {
		cases = append(cases, opCase{name: name, fn: one(f), inputs: []any{pos}})
	}
	for name, f := range map[string]func(*Node) *Node{
		"Neg": Neg, "Abs": Abs, "Exp": Exp, "Tanh": Tanh, "Logistic": Logistic, "Erf": Erf, "Cos": Cos,
		"Sin": Sin, "Floor": Floor, "Ceil": Ceil, "Round": Round, "Sign": Sign, "Expm1": Expm1,
	} {
		cases = append(cases, opCase{name: name, fn: one(f), inputs: []any{sym}})
	}
	a := randF32(r, -2, 2, 3, 1, 4)
	b := randF32(r, 0.5, 2, 1, 5, 4)
	for name, f := range map[string]func(x, y *Node) *Node{
		"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Min": Min, "Pow": Pow,
		"Equal": Equal, "LessThan": LessThan, "LessOrEqual": LessOrEqual, "GreaterThan": GreaterThan,
		"GreaterOrEqual": GreaterOrEqual, "NotEqual": NotEqual,
	} {
		cases = append(cases, opCase{name: name + "/bcast", fn: two(f), inputs: []any{a, b}})
		cases = append(cases, opCase{name: name + "/same", fn: two(f), inputs: []any{sym, pos}})
		cases = append(cases, opCase{name: name + "/scalar", fn: two(f), inputs: []any{sym, tensors.FromValue(float32(1.5))}})
	}
	ia := randI32(r, -20, 20, 4, 1, 3)
	ib := randI32(r, 1, 7, 1, 2, 3)
	for name, f := range map[string]func(x, y *Node) *Node{
		"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Min": Min, "Rem": Mod,
		"Equal": Equal, "LessThan": LessThan, "GreaterOrEqual": GreaterOrEqual,
	} {
		cases = append(cases, opCase{name: "int32/" + name, fn: two(f), inputs: []any{ia, ib}})
	}
	cases = append(cases,
		opCase{name: "int32/Neg", fn: one(Neg), inputs: []any{ia}},
		opCase{name: "int32/Abs", fn: one(Abs), inputs: []any{ia}},
		opCase{name: "Where", fn: func(in []*Node) []*Node {
			return []*Node{Where(GreaterThan(in[0], in[1]), in[0], in[1]), Where(LessThan(in[0], in[1]), in[0], ScalarZero(in[0].Graph(), dtypes.Float32))}
		}, inputs: []any{sym, pos}},
		opCase{name: "Logical", fn: func(in []*Node) []*Node {
			p, q := GreaterThan(in[0], in[1]), LessThan(in[0], ScalarZero(in[0].Graph(), dtypes.Float32))
			return []*Node{LogicalAnd(p, q), LogicalOr(p, q), LogicalNot(p), LogicalXor(p, q)}
		}, inputs: []any{sym, pos}},
		opCase{name: "IsFinite", fn: func(in []*Node) []*Node {
			x := Div(in[0], Sub(in[0], in[0])) // inf and nan
			return []*Node{IsFinite(x), IsNaN(x)}
		}, inputs: []any{sym}},
		opCase{name: "Clamp", fn: func(in []*Node) []*Node {
			return []*Node{Clamp(Scalar(in[0].Graph(), dtypes.Float32, -1), in[0], Scalar(in[0].Graph(), dtypes.Float32, 1))}
		}, inputs: []any{sym}},
	)
	runCases(t, cases)
}

func TestConvertAndIota(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sym := randF32(r, -300, 300, 4, 6)
	ints := randI32(r, -1000, 1000, 5, 3)
	runCases(t, []opCase{
		{name: "f32->f16->f32", fn: one(func(x *Node) *Node {
			h := ConvertDType(x, dtypes.Float16)
			return ConvertDType(h, dtypes.Float32)
		}), inputs: []any{sym}},
		{name: "f32->f16", fn: one(func(x *Node) *Node { return ConvertDType(x, dtypes.Float16) }), inputs: []any{sym}},
		{name: "f32->int32", fn: one(func(x *Node) *Node { return ConvertDType(x, dtypes.Int32) }), inputs: []any{sym}},
		{name: "f32->int64->f64", fn: one(func(x *Node) *Node {
			return ConvertDType(ConvertDType(x, dtypes.Int64), dtypes.Float64)
		}), inputs: []any{sym}},
		{name: "int32->f32", fn: one(func(x *Node) *Node { return ConvertDType(x, dtypes.Float32) }), inputs: []any{ints}},
		{name: "bool->f32", fn: one(func(x *Node) *Node {
			return ConvertDType(GreaterThan(x, ScalarZero(x.Graph(), dtypes.Float32)), dtypes.Float32)
		}), inputs: []any{sym}},
		{name: "Iota", fn: func(in []*Node) []*Node {
			g := in[0].Graph()
			return []*Node{Iota(g, shapes.Make(dtypes.Int32, 3, 4, 2), 1), Iota(g, shapes.Make(dtypes.Float32, 5, 3), 0),
				Iota(g, shapes.Make(dtypes.Int64, 7), 0), Iota(g, shapes.Make(dtypes.Uint8, 2, 3), 1)}
		}, inputs: []any{sym}},
	})
}

func TestBF16RoundsToNearestEven(t *testing.T) {
	// GoMLX's bfloat16 truncates; we follow ggml (round to nearest even).
	ours, _ := backendsUnderTest(t)
	in := []float32{1.00390625, 1.01171875, -3.3, 65504.7}
	out := runGraph(t, ours, one(func(x *Node) *Node {
		return Bitcast(ConvertDType(x, dtypes.BFloat16), dtypes.Uint16)
	}), tensors.FromFlatDataAndDimensions(in, len(in)))
	if out == nil {
		return
	}
	got := tensors.MustCopyFlatData[uint16](out[0])
	// Reference values: ggml_compute_fp32_to_bf16 rounding (ggml-impl.h).
	want := []uint16{0x3f80, 0x3f82, 0xc053, 0x4780}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bf16(%g) = %#04x, want %#04x", in[i], got[i], want[i])
		}
	}
}

func TestReduceOps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randF32(r, -5, 5, 3, 4, 5)
	xi := randI32(r, -50, 50, 3, 4, 5)
	var cases []opCase
	for _, axes := range [][]int{{2}, {0}, {1}, {0, 2}, {1, 2}, nil} {
		axes := axes
		for name, f := range map[string]func(*Node, ...int) *Node{
			"ReduceSum": ReduceSum, "ReduceMax": ReduceMax, "ReduceMin": ReduceMin, "ReduceMultiply": ReduceMultiply,
		} {
			cases = append(cases, opCase{name: fmt.Sprintf("%s%v", name, axes), fn: one(func(x *Node) *Node {
				if axes == nil {
					return f(x)
				}
				return f(x, axes...)
			}), inputs: []any{x}, tol: 1e-6, scale: 1})
			cases = append(cases, opCase{name: fmt.Sprintf("int32/%s%v", name, axes), fn: one(func(x *Node) *Node {
				if axes == nil {
					return f(x)
				}
				return f(x, axes...)
			}), inputs: []any{xi}})
		}
	}
	for axis := 0; axis < 3; axis++ {
		cases = append(cases,
			opCase{name: fmt.Sprintf("ArgMax%d", axis), fn: one(func(x *Node) *Node { return ArgMax(x, axis, dtypes.Int32) }), inputs: []any{x}},
			opCase{name: fmt.Sprintf("ArgMin%d", axis), fn: one(func(x *Node) *Node { return ArgMin(x, axis, dtypes.Int64) }), inputs: []any{x}},
		)
	}
	runCases(t, cases)
}

func TestMovementOps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randF32(r, -5, 5, 2, 3, 4)
	table := randF32(r, -1, 1, 10, 6)
	idx := tensors.FromFlatDataAndDimensions([]int32{3, 0, 9, 3, 12, -1}, 6)
	pos := tensors.FromValue(int32(2))
	runCases(t, []opCase{
		{name: "Reshape", fn: one(func(x *Node) *Node { return Add(Reshape(x, 6, 4), Reshape(x, 6, 4)) }), inputs: []any{x}},
		{name: "ReshapeOut", fn: one(func(x *Node) *Node { return Reshape(x, 4, 6) }), inputs: []any{x}},
		{name: "Transpose", fn: one(func(x *Node) *Node { return TransposeAllAxes(x, 2, 0, 1) }), inputs: []any{x}},
		{name: "Transpose2", fn: one(func(x *Node) *Node { return TransposeAllAxes(x, 1, 0, 2) }), inputs: []any{x}},
		{name: "BroadcastToDims", fn: one(func(x *Node) *Node {
			return BroadcastToDims(Slice(x, AxisRange(), AxisElem(1), AxisRange()), 2, 5, 4)
		}), inputs: []any{x}},
		{name: "BroadcastScalar", fn: one(func(x *Node) *Node { return BroadcastToDims(ReduceAllSum(x), 3, 2) }), inputs: []any{x}},
		{name: "ExpandAndBroadcast", fn: one(func(x *Node) *Node {
			return BroadcastToDims(InsertAxes(x, 1), 2, 3, 3, 4)
		}), inputs: []any{x}},
		{name: "Slice", fn: one(func(x *Node) *Node { return Slice(x, AxisRange(1), AxisRange(0, 3).Stride(2), AxisRange(1, 4)) }), inputs: []any{x}},
		{name: "Concatenate", fn: one(func(x *Node) *Node {
			return Concatenate([]*Node{x, Neg(x), Slice(x, AxisRange(), AxisRange(), AxisRange(0, 1))}, 2)
		}), inputs: []any{x}},
		{name: "Concatenate0", fn: one(func(x *Node) *Node { return Concatenate([]*Node{x, x}, 0) }), inputs: []any{x}},
		{name: "Gather", fn: two(func(tb, i *Node) *Node { return Gather(tb, InsertAxes(i, -1)) }), inputs: []any{table, idx}},
		{name: "GatherScalar", fn: two(func(tb, i *Node) *Node { return Gather(tb, i) }), inputs: []any{table, pos}},
	})
}

// TestDynamicOps compares DynamicSlice/DynamicUpdateSlice (simplego lacks
// them) against static Slice/Concatenate graphs on simplego.
func TestDynamicOps(t *testing.T) {
	ours, ref := backendsUnderTest(t)
	r := rand.New(rand.NewPCG(11, 12))
	x := randF32(r, -5, 5, 2, 3, 4)
	for _, p := range []int32{0, 1, 2, 3, 7, -2} {
		c := func(v, hi int32) int { return int(max(0, min(v, hi))) } // XLA clamps start indices
		got := runGraph(t, ours, two(func(x, p *Node) *Node {
			z := ScalarZero(x.Graph(), dtypes.Int32)
			return DynamicSlice(x, []*Node{z, p, p}, []int{2, 1, 2})
		}), x, tensors.FromValue(p))
		want := runGraph(t, ref, one(func(x *Node) *Node { return Slice(x, AxisRange(), AxisElem(c(p, 2)), AxisRange(c(p, 2), c(p, 2)+2)) }), x)
		compareTensors(t, fmt.Sprintf("DynamicSlice(%d)", p), got[0], want[0], 0, 0)

		got = runGraph(t, ours, two(func(x, p *Node) *Node {
			z := ScalarZero(x.Graph(), dtypes.Int32)
			u := Neg(OnesLike(Slice(x, AxisRange(), AxisRange(0, 2), AxisRange(0, 2))))
			return DynamicUpdateSlice(x, u, []*Node{z, p, p})
		}), x, tensors.FromValue(p))
		want = runGraph(t, ref, one(func(x *Node) *Node {
			s1, s2 := c(p, 1), c(p, 2)
			mid := Concatenate([]*Node{
				Slice(x, AxisRange(), AxisRange(s1, s1+2), AxisRange(0, s2)),
				Neg(OnesLike(Slice(x, AxisRange(), AxisRange(0, 2), AxisRange(0, 2)))),
				Slice(x, AxisRange(), AxisRange(s1, s1+2), AxisRange(s2+2)),
			}, 2)
			return Concatenate([]*Node{Slice(x, AxisRange(), AxisRange(0, s1)), mid, Slice(x, AxisRange(), AxisRange(s1+2))}, 1)
		}), x)
		compareTensors(t, fmt.Sprintf("DynamicUpdateSlice(%d)", p), got[0], want[0], 0, 0)
	}
}

func TestDotGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	a := randF32(r, -1, 1, 3, 7)
	b := randF32(r, -1, 1, 7, 5)
	bt := randF32(r, -1, 1, 5, 7)
	q := randF32(r, -1, 1, 2, 4, 3, 8)  // [B,T,H,D]
	k := randF32(r, -1, 1, 2, 6, 3, 8)  // [B,S,H,D]
	big := randF32(r, -1, 1, 4, 300)    // exercises the threaded path
	bigW := randF32(r, -1, 1, 300, 257) // [K,N]
	const tol = 1e-5
	runCases(t, []opCase{
		{name: "MatMul", fn: two(MatMul), inputs: []any{a, b}, tol: tol, scale: 1},
		{name: "MatMulT", fn: two(func(x, w *Node) *Node { return Einsum("mk,nk->mn", x, w) }), inputs: []any{a, bt}, tol: tol, scale: 1},
		{name: "TransposedLHS", fn: two(func(x, w *Node) *Node { return Einsum("km,kn->mn", x, w) }), inputs: []any{b, b}, tol: tol, scale: 1},
		{name: "AttentionScores", fn: two(func(q, k *Node) *Node { return Einsum("bthd,bshd->bhts", q, k) }), inputs: []any{q, k}, tol: tol, scale: 1},
		{name: "AttentionValues", fn: two(func(q, k *Node) *Node {
			p := Einsum("bthd,bshd->bhts", q, k)
			return Einsum("bhts,bshd->bthd", p, k)
		}), inputs: []any{q, k}, tol: tol, scale: 1},
		{name: "Big", fn: two(MatMul), inputs: []any{big, bigW}, tol: tol, scale: 1},
		{name: "BigNK", fn: two(func(x, w *Node) *Node { return Einsum("mk,kn->mn", x, w) }), inputs: []any{big, bigW}, tol: tol, scale: 1},
	})
}
