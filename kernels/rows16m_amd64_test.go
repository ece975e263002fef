package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"dayi/weights"
)

// TestRows16Multi checks the multi-row Rows16 kernels: a matmul of m = 2..17
// (q4_K: 2..16) activation rows on repacked q4_0/q8_0/q4_K weights must give, row by row, bit
// for bit what m one-row matmuls give (the one-row decode kernel, which
// TestRows16Decode ties to gemm16Go), on 1 and 2 threads, with a k of one
// block and a k of many.
func TestRows16Multi(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0, weights.TypeQ4_K} {
		if _, _, ok := r16MultiKernels(wt); !ok {
			t.Skipf("%s: no multi-row kernels on this CPU", wt)
		}
		for _, k := range []int{wt.BlockSize(), 2048} {
			const n = 48
			dOffs, maxM := []int{0}, 17 // q4_0/q8_0: m=17 takes gemm16, same order
			if wt == weights.TypeQ4_K {
				// d, dmin; gemmk16 (m > r16kMaxGemvmRows) folds more often.
				dOffs, maxM = []int{0, 2}, r16kMaxGemvmRows
			}
			w := randBlocks(rng, n*k/wt.BlockSize(), wt.TypeSize(), dOffs...)
			rep := make([]byte, len(w))
			if err := Repack(rep, w, wt, n, k); err != nil {
				t.Fatal(err)
			}
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

// BenchmarkRows16Multi times one 2048×2048 q4_0 and q4_K Rows16 matmul for
// m rows on one thread: with the multi-row kernels m ≤ 16 rows read the
// weights once. $DAYI_R16_GEMM=1 runs the decode+gemm path instead (the
// comparison that sets r16MaxGemvmRows and r16kMaxGemvmRows).
//
//	go test ./kernels -run '^$' -bench Rows16Multi
func BenchmarkRows16Multi(b *testing.B) {
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0, weights.TypeQ4_K} {
		b.Run(wt.String(), func(b *testing.B) { benchRows16Multi(b, wt) })
	}
}

func benchRows16Multi(b *testing.B, wt weights.Type) {
	rng := rand.New(rand.NewPCG(77, 78))
	const n, k = 2048, 2048
	w := randBlocks(rng, n*k/wt.BlockSize(), wt.TypeSize(), 0, 2)
	rep := make([]byte, len(w))
	if err := Repack(rep, w, wt, n, k); err != nil {
		b.Fatal(err)
	}
	pl, err := NewPlan(wt, LayoutRows16, n, k)
	if err != nil {
		b.Fatal(err)
	}
	if os.Getenv("DAYI_R16_GEMM") == "1" && pl.np > 2 {
		// Drop rows16(k)-gemvm: batches from 2 rows take the decode+gemm path.
		pl.paths[0].minRows = 2
		pl.paths[1] = pl.paths[2]
		pl.np--
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
				if err := p.MatMulPlan(pl, rep, x, m, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
