package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// gemm16Case builds n weight rows of type t (k wide), m activation rows
// quantized to q8_0, and the packed activations for the gemm16 kernels.
func gemm16Case(rng *rand.Rand, t weights.Type, n, k, m int) (w, xq, x40 []byte, c int32) {
	w = randBlocks(rng, n*k/32, t.TypeSize(), 0)
	c = r16Bias(t) // gemm16Decoder's c, which it gives only where AVX-512 VNNI is
	nb := k / 32
	xq = make([]byte, m*nb*q8_0Size)
	x40 = make([]byte, m*nb*x40BlockSize)
	x := make([]float32, k)
	for i := 0; i < m; i++ {
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		quantizeQ8_0(xq[i*nb*q8_0Size:], x)
		pack40(x40[i*nb*x40BlockSize:], xq[i*nb*q8_0Size:], nb, c)
	}
	return w, xq, x40, c
}

// TestGemm16Twins checks the decode and every column count of the AVX-512
// kernels against the pure-Go twins, bit for bit.
func TestGemm16Twins(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(61, 62))
	for _, tc := range []struct {
		t   weights.Type
		dec func(w *byte, wstride, nb int, dst *byte)
	}{{weights.TypeQ4_0, dec16Q4_0}, {weights.TypeQ8_0, dec16Q8_0}, {weights.TypeQ5_0, dec16Q5_0}} {
		for _, k := range []int{32, 64, 2048} {
			nb := k / 32
			w, _, x40, _ := gemm16Case(rng, tc.t, 16, k, 6)
			rs := nb * tc.t.TypeSize()
			want := make([]byte, nb*w16BlockSize)
			decode16(want, w, rs, nb, tc.t.TypeSize())
			got := make([]byte, nb*w16BlockSize)
			tc.dec(&w[0], rs, nb, &got[0])
			if !bytes.Equal(got, want) {
				t.Fatalf("%s k=%d: decoded group differs from decode16", tc.t, k)
			}
			xs := nb * x40BlockSize
			for ncols := 1; ncols <= 6; ncols++ {
				const ostride = 21
				wantOut := make([]float32, ncols*ostride)
				gemm16Go(want, x40, xs, nb, ncols, wantOut, ostride)
				gotOut := make([]float32, ncols*ostride)
				gemm16Kernels[ncols-1](&got[0], &x40[0], xs, nb, &gotOut[0], ostride)
				for i := range wantOut {
					if math.Float32bits(gotOut[i]) != math.Float32bits(wantOut[i]) {
						t.Fatalf("%s k=%d cols=%d: out[%d] = %g, twin %g", tc.t, k, ncols, i, gotOut[i], wantOut[i])
					}
				}
			}
		}
	}
}

// TestGemm16AgainstDot bounds the difference between the block-sum order
// (gemm16Go) and ggml's vec_dot order (dotQ4_0/dotQ8_0) on the same
// quantized activations: both are sums of the same exact block products
// with float32 rounding, so they agree to a few ulps of the magnitudes
// summed.
func TestGemm16AgainstDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for _, tc := range []struct {
		t   weights.Type
		dot func(w, x []byte, nb int) float32
	}{{weights.TypeQ4_0, dotQ4_0}, {weights.TypeQ8_0, dotQ8_0}, {weights.TypeQ5_0, dotQ5_0}} {
		const k, m = 4096, 3
		nb := k / 32
		w, xq, x40, _ := gemm16Case(rng, tc.t, 16, k, m)
		rs := nb * tc.t.TypeSize()
		dec := make([]byte, nb*w16BlockSize)
		decode16(dec, w, rs, nb, tc.t.TypeSize())
		out := make([]float32, m*16)
		gemm16Go(dec, x40, nb*x40BlockSize, nb, m, out, 16)
		for i := 0; i < m; i++ {
			for r := 0; r < 16; r++ {
				want := tc.dot(w[r*rs:(r+1)*rs], xq[i*nb*q8_0Size:], nb)
				// Scale: the sum of |block contributions| (bounded by the
				// largest block product times nb).
				if d := math.Abs(float64(out[i*16+r] - want)); d > 1e-5*math.Sqrt(float64(nb))*math.Max(1, math.Abs(float64(want))) {
					t.Errorf("%s col %d row %d: block order %g, vec_dot %g", tc.t, i, r, out[i*16+r], want)
				}
			}
		}
	}
}

