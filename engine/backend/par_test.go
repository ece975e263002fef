package backend_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"dayi/engine/backend"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph DSL reads best unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func tensorBytes(t *tensors.Tensor) []byte {
	var b []byte
	_ = t.ConstBytes(func(d []byte) { b = bytes.Clone(d) })
	return b
}

// parShapes straddle the parallel thresholds (8 Ki elements for
// transcendental ops, 128 Ki for cheap ones) with odd sizes so that chunks
// end mid-row, plus one prefill-sized tensor.
var parShapes = [][2]int{{1, 8191}, {1, 8192}, {3, 2731}, {1, 131071}, {512, 256}, {7, 18725}, {129, 2048}, {513, 257}}

// TestParallelMatchesSerial runs large elementwise, convert, concat and
// reduce graphs on 2 and 3 threads and requires the bytes of the
// single-threaded run, and of simplego (the reference) except for its
// truncating bfloat16 conversion.
func TestParallelMatchesSerial(t *testing.T) {
	if testing.Short() {
		t.Skip("large tensors")
	}
	var bes []backends.Backend
	for _, cfg := range []string{"dayi:threads=1", "dayi:threads=2", "dayi:threads=3", "go"} {
		be, err := backends.NewWithConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer be.Finalize()
		bes = append(bes, be)
	}
	r := rand.New(rand.NewPCG(7, 8))
	type pcase struct {
		name   string
		fn     func([]*Node) []*Node
		inputs []any
	}
	var cases []pcase
	for _, sh := range parShapes {
		R, C := sh[0], sh[1]
		x := randF32(r, -12, 12, R, C)
		y := randF32(r, 0.25, 4, R, C)
		row := randF32(r, -2, 2, 1, C)
		col := randF32(r, -2, 2, R, 1)
		ints := randI32(r, -1000, 1000, R, C)
		tag := fmt.Sprintf("%dx%d", R, C)
		for name, f := range map[string]func(*Node) *Node{
			"Logistic": Logistic, "Exp": Exp, "Tanh": Tanh, "Neg": Neg, "Abs": Abs, "Sign": Sign,
			"Floor": Floor,
		} {
			cases = append(cases, pcase{name + "/" + tag, one(f), []any{x}})
		}
		for name, f := range map[string]func(x, y *Node) *Node{
			"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Pow": Pow, "LessThan": LessThan,
		} {
			cases = append(cases,
				pcase{name + "/same/" + tag, two(f), []any{x, y}},
				pcase{name + "/row/" + tag, two(f), []any{x, row}},
				pcase{name + "/rowL/" + tag, two(f), []any{row, y}},
				pcase{name + "/col/" + tag, two(f), []any{col, x}},
				pcase{name + "/scalar/" + tag, two(f), []any{x, tensors.FromValue(float32(1.5))}},
			)
		}
		cases = append(cases,
			pcase{"int32/AddNeg/" + tag, func(in []*Node) []*Node {
				return []*Node{Add(in[0], in[0]), Neg(in[0]), Equal(in[0], Abs(in[0]))}
			}, []any{ints}},
			pcase{"Logical/" + tag, func(in []*Node) []*Node {
				p, q := GreaterThan(in[0], in[1]), LessThan(in[0], ScalarZero(in[0].Graph(), dtypes.Float32))
				return []*Node{LogicalAnd(p, q), LogicalXor(p, q)}
			}, []any{x, y}},
			pcase{"Where/" + tag, func(in []*Node) []*Node {
				return []*Node{Where(GreaterThan(in[0], in[1]), in[0], in[1]),
					Where(LessThan(in[0], in[1]), in[0], ScalarZero(in[0].Graph(), dtypes.Float32))}
			}, []any{x, y}},
			pcase{"Clamp/" + tag, func(in []*Node) []*Node {
				g := in[0].Graph()
				return []*Node{Clamp(Scalar(g, dtypes.Float32, -1), in[0], Scalar(g, dtypes.Float32, 1))}
			}, []any{x}},
			pcase{"Convert/" + tag, func(in []*Node) []*Node {
				h := ConvertDType(in[0], dtypes.Float16)
				d := ConvertDType(Square(in[0]), dtypes.Float64)
				return []*Node{h, ConvertDType(h, dtypes.Float32), ConvertDType(in[0], dtypes.BFloat16),
					d, ConvertDType(Mul(d, d), dtypes.Float32), ConvertDType(in[1], dtypes.Float32),
					ConvertDType(in[0], dtypes.Int32)}
			}, []any{x, ints}},
			pcase{"Concat/" + tag, func(in []*Node) []*Node {
				return []*Node{Concatenate([]*Node{in[0], in[1]}, 1), Concatenate([]*Node{in[0], in[1]}, 0),
					Stack([]*Node{in[0], in[1]}, 2)}
			}, []any{x, y}},
			pcase{"Movement/" + tag, func(in []*Node) []*Node {
				x := in[0]
				return []*Node{TransposeAllAxes(x, 1, 0), Slice(x, AxisRange(), AxisRange(1, C).Stride(2)),
					Slice(x, AxisRange(R/2), AxisRange(0, C-1)), BroadcastToDims(in[1], R, C),
					Reshape(Slice(Reshape(x, R, C, 1), AxisRange(), AxisRange(), AxisRange()), R*C)}
			}, []any{x, row}},
			pcase{"Reduce/" + tag, func(in []*Node) []*Node {
				d := ConvertDType(Square(in[0]), dtypes.Float64)
				return []*Node{ReduceAndKeep(d, ReduceSum, 1), ReduceMax(in[0], 1), ReduceSum(in[0], 0)}
			}, []any{x}},
		)
	}
	// Broadcast of both operands over different axes.
	a3 := randF32(r, -2, 2, 33, 1, 65)
	b3 := randF32(r, -2, 2, 1, 31, 65)
	cases = append(cases, pcase{"Mul/3d", two(Mul), []any{a3, b3}}, pcase{"Sub/3d", two(Sub), []any{b3, a3}})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want [][]byte
			for k, be := range bes {
				outs := runGraph(t, be, c.fn, c.inputs...)
				for i, o := range outs {
					got := tensorBytes(o)
					if k == 0 {
						want = append(want, got)
						continue
					}
					if k == len(bes)-1 && o.DType() == dtypes.BFloat16 {
						continue // simplego truncates to bfloat16; we round to nearest even as ggml
					}
					if !bytes.Equal(got, want[i]) {
						t.Errorf("%s output #%d differs from the single-threaded run", be.Description(), i)
					}
				}
			}
		})
	}
}

