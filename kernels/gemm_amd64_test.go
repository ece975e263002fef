package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestPackedTwins runs MatMul through the packed VNNI kernels (gemm and gemv
// tiles, leftover rows and columns) and checks every output against the
// pure-Go dot twin on the same quantized activations, bit for bit.
func TestPackedTwins(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI: packed kernels unused on this CPU")
	}
	cases := []struct {
		t    weights.Type
		twin func(w, x []byte, nb int) float32
	}{{weights.TypeQ4_0, dotQ4_0}, {weights.TypeQ8_0, dotQ8_0}, {weights.TypeQ5_0, dotQ5_0}}
	rng := rand.New(rand.NewPCG(31, 32))
	p := NewPool(2)
	defer p.Close()
	for _, c := range cases {
		if _, ok := packedKernels(c.t); !ok && c.t != weights.TypeQ5_0 {
			t.Fatalf("%s: no packed kernel", c.t)
		}
		for _, k := range []int{32, 96, 128, 2048} {
			for _, m := range []int{1, 2, 3, 4, 5, 6, 9, 16, 19} {
				const n = 37 + 16
				w := randBlocks(rng, n*k/32, c.t.TypeSize(), 0)
				if c.t == weights.TypeQ8_0 {
					for i := range w {
						if w[i] == 0x80 && i%34 >= 2 {
							w[i] = 0x81
						}
					}
				}
				x := make([]float32, m*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				out := make([]float32, m*n)
				if err := p.MatMul(c.t, w, n, k, x, m, out); err != nil {
					t.Fatal(err)
				}
				rs := len(w) / n
				nb := k / 32
				xq := make([]byte, nb*q8_0Size)
				// From gemm16MinRows rows on, full groups of 16 weight
				// rows take the block-sum order (gemm16.go).
				var dec, x40 []byte
				g16 := m >= gemm16MinRows
				if g16 {
					dec = make([]byte, nb*w16BlockSize)
					x40 = make([]byte, nb*x40BlockSize)
				}
				res := make([]float32, 16)
				for i := 0; i < m; i++ {
					quantizeQ8_0(xq, x[i*k:(i+1)*k])
					if g16 {
						_, bias, _ := gemm16Decoder(c.t)
						pack40(x40, xq, nb, bias)
					}
					for j := 0; j < n; j++ {
						want := c.twin(w[j*rs:(j+1)*rs], xq, nb)
						if g16 && j < n/16*16 {
							decode16(dec, w[j/16*16*rs:], rs, nb, c.t.TypeSize())
							gemm16Go(dec, x40, len(x40), nb, 1, res, 16)
							want = res[j%16]
						}
						if got := out[i*n+j]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("%s k=%d m=%d out[%d][%d] = %g, Go twin %g", c.t, k, m, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkPackedKernels times the bare packed kernels on 8192-element
// rows, in ns per weight block and activation row.
func BenchmarkPackedKernels(b *testing.B) {
	if !hasZVNNI {
		b.Skip("no AVX-512 VNNI")
	}
	const k, nb = 8192, 8192 / 32
	rng := rand.New(rand.NewPCG(1, 2))
	for _, t := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0} {
		gk, _ := packedKernels(t)
		w := randBlocks(rng, 4*nb, t.TypeSize(), 0)
		xp := make([]byte, 2*nb*xpBlockSize)
		rb := len(w) / 4
		b.Run(t.String()+"/gemm4x2", func(b *testing.B) {
			var res [16]float32
			for b.Loop() {
				gk.gemm2(&w[0], rb, &xp[0], nb*xpBlockSize, nb, &res)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(16*nb), "ns/block-row")
		})
		b.Run(t.String()+"/gemv4", func(b *testing.B) {
			var res [4]float32
			for b.Loop() {
				gk.gemv(&w[0], rb, &xp[0], nb, &res)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(4*nb), "ns/block-row")
		})
	}
}

// TestKPackedTwins runs k-quant MatMuls with m >= 4 through the decoded
// super-block kernel and checks every output against dotK, bit for bit.
func TestKPackedTwins(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI: packed kernels unused on this CPU")
	}
	cases := []struct {
		t     weights.Type
		dOffs []int
	}{
		{weights.TypeQ2_K, []int{80, 82}}, {weights.TypeQ3_K, []int{108}}, {weights.TypeQ4_K, []int{0, 2}},
		{weights.TypeQ5_K, []int{0, 2}}, {weights.TypeQ6_K, []int{208}},
	}
	rng := rand.New(rand.NewPCG(33, 34))
	p := NewPool(2)
	defer p.Close()
	var kb kblock
	for _, c := range cases {
		for _, k := range []int{256, 2048} {
			for _, m := range []int{1, 2, 4, 7, 26} {
				const n = 13 + 16
				w := randBlocks(rng, n*k/256, c.t.TypeSize(), c.dOffs...)
				x := make([]float32, m*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				out := make([]float32, m*n)
				if err := p.MatMul(c.t, w, n, k, x, m, out); err != nil {
					t.Fatal(err)
				}
				rs := len(w) / n
				nb := k / 256
				xq := make([]byte, nb*q8_KSize)
				// From k16MinRows rows on, q4_K/q6_K groups of 16 weight
				// rows take the block order of gemmk16.go.
				_, k16 := gemmK16Kernels(c.t)
				k16 = k16 && m >= k16MinRows
				var dec, xk []byte
				var res [16]float32
				if k16 {
					dec = make([]byte, nb*k16BlockSize)
					decodeK16(c.t, dec, w, rs, nb)
					xk = make([]byte, nb*k16X)
				}
				for i := 0; i < m; i++ {
					quantizeQ8_K(xq, x[i*k:(i+1)*k])
					if k16 {
						packK16(xk, xq, nb, c.t)
						gemmK16Go(c.t, dec, xk, len(xk), nb, 1, res[:], 16)
					}
					for j := 0; j < n; j++ {
						want := dotK(c.t, w[j*rs:(j+1)*rs], xq, k/256, &kb)
						if k16 && j < 16 {
							want = res[j]
						}
						if got := out[i*n+j]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("%s k=%d m=%d out[%d][%d] = %g, Go twin %g", c.t, k, m, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

// TestF32ZTwin checks the AVX-512 f32 dot against dotF32, bit for bit.
func TestF32ZTwin(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(35, 36))
	for _, k := range []int{1, 15, 16, 17, 32, 64, 172, 272, 2048} {
		for rep := 0; rep < 20; rep++ {
			w := make([]byte, 4*k)
			x := make([]float32, k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(float32(rng.NormFloat64())))
			}
			if got, want := dotF32Z(w, x, k), dotF32(w, x, k); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("k=%d: asm %g, Go %g", k, got, want)
			}
		}
	}
}

// TestF16ZTwins runs f16 MatMuls through the AVX-512 kernels (tinyBLAS
// order: 2x4 tiles, leftover rows and columns; vec_dot order: 4-row gemv,
// single dots, float64 tails) and checks every output against dotF16Tiny or
// dotF16, bit for bit.
func TestF16ZTwins(t *testing.T) {
	if !hasZ512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(37, 38))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{16, 40, 48, 64, 172, 2048} {
		for _, m := range []int{1, 2, 4, 9} {
			for _, n := range []int{23, 24} {
				w := make([]byte, 2*n*k)
				for i := 0; i < n*k; i++ {
					binary.LittleEndian.PutUint16(w[2*i:], weights.FP32ToFP16(float32(rng.NormFloat64()*0.1)))
				}
				x := make([]float32, m*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				out := make([]float32, m*n)
				if err := p.MatMul(weights.TypeF16, w, n, k, x, m, out); err != nil {
					t.Fatal(err)
				}
				twin := dotF16
				if f16TinyOrder(n, k, m) {
					twin = dotF16Tiny
				}
				x16 := make([]uint16, k)
				for i := 0; i < m; i++ {
					for j := range x16 {
						x16[j] = weights.FP32ToFP16(x[i*k+j])
					}
					for j := 0; j < n; j++ {
						want := twin(w[2*j*k:2*(j+1)*k], x16, k)
						if got := out[i*n+j]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("k=%d m=%d n=%d out[%d][%d] = %g, Go twin %g", k, m, n, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

// TestPackedKernels calls the packed kernels directly (gemm over 2 and 1
// row pairs, gemv) and checks every result against the Go twins, bit for
// bit; the weight and activation buffers end with the last block, so an
// over-read would fault.
func TestPackedKernels(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI: packed kernels unused on this CPU")
	}
	cases := []struct {
		t    weights.Type
		twin func(w, x []byte, nb int) float32
	}{{weights.TypeQ4_0, dotQ4_0}, {weights.TypeQ8_0, dotQ8_0}}
	rng := rand.New(rand.NewPCG(39, 40))
	for _, c := range cases {
		gk, _ := packedKernels(c.t)
		for _, nb := range []int{1, 2, 3, 5, 64} {
			w := randBlocks(rng, 4*nb, c.t.TypeSize(), 0)
			if c.t == weights.TypeQ8_0 {
				for i := range w {
					if w[i] == 0x80 && i%34 >= 2 {
						w[i] = 0x81
					}
				}
			}
			rb := len(w) / 4
			ps := nb * xpBlockSize
			xq := make([][]byte, 4)
			xp := make([]byte, 2*ps)
			for i := range xq {
				xq[i] = randActQ8_0(rng, nb)
				packQ8(xp[i/2*ps:(i/2+1)*ps], i%2, xq[i], nb, gk.bias)
			}
			var res [16]float32
			for _, np := range []int{2, 1} {
				g := gk.gemm2
				if np == 1 {
					g = gk.gemm1
				}
				x := xp[(2-np)*ps:] // the buffer's last pair(s)
				g(&w[0], rb, &x[0], ps, nb, &res)
				for r := 0; r < 4; r++ {
					for h := 0; h < 2*np; h++ {
						want := c.twin(w[r*rb:(r+1)*rb], xq[2*(2-np)+h], nb)
						if math.Float32bits(res[4*r+h]) != math.Float32bits(want) {
							t.Fatalf("%s gemm x%d nb=%d w%d x%d: %g, Go %g", c.t, np, nb, r, h, res[4*r+h], want)
						}
					}
				}
			}
			self := make([]byte, ps)
			packQ8(self, 0, xq[3], nb, gk.bias)
			packQ8(self, 1, xq[3], nb, gk.bias)
			var r4 [4]float32
			gk.gemv(&w[0], rb, &self[0], nb, &r4)
			for r := 0; r < 4; r++ {
				if want := c.twin(w[r*rb:(r+1)*rb], xq[3], nb); math.Float32bits(r4[r]) != math.Float32bits(want) {
					t.Fatalf("%s gemv nb=%d w%d: %g, Go %g", c.t, nb, r, r4[r], want)
				}
			}
		}
	}
}