// BenchmarkGemm16 times the 6-column kernel on a decoded 16-row group of
// k = 2048 (in L1), in GMAC/s, and the q4_0/q8_0 decodes.
func BenchmarkGemm16(b *testing.B) {
	if !hasZVNNI {
		b.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(65, 66))
	const k = 2048
	nb := k / 32
	w, _, x40, _ := gemm16Case(rng, weights.TypeQ4_0, 16, k, 6)
	dec := make([]byte, nb*w16BlockSize)
	rs := nb * 18
	out := make([]float32, 6*16)
	b.Run("dec16Q4_0", func(b *testing.B) {
		b.SetBytes(int64(len(w)))
		for b.Loop() {
			dec16Q4_0(&w[0], rs, nb, &dec[0])
		}
	})
	w8, _, _, _ := gemm16Case(rng, weights.TypeQ8_0, 16, k, 1)
	b.Run("dec16Q8_0", func(b *testing.B) {
		b.SetBytes(int64(len(w8)))
		for b.Loop() {
			dec16Q8_0(&w8[0], nb*q8_0Size, nb, &dec[0])
		}
	})
	for _, c := range []int{1, 4, 6} {
		b.Run(fmt.Sprintf("x%d", c), func(b *testing.B) {
			for b.Loop() {
				gemm16Kernels[c-1](&dec[0], &x40[0], nb*x40BlockSize, nb, &out[0], 16)
			}
			b.ReportMetric(float64(16*k*c)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// TestPack40 checks pack40 (the AVX2 kernel here) against pack40Go bit for
// bit: random quants with the extremes −128 and 127 planted, every f16
// scale class but NaN (zero, subnormal, normal, infinity; the quantizers
// make no NaN), biases 0, 8, 16, 128 and one that makes −c·Σq wrap.
func TestPack40(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	scales := []uint16{0, 0x8000, 0x0001, 0x83ff, 0x3c00, 0xbc00, 0x7bff, 0x7c00, 0xfc00}
	for _, c := range []int32{0, 8, 16, 128, 1 << 30} {
		for nb := 1; nb <= 40; nb++ {
			x := make([]byte, nb*q8_0Size)
			for i := range x {
				x[i] = byte(rng.Uint32())
			}
			for b := 0; b < nb; b++ {
				blk := x[b*q8_0Size:]
				var d uint16
				if b < len(scales) {
					d = scales[b]
				} else {
					d = uint16(rng.Uint32()) &^ 0x7c00 // finite
				}
				blk[0], blk[1] = byte(d), byte(d>>8)
				if b == 1 {
					for j := 2; j < q8_0Size; j++ {
						blk[j] = 0x80 // -128 everywhere
					}
				}
				if b == 2 {
					for j := 2; j < q8_0Size; j++ {
						blk[j] = 127
					}
				}
			}
			got, want := make([]byte, nb*x40BlockSize), make([]byte, nb*x40BlockSize)
			pack40(got, x, nb, c)
			pack40Go(want, x, nb, c)
			if !bytes.Equal(got, want) {
				t.Fatalf("c=%d nb=%d: pack40 differs from its twin", c, nb)
			}
		}
	}
}

// BenchmarkPack40 packs one activation row of k = 896 (qwen2-0.5b's width).
func BenchmarkPack40(b *testing.B) {
	const nb = 896 / 32
	rng := rand.New(rand.NewPCG(65, 66))
	x := randBlocks(rng, nb, q8_0Size, 0)
	dst := make([]byte, nb*x40BlockSize)
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			pack40Go(dst, x, nb, 128)
		}
	})
	b.Run("asm", func(b *testing.B) {
		for b.Loop() {
			pack40(dst, x, nb, 128)
		}
	})
}
