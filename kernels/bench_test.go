package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"dayi/weights"
)

// Benchmarks report GB/s of weight bytes read (b.SetBytes = weight matrix
// size) for llama-1b shapes. Run e.g.
//
//	go test ./kernels -run '^$' -bench 'MatMul' -benchtime 20x

var benchShapes = []struct{ n, k int }{{2048, 2048}, {8192, 2048}, {2048, 8192}}

var benchTypes = []struct {
	t     weights.Type
	dOffs []int
}{
	{weights.TypeQ4_0, []int{0}}, {weights.TypeQ8_0, []int{0}}, {weights.TypeQ5_0, []int{0}},
	{weights.TypeQ4_K, []int{0, 2}}, {weights.TypeQ5_K, []int{0, 2}}, {weights.TypeQ6_K, []int{208}}, {weights.TypeF16, nil},
}

func benchWeights(t weights.Type, dOffs []int, n, k int) []byte {
	rng := rand.New(rand.NewPCG(1, uint64(t)))
	rs, _ := t.RowSize(int64(k))
	if t == weights.TypeF16 {
		w := make([]byte, int64(n)*rs)
		for i := 0; i < len(w); i += 2 {
			v := weights.FP32ToFP16(float32(rng.NormFloat64() * 0.05))
			w[i], w[i+1] = byte(v), byte(v>>8)
		}
		return w
	}
	return randBlocks(rng, n*k/t.BlockSize(), t.TypeSize(), dOffs...)
}