// BenchmarkElementwise times single large ops (the prefill shapes of
// llama-1b: [T, 8192] feed-forward, [T, 2048] residual) serial and split.
// Compare t1 with t2 at each size to place the parallel thresholds.
func BenchmarkElementwise(b *testing.B) {
	type op struct {
		name string
		fn   func(f backends.Function, x, y backends.Value) (backends.Value, error)
	}
	ops := []op{
		{"Logistic", func(f backends.Function, x, _ backends.Value) (backends.Value, error) { return f.Logistic(x) }},
		{"Mul", func(f backends.Function, x, y backends.Value) (backends.Value, error) { return f.Mul(x, y) }},
		{"F32toF16", func(f backends.Function, x, _ backends.Value) (backends.Value, error) {
			return f.ConvertDType(x, dtypes.Float16)
		}},
		{"F32toF64", func(f backends.Function, x, _ backends.Value) (backends.Value, error) {
			return f.ConvertDType(x, dtypes.Float64)
		}},
		{"Stack2", func(f backends.Function, x, y backends.Value) (backends.Value, error) {
			return f.Concatenate(2, x, y)
		}},
	}
	for _, o := range ops {
		for _, size := range []int{2048, 8192, 16384, 32768, 65536, 128 * 2048, 128 * 8192} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/n=%d/t%d", o.name, size, threads), func(b *testing.B) {
					be, err := backend.NewBackend(fmt.Sprintf("threads=%d", threads))
					if err != nil {
						b.Fatal(err)
					}
					defer be.Finalize()
					s := shapes.Make(dtypes.Float32, size/256, 256, 1)
					bl := be.Builder("ew")
					f := bl.Main()
					x, _ := f.Parameter("x", s, nil)
					y, _ := f.Parameter("y", s, nil)
					z, err := o.fn(f, x, y)
					if err != nil {
						b.Fatal(err)
					}
					if err := f.Return([]backends.Value{z}, nil); err != nil {
						b.Fatal(err)
					}
					exe, err := bl.Compile()
					if err != nil {
						b.Fatal(err)
					}
					r := rand.New(rand.NewPCG(1, 1))
					v := make([]float32, size)
					for i := range v {
						v[i] = 16*r.Float32() - 8
					}
					xb, _ := be.BufferFromFlatData(0, v, s)
					yb, _ := be.BufferFromFlatData(0, v, s)
					inputs := []backends.Buffer{xb, yb}
					b.ReportAllocs()
					b.SetBytes(int64(4 * size))
					b.ResetTimer()
					for range b.N {
						outs, err := exe.Execute(inputs, nil, 0)
						if err != nil {
							b.Fatal(err)
						}
						_ = be.BufferFinalize(outs[0])
					}
				})
			}
		}
	}
}
