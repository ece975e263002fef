package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestRows16Multi checks the multi-row Rows16 kernels: a matmul of m = 2..17
// activation rows on repacked q4_0/q8_0 weights must give, row by row, bit
// for bit what m one-row matmuls give (the one-row decode kernel, which
// TestRows16Decode ties to gemm16Go), on 1 and 2 threads, with a k of one
// block and a k of many.
func TestRows16Multi(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0} {
		if _, _, ok := r16MultiKernels(wt); !ok {
			t.Skipf("%s: no multi-row kernels on this CPU", wt)
		}
		for _, k := range []int{32, 2048} {
			const n = 48
			w := randBlocks(rng, n*k/32, wt.TypeSize(), 0)
			rep := make([]byte, len(w))
			if err := Repack(rep, w, wt, n, k); err != nil {
				t.Fatal(err)
			}
			const maxM = 17
			x := make([]float32, maxM*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			for _, th := range []int{1, 2} {
				p := NewPool(th)
				want := make([]float32, maxM*n)
				for c := 0; c < maxM; c++ {
					if err := p.MatMulLayout(wt, LayoutRows16, rep, n, k, x[c*k:(c+1)*k], 1, want[c*n:(c+1)*n]); err != nil {
						t.Fatal(err)
					}
				}
				for m := 2; m <= maxM; m++ {
					got := make([]float32, m*n)
					if err := p.MatMulLayout(wt, LayoutRows16, rep, n, k, x[:m*k], m, got); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s k=%d m=%d threads=%d: out[%d] = %g, one-row %g", wt, k, m, th, i, got[i], want[i])
						}
					}
				}
				p.Close()
			}
		}
	}
}

// BenchmarkRows16Multi times one 2048×2048 q4_0 Rows16 matmul for m rows on
// one thread: with the multi-row kernels m ≤ 16 rows read the weights once.
//
//	go test ./kernels -run '^$' -bench Rows16Multi
func BenchmarkRows16Multi(b *testing.B) {
	rng := rand.New(rand.NewPCG(77, 78))
	const n, k = 2048, 2048
	wt := weights.TypeQ4_0
	w := randBlocks(rng, n*k/32, wt.TypeSize(), 0)
	rep := make([]byte, len(w))
	if err := Repack(rep, w, wt, n, k); err != nil {
		b.Fatal(err)
	}
	p := NewPool(1)
	defer p.Close()
	for _, m := range []int{1, 2, 4, 8, 16} {
		x := make([]float32, m*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		out := make([]float32, m*n)
		b.Run(fmt.Sprintf("m=%d", m), func(b *testing.B) {
			for range b.N {
				if err := p.MatMulLayout(wt, LayoutRows16, rep, n, k, x, m, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
