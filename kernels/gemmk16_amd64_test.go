package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// gemmK16Case builds 16 weight rows of type t (k wide) and m activation
// rows quantized to q8_K and packed for the k16 kernels.
func gemmK16Case(rng *rand.Rand, t weights.Type, k, m int) (w, xq, xk []byte) {
	dOffs := []int{0, 2}
	if t == weights.TypeQ6_K {
		dOffs = []int{208}
	}
	nb := k / 256
	w = randBlocks(rng, 16*nb, t.TypeSize(), dOffs...)
	xq = make([]byte, m*nb*q8_KSize)
	xk = make([]byte, m*nb*k16X)
	x := make([]float32, k)
	for i := 0; i < m; i++ {
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		quantizeQ8_K(xq[i*nb*q8_KSize:(i+1)*nb*q8_KSize], x)
		packK16(xk[i*nb*k16X:], xq[i*nb*q8_KSize:], nb, t)
	}
	return w, xq, xk
}

// TestGemmK16Twins checks the transpose and every column count of the
// AVX-512 k-quant kernels against the pure-Go twins, bit for bit, and the
// block order against dotK within float rounding.
func TestGemmK16Twins(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	for _, typ := range []weights.Type{weights.TypeQ4_K, weights.TypeQ6_K, weights.TypeQ5_K} {
		ks, _ := gemmK16Kernels(typ)
		for _, k := range []int{256, 512, 2048} {
			nb := k / 256
			w, xq, xk := gemmK16Case(rng, typ, k, 5)
			rs := nb * typ.TypeSize()
			want := make([]byte, nb*k16BlockSize)
			decodeK16(typ, want, w, rs, nb)
			got := make([]byte, nb*k16BlockSize)
			decodeK16Asm(typ, got, w, rs, nb)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s k=%d: decodeK16Asm differs from decodeK16", typ, k)
			}
			xs := nb * k16X
			for nc := 1; nc <= 4; nc++ {
				const ostride = 19
				wantOut := make([]float32, nc*ostride)
				gemmK16Go(typ, want, xk, xs, nb, nc, wantOut, ostride)
				gotOut := make([]float32, nc*ostride)
				ks[nc-1](&want[0], &xk[0], xs, nb, &gotOut[0], ostride)
				for i := range wantOut {
					if math.Float32bits(gotOut[i]) != math.Float32bits(wantOut[i]) {
						t.Fatalf("%s k=%d cols=%d: out[%d] = %g, twin %g", typ, k, nc, i, gotOut[i], wantOut[i])
					}
				}
				if nc != 4 {
					continue
				}
				var kb kblock
				for c := 0; c < nc; c++ {
					for r := 0; r < 16; r++ {
						ref := dotK(typ, w[r*rs:(r+1)*rs], xq[c*nb*q8_KSize:], nb, &kb)
						if typ == weights.TypeQ5_K && math.Float32bits(wantOut[c*ostride+r]) != math.Float32bits(ref) {
							// q5_K keeps vec_dot's order: llama.cpp computes it so.
							t.Errorf("%s k=%d col %d row %d: %g, dotK %g (must be equal)", typ, k, c, r, wantOut[c*ostride+r], ref)
						}
						if d := math.Abs(float64(wantOut[c*ostride+r] - ref)); d > 2e-5*math.Max(1, math.Abs(float64(ref))) {
							t.Errorf("%s k=%d col %d row %d: block order %g, dotK %g", typ, k, c, r, wantOut[c*ostride+r], ref)
						}
					}
				}
			}
		}
	}
}

// BenchmarkGemmK16 times the 4-column kernels on a decoded group of
// k = 2048 and the decode, in GMAC/s.
func BenchmarkGemmK16(b *testing.B) {
	if !hasZVNNI {
		b.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(73, 74))
	const k = 2048
	nb := k / 256
	for _, typ := range []weights.Type{weights.TypeQ4_K, weights.TypeQ6_K, weights.TypeQ5_K} {
		w, _, xk := gemmK16Case(rng, typ, k, 4)
		rs := nb * typ.TypeSize()
		dec := make([]byte, nb*k16BlockSize)
		out := make([]float32, 4*16)
		ks, _ := gemmK16Kernels(typ)
		b.Run(fmt.Sprintf("%s/dec", typ), func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				decodeK16Asm(typ, dec, w, rs, nb)
			}
		})
		b.Run(fmt.Sprintf("%s/x4", typ), func(b *testing.B) {
			for b.Loop() {
				ks[3](&dec[0], &xk[0], nb*k16X, nb, &out[0], 16)
			}
			b.ReportMetric(float64(16*k*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// decodeK16Asm is decodeK16 in one assembly pass (decK16Q4_K, decK16Q6_K),
// with the bounds runK16 checks before it calls them.
func decodeK16Asm(t weights.Type, dst, w []byte, wstride, nb int) {
	_, _ = dst[nb*k16BlockSize-1], w[15*wstride+nb*t.TypeSize()-1]
	switch t {
	case weights.TypeQ4_K:
		decK16Q4_K(&w[0], wstride, nb, &dst[0])
	case weights.TypeQ6_K:
		decK16Q6_K(&w[0], wstride, nb, &dst[0])
	case weights.TypeQ5_K:
		decK16Q5_K(&w[0], wstride, nb, &dst[0])
	default:
		decodeK16(t, dst, w, wstride, nb)
	}
}
