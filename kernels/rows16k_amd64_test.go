package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestRows16KDecode checks that repacked q4_K/q5_K/q6_K groups decode (Go
// twin and assembly) to exactly the k16 layout that decodeK16 makes of the
// same rows in GGUF layout, and that the decode kernels equal their Go twin
// bit for bit and gemmK16Go (prefill) bit for bit for q5_K and q6_K, within
// float rounding for q4_K (its decode folds once per super-block as
// llama.cpp's repacked q4_K GEMV does, prefill every 64 values as its GEMM).
func TestRows16KDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	for _, wt := range []weights.Type{weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K} {
		for _, k := range []int{256, 512, 2048} {
			nb := k / 256
			rb := nb * wt.TypeSize()
			const n = 32
			var w []byte
			for g := 0; g < n/r16Rows; g++ {
				wg, _, _ := gemmK16Case(rng, wt, k, 0)
				w = append(w, wg...)
			}
			_, _, xk := gemmK16Case(rng, wt, k, 1)
			rep := make([]byte, len(w))
			if err := Repack(rep, w, wt, n, k); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(rep, w) {
				t.Fatalf("%s k=%d: repack left the bytes as they were", wt, k)
			}
			goGemv, goDec := r16kGoKernels(wt)
			gemv, dec := r16kKernels(wt, true)
			gemvHW, _ := r16kKernels(wt, false)
			for g := 0; g < n/r16Rows; g++ {
				want := make([]byte, nb*k16BlockSize)
				decodeK16(wt, want, w[g*r16Rows*rb:], rb, nb)
				grp := rep[g*r16Rows*rb : (g+1)*r16Rows*rb]
				for name, d := range map[string]func(w *byte, wstride, nb int, dst *byte){"go": goDec, "kernel": dec} {
					got := make([]byte, nb*k16BlockSize)
					d(&grp[0], rb, nb, &got[0])
					if !bytes.Equal(got, want) {
						t.Fatalf("%s k=%d group %d: %s decode differs from decodeK16", wt, k, g, name)
					}
				}
				ref := make([]float32, r16Rows)
				gemmK16Go(wt, want, xk, nb*k16X, nb, 1, ref, r16Rows)
				twin := make([]float32, r16Rows)
				goGemv(grp, xk, nb, twin)
				got := make([]float32, r16Rows)
				gemv(grp, xk, nb, got)
				hw := make([]float32, r16Rows)
				gemvHW(grp, xk, nb, hw)
				for r := range got {
					if math.Float32bits(got[r]) != math.Float32bits(twin[r]) {
						t.Fatalf("%s k=%d group %d row %d: gemv %g, Go twin %g", wt, k, g, r, got[r], twin[r])
					}
					if math.Float32bits(hw[r]) != math.Float32bits(twin[r]) {
						t.Fatalf("%s k=%d group %d row %d: gemv without prefetch %g, Go twin %g", wt, k, g, r, hw[r], twin[r])
					}
					if wt != weights.TypeQ4_K && math.Float32bits(twin[r]) != math.Float32bits(ref[r]) {
						t.Fatalf("%s k=%d group %d row %d: gemv %g, gemmK16Go %g", wt, k, g, r, twin[r], ref[r])
					}
					if d := math.Abs(float64(twin[r] - ref[r])); d > 1e-5*math.Max(1, math.Abs(float64(ref[r]))) {
						t.Fatalf("%s k=%d group %d row %d: gemv %g, gemmK16Go %g", wt, k, g, r, twin[r], ref[r])
					}
				}
			}
		}
	}
}

// TestMatMulRows16K runs whole q4_K/q5_K/q6_K matmuls on repacked weights
// against the same weights in GGUF layout: from k16MinRows activation rows
// both take the 16-row super-block order and agree bit for bit; below it
// the GGUF path uses ggml's vec_dot order, so they agree to float rounding
// — except q5_K, whose every path keeps vec_dot_q5_K_q8_K's order and
// agrees bit for bit at any batch.
func TestMatMulRows16K(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	for _, wt := range []weights.Type{weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K} {
		const n, k = 64, 1024
		var w []byte
		for g := 0; g < n/r16Rows; g++ {
			wg, _, _ := gemmK16Case(rng, wt, k, 0)
			w = append(w, wg...)
		}
		rep := make([]byte, len(w))
		if err := Repack(rep, w, wt, n, k); err != nil {
			t.Fatal(err)
		}
		for _, m := range []int{1, 2, 3, 4, 8, 24, 30} {
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			for _, th := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/m%d/t%d", wt, m, th), func(t *testing.T) {
					p := NewPool(th)
					defer p.Close()
					want := make([]float32, m*n)
					if err := p.MatMul(wt, w, n, k, x, m, want); err != nil {
						t.Fatal(err)
					}
					got := make([]float32, m*n)
					if err := p.MatMulLayout(wt, LayoutRows16, rep, n, k, x, m, got); err != nil {
						t.Fatal(err)
					}
					// Two float orders of the same exact super-block terms
					// differ by roundings of partial sums as large as the
					// terms, which an output can cancel to far less: the
					// bound scales with the largest output of its
					// activation row (same x, weights alike), not its own.
					rowMax := make([]float64, m)
					for i, v := range want {
						rowMax[i/n] = math.Max(rowMax[i/n], math.Abs(float64(v)))
					}
					for i := range got {
						if (m >= k16MinRows && hasZVNNI) || wt == weights.TypeQ5_K {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("out[%d] = %g, GGUF layout %g", i, got[i], want[i])
							}
						} else if d := math.Abs(float64(got[i] - want[i])); d > 2e-5*math.Max(1, rowMax[i/n]) {
							t.Fatalf("out[%d] = %g, GGUF layout %g (row's largest output %g)", i, got[i], want[i], rowMax[i/n])
						}
					}
				})
			}
		}
	}
	if err := Repack(make([]byte, 144*16), make([]byte, 144*16), weights.TypeQ4_K, 16, 128); err == nil {
		t.Error("q4_K repack with k=128: no error")
	}
	if CanRepack(weights.TypeQ6_K, 16, 384) {
		t.Error("CanRepack(q6_K, k=384) = true")
	}
}