func BenchmarkMatMul(b *testing.B) {
	for _, bt := range benchTypes {
		for _, s := range benchShapes {
			w := benchWeights(bt.t, bt.dOffs, s.n, s.k)
			for _, m := range []int{1, 16} {
				x := benchActs(m * s.k)
				out := make([]float32, m*s.n)
				for _, th := range []int{1, 2} {
					name := fmt.Sprintf("%s/%dx%d/m%d/t%d", bt.t, s.n, s.k, m, th)
					b.Run(name, func(b *testing.B) {
						p := NewPool(th)
						defer p.Close()
						b.SetBytes(int64(len(w)))
						b.ReportAllocs()
						for b.Loop() {
							if err := p.MatMul(bt.t, w, s.n, s.k, x, m, out); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkDot compares the pure-Go twins with the selected kernels, one
// thread, decode shape 2048x2048.
func BenchmarkDot(b *testing.B) {
	const n, k = 2048, 2048
	rng := rand.New(rand.NewPCG(5, 6))
	xf := make([]float32, k)
	for i := range xf {
		xf[i] = float32(rng.NormFloat64())
	}
	x8 := make([]byte, actRowBytes(actQ8_0, k))
	quantizeQ8_0(x8, xf)
	xk := make([]byte, actRowBytes(actQ8_K, k))
	quantizeQ8_K(xk, xf)
	var kb kblock
	cases := []struct {
		name string
		t    weights.Type
		offs []int
		x    []byte
		f    func(w, x []byte, nb int) float32
	}{
		{"q4_0/go", weights.TypeQ4_0, []int{0}, x8, dotQ4_0},
		{"q4_0/sel", weights.TypeQ4_0, []int{0}, x8, kq4_0},
		{"q8_0/go", weights.TypeQ8_0, []int{0}, x8, dotQ8_0},
		{"q8_0/sel", weights.TypeQ8_0, []int{0}, x8, kq8_0},
		{"q5_0/go", weights.TypeQ5_0, []int{0}, x8, dotQ5_0},
		{"q5_0/sel", weights.TypeQ5_0, []int{0}, x8, kq5_0},
		{"q4_K/go", weights.TypeQ4_K, []int{0, 2}, xk, func(w, x []byte, nb int) float32 { return dotK(weights.TypeQ4_K, w, x, nb, &kb) }},
		{"q4_K/sel", weights.TypeQ4_K, []int{0, 2}, xk, func(w, x []byte, nb int) float32 { return kq4_K(w, x, nb, &kb) }},
		{"q6_K/go", weights.TypeQ6_K, []int{208}, xk, func(w, x []byte, nb int) float32 { return dotK(weights.TypeQ6_K, w, x, nb, &kb) }},
		{"q6_K/sel", weights.TypeQ6_K, []int{208}, xk, func(w, x []byte, nb int) float32 { return kq6_K(w, x, nb, &kb) }},
	}
	for _, c := range cases {
		w := benchWeights(c.t, c.offs, n, k)
		rs := len(w) / n
		nb := k / c.t.BlockSize()
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			var sink float32
			for b.Loop() {
				for j := 0; j < n; j++ {
					sink += c.f(w[j*rs:(j+1)*rs], c.x, nb)
				}
			}
			_ = sink
		})
	}
}

// BenchmarkPacked alternates the packed kernels with the per-dot path on
// the same operands inside one loop and reports GB/s of weights for the
// fastest run of each and their speed ratio (the machine is shared: minima
// of alternating runs are the least disturbed numbers). Shape 2048x8192 (n x k), m = 1, 16 and 128.
func BenchmarkPacked(b *testing.B) {
	const n, k = 2048, 8192
	for _, bt := range benchTypes {
		if bt.t == weights.TypeQ5_0 {
			continue
		}
		w := benchWeights(bt.t, bt.dOffs, n, k)
		for _, m := range []int{1, 16, 48, 128} {
			x := benchActs(m * k)
			out := make([]float32, m*n)
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/m%d/t%d", bt.t, m, th), func(b *testing.B) {
					p := NewPool(th)
					defer p.Close()
					tNew, tOld := time.Duration(1<<62), time.Duration(1<<62)
					for b.Loop() {
						for _, old := range []bool{false, true} {
							p.perDot = old
							t0 := time.Now()
							if err := p.MatMul(bt.t, w, n, k, x, m, out); err != nil {
								b.Fatal(err)
							}
							if old {
								tOld = min(tOld, time.Since(t0))
							} else {
								tNew = min(tNew, time.Since(t0))
							}
						}
					}
					gb := func(d time.Duration) float64 { return float64(len(w)) / d.Seconds() / 1e9 }
					b.ReportMetric(gb(tNew), "GB/s-new")
					b.ReportMetric(gb(tOld), "GB/s-old")
					b.ReportMetric(tOld.Seconds()/tNew.Seconds(), "speedup")
				})
			}
		}
	}
}

// BenchmarkQ5_K compares q5_K matmuls (no direct kernel) through the decoded
// super-block kernel and through dotK, alternating in one loop.
func BenchmarkQ5_K(b *testing.B) {
	const n, k = 2048, 2048
	w := benchWeights(weights.TypeQ5_K, []int{0, 2}, n, k)
	for _, m := range []int{1, 16} {
		x := benchActs(m * k)
		out := make([]float32, m*n)
		b.Run(fmt.Sprintf("m%d", m), func(b *testing.B) {
			p := NewPool(1)
			defer p.Close()
			var tNew, tOld time.Duration
			for b.Loop() {
				for _, old := range []bool{false, true} {
					p.perDot = old
					t0 := time.Now()
					if err := p.MatMul(weights.TypeQ5_K, w, n, k, x, m, out); err != nil {
						b.Fatal(err)
					}
					if old {
						tOld += time.Since(t0)
					} else {
						tNew += time.Since(t0)
					}
				}
			}
			gb := func(d time.Duration) float64 { return float64(len(w)) * float64(b.N) / d.Seconds() / 1e9 }
			b.ReportMetric(gb(tNew), "GB/s-new")
			b.ReportMetric(gb(tOld), "GB/s-old")
			b.ReportMetric(tOld.Seconds()/tNew.Seconds(), "speedup")
		})
	}
}

// qx1Shapes are the q4_1/q5_1 matrices of the Q5_K_M files whose widths are
// not multiples of 256 (llama-quantize falls back to q5_1 there):
// qwen2-0.5b (896 wide, FFN 4864) and gemma3-1b (1152 wide, FFN 6912).
var qx1Shapes = []struct{ n, k int }{{896, 896}, {4864, 896}, {896, 4864}, {1152, 1152}, {6912, 1152}, {1152, 6912}}

// BenchmarkMatMulQx1 times q4_1/q5_1 matmuls at decode (m = 1) and prompt
// (m = 128) batches through the plan's path ("new") and through the
// per-row dots every batch took before ("dots", the reference plan).
// Both compute the same bits (TestQx1Paths). Run e.g.
//
//	go test ./kernels -run '^$' -bench 'MatMulQx1/q5_1/896x4864' -benchtime 20x
func BenchmarkMatMulQx1(b *testing.B) {
	for _, typ := range []weights.Type{weights.TypeQ5_1, weights.TypeQ4_1} {
		for _, s := range qx1Shapes {
			w := benchWeights(typ, []int{0, 2}, s.n, s.k)
			for _, m := range []int{1, 128} {
				x := benchActs(m * s.k)
				out := make([]float32, m*s.n)
				for _, th := range []int{1, 2} {
					for _, old := range []bool{true, false} {
						path := "new"
						if old {
							path = "dots"
						}
						b.Run(fmt.Sprintf("%s/%dx%d/m%d/t%d/%s", typ, s.n, s.k, m, th, path), func(b *testing.B) {
							p := NewPool(th)
							defer p.Close()
							p.perDot = old
							b.SetBytes(int64(len(w)))
							b.ReportAllocs()
							for b.Loop() {
								if err := p.MatMul(typ, w, s.n, s.k, x, m, out); err != nil {
									b.Fatal(err)
								}
							}
						})
					}
				}
			}
		}
	}
}

// BenchmarkQx1Stream times q5_1 decode matmuls over 240 MB of gemma3-1b
// ffn_gate-shaped weights (6912×1152, 40 of them), more than the last-level
// cache holds, so the weights stream from memory as in a real decode step;
// BenchmarkMatMulQx1's single matrix stays in cache. It chose qx1Gemv's
// prefetch distances (kernels/internal/gen/qx1.go).
func BenchmarkQx1Stream(b *testing.B) {
	const n, k, layers = 6912, 1152, 40
	ws := make([][]byte, layers)
	for i := range ws {
		ws[i] = benchWeights(weights.TypeQ5_1, []int{0, 2}, n, k)
	}
	x := benchActs(k)
	out := make([]float32, n)
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("t%d", th), func(b *testing.B) {
			p := NewPool(th)
			defer p.Close()
			b.SetBytes(int64(layers * len(ws[0])))
			for b.Loop() {
				for _, w := range ws {
					if err := p.MatMul(weights.TypeQ5_1, w, n, k, x, 1, out); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// benchActs is n normal activations, the same for every benchmark.
func benchActs(n int) []float32 {
	x := make([]float32, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}
