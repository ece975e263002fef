package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestRows16AVX2Twins checks every AVX2 Rows16 kernel (1..4 activation
// rows) against gemm16Go on the group as decR16Go decodes it, bit for bit,
// on random blocks (q8_0 quants include -128) and on the extremes where the
// int16 sums are largest: q4_0/q5_0 quant bits all set or all clear and
// q8_0 quants all -128 or 127 against activations quantized to all +127 or
// all -127.
func TestRows16AVX2Twins(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA")
	}
	rng := rand.New(rand.NewPCG(91, 92))
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0, weights.TypeQ5_0} {
		ks, ok := r16A2Kernels(wt, true)
		if !ok {
			t.Fatalf("%s: no AVX2 Rows16 kernels", wt)
		}
		// The last: the one-row kernel without software prefetch.
		hw, _ := r16A2Kernels(wt, false)
		kerns := append(ks[:], hw[0])
		c := r16Bias(wt)
		ts := wt.TypeSize()
		for _, k := range []int{32, 64, 96, 2048} {
			for _, extreme := range []bool{false, true} {
				const n, m, ostride = 32, 4, 21
				nb := k / 32
				w := randBlocks(rng, n*nb, ts, 0)
				x := make([]float32, m*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				if extreme {
					for b := 0; b < n*nb; b++ {
						v := byte(0xFF) // q4_0: u = 15; q8_0: q = -1; q5_0: u = 31
						if wt == weights.TypeQ8_0 {
							v = 0x80 // q = -128
							if b%3 == 1 {
								v = 0x7F
							}
						} else if b%3 == 1 {
							v = 0
						}
						for i := 2; i < ts; i++ {
							w[b*ts+i] = v
						}
					}
					for i := range x {
						x[i] = 1
						if (i/k+i/32)%2 == 1 {
							x[i] = -1
						}
					}
				}
				xq := make([]byte, m*nb*q8_0Size)
				x40 := make([]byte, m*nb*x40BlockSize)
				xs := nb * x40BlockSize
				for i := 0; i < m; i++ {
					quantizeQ8_0(xq[i*nb*q8_0Size:], x[i*k:(i+1)*k])
					pack40(x40[i*xs:], xq[i*nb*q8_0Size:], nb, c)
				}
				rep := make([]byte, len(w))
				if err := Repack(rep, w, wt, n, k); err != nil {
					t.Fatal(err)
				}
				rb := nb * ts
				_, goDec := r16GoKernels(wt)
				for g := 0; g < n/r16Rows; g++ {
					grp := rep[g*r16Rows*rb : (g+1)*r16Rows*rb]
					dec := make([]byte, nb*w16BlockSize)
					goDec(&grp[0], rb, nb, &dec[0])
					ref := make([]float32, m*r16Rows)
					gemm16Go(dec, x40, xs, nb, m, ref, r16Rows)
					for i, kern := range kerns {
						nc := min(i+1, m)
						if i == m {
							nc = 1
						}
						t.Run(fmt.Sprintf("%s/k%d/extreme=%v/g%d/kernel%d", wt, k, extreme, g, i), func(t *testing.T) {
							out := make([]float32, nc*ostride)
							for i := range out {
								out[i] = -7
							}
							kern(&grp[0], &x40[0], xs, nb, &out[0], ostride)
							for col := 0; col < nc; col++ {
								for r := 0; r < ostride; r++ {
									got := out[col*ostride+r]
									if r >= r16Rows {
										if got != -7 {
											t.Fatalf("column %d: wrote past its 16 outputs (index %d = %g)", col, r, got)
										}
										continue
									}
									if want := ref[col*r16Rows+r]; math.Float32bits(got) != math.Float32bits(want) {
										t.Fatalf("column %d row %d: kernel %g, gemm16Go %g", col, r, got, want)
									}
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestRows16KAVX2Twin checks the AVX2 q4_K and q5_K Rows16 kernels, one
// activation row (decode) against gemvR16KGo and two (prefill) against
// gemmK16Go, bit for bit: random super-blocks (every 6-bit scale
// and min pattern the packed bytes can hold, every high-bit pattern), and
// the extremes of their int16 sums, all quant bits set (u = 15, q5_K 31)
// against activations quantized to -128.
func TestRows16KAVX2Twin(t *testing.T) {
	if !hasR16KA2(weights.TypeQ4_K) {
		t.Skip("no AVX2+FMA")
	}
	rng := rand.New(rand.NewPCG(93, 94))
	for _, wt := range []weights.Type{weights.TypeQ4_K, weights.TypeQ5_K} {
		testRows16KAVX2(t, rng, wt)
	}
}

func testRows16KAVX2(t *testing.T, rng *rand.Rand, wt weights.Type) {
	// q4_K's one-row kernel in both prefetch forms (stream_amd64.go).
	kerns := []func(w, x *byte, nb int, out *float32){gemvR16A2Q4_K, gemvR16A2Q4_KHW}
	if wt == weights.TypeQ5_K {
		kerns = kerns[:1]
		kerns[0] = gemvR16A2Q5_K
	}
	ts := wt.TypeSize()
	for _, k := range []int{256, 512, 2048} {
		for _, extreme := range []bool{false, true} {
			nb := k / 256
			w, xq, xk := gemmK16Case(rng, wt, k, 1)
			if extreme {
				for b := 0; b < 16*nb; b++ {
					for i := 16; i < ts; i++ {
						w[b*ts+i] = 0xFF
					}
				}
				x := make([]float32, k)
				for i := range x {
					x[i] = -1
				}
				quantizeQ8_K(xq, x)
				packK16(xk, xq, nb, wt)
			}
			rep := make([]byte, len(w))
			if err := Repack(rep, w, wt, 16, k); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, r16Rows)
			gemvR16KGo(wt, rep, xk, nb, want)
			// The two-row kernel: this row and another, outputs ostride
			// apart, accm as a caller leaves it.
			// The two-row kernel keeps the GEMM order, gemmK16Go's on the
			// group decoded to the k16 layout (for q5_K the same as the
			// GEMV's; q4_K folds every 64 values instead of once).
			_, _, other := gemmK16Case(rng, wt, k, 1)
			xk2 := append(append([]byte(nil), xk...), other...)
			dec := make([]byte, nb*k16BlockSize)
			decR16KGo(wt, rep, nb, dec)
			gemm := make([]float32, 2*r16Rows)
			gemmK16Go(wt, dec, xk2, len(xk), nb, 2, gemm, r16Rows)
			want1, want2 := gemm[:r16Rows], gemm[r16Rows:]
			const ostride = 19
			out2 := make([]float32, 2*ostride)
			for i := range out2 {
				out2[i] = -7
			}
			accm := make([]float32, 2*r16Rows)
			for i := range accm {
				accm[i] = 99
			}
			r16kA2x2(wt)(&rep[0], &xk2[0], len(xk), nb, &out2[0], ostride, &accm[0])
			for c, ref := range [][]float32{want1, want2} {
				for r := 0; r < ostride; r++ {
					got := out2[c*ostride+r]
					if r >= r16Rows {
						if got != -7 {
							t.Fatalf("%s k=%d: two-row kernel wrote past row %d's outputs", wt, k, c)
						}
						continue
					}
					if math.Float32bits(got) != math.Float32bits(ref[r]) {
						t.Fatalf("%s k=%d extreme=%v: two-row kernel, row %d output %d: %g, gemmK16Go %g", wt, k, extreme, c, r, got, ref[r])
					}
				}
			}
			for i, kernel := range kerns {
				got := make([]float32, r16Rows+1)
				got[r16Rows] = -7
				kernel(&rep[0], &xk[0], nb, &got[0])
				if got[r16Rows] != -7 {
					t.Fatalf("%s k=%d kernel %d: wrote past the 16 outputs", wt, k, i)
				}
				for r := range want {
					if math.Float32bits(got[r]) != math.Float32bits(want[r]) {
						t.Fatalf("%s k=%d extreme=%v kernel %d row %d: %g, gemvR16KGo %g", wt, k, extreme, i, r, got[r], want[r])
					}
				}
			}
		}
	}
}
