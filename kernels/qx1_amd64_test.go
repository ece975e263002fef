package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"dayi/weights"
)

// TestQx1Asm checks the q4_1/q5_1 assembly (qx1_amd64.s: the AVX-512 set
// where this CPU has it, and the AVX2 set) against dotQx_1, and its
// decoders against the Go twins' bytes.
func TestQx1Asm(t *testing.T) {
	for _, typ := range []weights.Type{weights.TypeQ4_1, weights.TypeQ5_1} {
		five := typ == weights.TypeQ5_1
		if k, ok := qx1KernelsFor(typ); ok && hasZVNNI {
			ref := qx1GoKernels(five, false)
			checkQx1Kernels(t, fmt.Sprintf("avx512 %s", typ), five, &k, &ref)
		} else {
			t.Logf("%s: no AVX-512 kernels on this CPU", typ)
		}
		if hasAVX2 {
			k, ref := qx1Avx2Kernels(five), qx1GoKernels(five, true)
			checkQx1Kernels(t, fmt.Sprintf("avx2 %s", typ), five, &k, &ref)
		}
	}
}

// TestQx1Fallbacks computes q4_1/q5_1 matmuls as CPUs without this one's
// features would, turning the gates off: AVX2 only (the AVX2 gemm for
// batches, the fused AVX2 gemv for decode) and no SIMD (the pure-Go dots), and
// requires the bits of this CPU's plan.
func TestQx1Fallbacks(t *testing.T) {
	rng := rand.New(rand.NewPCG(105, 106))
	const n, k = 46, 320
	for _, typ := range []weights.Type{weights.TypeQ4_1, weights.TypeQ5_1} {
		five := typ == weights.TypeQ5_1
		w := randBlocks(rng, n*k/32, typ.TypeSize(), 0, 2)
		for _, m := range []int{1, 2, 3, 6} {
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			want := make([]float32, m*n)
			p := NewPool(2)
			if err := p.MatMul(typ, w, n, k, x, m, want); err != nil {
				t.Fatal(err)
			}
			p.Close()
			avx2 := wrapBlocks(q4_1DotAVX2, 20, q8_1Size)
			if five {
				avx2 = wrapBlocks(q5_1DotAVX2, 24, q8_1Size)
			}
			gemm := "qx1gemm"
			if m < qx1GemmMinRows2 {
				gemm = "qx1gemv"
			}
			for _, fb := range []struct {
				name string
				avx2 bool
				dot  func(w, x []byte, nb int) float32
				path string
			}{
				{"avx2", true, avx2, gemm},
				{"go", false, func(w, x []byte, nb int) float32 { return dotQx_1(w, x, nb, five) }, "dots"},
			} {
				if fb.avx2 && !hasAVX2 {
					continue
				}
				got := qx1WithFeatures(t, typ, fb.avx2, fb.dot, fb.path, w, n, k, x, m)
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("%s m=%d %s (%s): out[%d] = %g, this CPU's plan %g", typ, m, fb.name, fb.path, i, got[i], want[i])
				}
			}
		}
	}
}

// qx1WithFeatures runs one matmul with the AVX-512 gates off, AVX2 as
// avx2 says and typ's dot kernel replaced by dot, checking that the plan
// takes path, and restores all of them afterwards.
func qx1WithFeatures(t *testing.T, typ weights.Type, avx2 bool, dot func(w, x []byte, nb int) float32, path string,
	w []byte, n, k int, x []float32, m int) []float32 {
	t.Helper()
	zv, a2, k4, k5 := hasZVNNI, hasAVX2, kq4_1, kq5_1
	defer func() { hasZVNNI, hasAVX2, kq4_1, kq5_1 = zv, a2, k4, k5 }()
	hasZVNNI, hasAVX2 = false, avx2
	if typ == weights.TypeQ5_1 {
		kq5_1 = dot
	} else {
		kq4_1 = dot
	}
	pl, err := NewPlan(typ, LayoutGGUF, n, k)
	if err != nil {
		t.Fatal(err)
	}
	if name := pl.path(m).name; name != path {
		t.Fatalf("%s m=%d (avx2 %v): path %s, want %s", typ, m, avx2, name, path)
	}
	p := NewPool(2)
	defer p.Close()
	out := make([]float32, m*n)
	if err := p.MatMulPlan(pl, w, x, m, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkQx1Paths times two q5_1 paths on the same small batches,
// alternating inside one loop, for the gemm thresholds (the machine is
// shared: minima of alternating runs are the least disturbed numbers):
// AVX-512 gemv against gemm (qx1GemmMinRows), and the AVX2 dots against
// the AVX2 gemm (qx1GemmMinRows2). It reports the fastest run of each as
// GB/s of weights and the first path's time over the second's.
func BenchmarkQx1Paths(b *testing.B) {
	const n, k = 896, 4864
	w := benchWeights(weights.TypeQ5_1, []int{0, 2}, n, k)
	pl, err := NewPlan(weights.TypeQ5_1, LayoutGGUF, n, k)
	if err != nil {
		b.Fatal(err)
	}
	one := func(p path, qk qx1Kernels) *Plan {
		q := *pl
		q.np, q.paths[0], q.qx1 = 1, p, qk
		return &q
	}
	gemmPath := path{name: "qx1gemm", run: (*matmulTask).runQx1Gemm, pack: (*matmulTask).packQx1Row,
		x40Step: k / 32 * qx1ScBlock, x40Pad4: true, groups: true}
	dotsPath := path{name: "dots", run: (*matmulTask).runDots}
	for _, set := range []string{"avx512", "avx2"} {
		var a, c *Plan
		switch set {
		case "avx512":
			if pl.path(1).name != "qx1gemv" {
				continue
			}
			a, c = one(*pl.path(1), pl.qx1), one(gemmPath, pl.qx1)
		case "avx2":
			if !hasAVX2 {
				continue
			}
			a, c = one(dotsPath, qx1Kernels{}), one(gemmPath, qx1Avx2Kernels(true))
		}
		for _, m := range []int{1, 2, 3, 4, 5, 6, 8, 128} {
			if m == 128 && set == "avx512" {
				continue // BenchmarkMatMulQx1 has it
			}
			x := make([]float32, m*k)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			out := make([]float32, m*n)
			b.Run(fmt.Sprintf("%s/m%d", set, m), func(b *testing.B) {
				if set == "avx2" {
					k5 := kq5_1
					kq5_1 = wrapBlocks(q5_1DotAVX2, 24, q8_1Size)
					defer func() { kq5_1 = k5 }()
				}
				p := NewPool(1)
				defer p.Close()
				ta, tc := time.Duration(1<<62), time.Duration(1<<62)
				for b.Loop() {
					for _, q := range []*Plan{a, c} {
						t0 := time.Now()
						if err := p.MatMulPlan(q, w, x, m, out); err != nil {
							b.Fatal(err)
						}
						if d := time.Since(t0); q == a {
							ta = min(ta, d)
						} else {
							tc = min(tc, d)
						}
					}
				}
				gb := func(d time.Duration) float64 { return float64(len(w)) / d.Seconds() / 1e9 }
				b.ReportMetric(gb(ta), "GB/s-"+a.paths[0].name)
				b.ReportMetric(gb(tc), "GB/s-gemm")
				b.ReportMetric(ta.Seconds()/tc.Seconds(), a.paths[0].name+"/gemm")
			})
		}
	}
}
