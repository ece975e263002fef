package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

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
	}{{weights.TypeQ4_0, dotQ4_0}, {weights.TypeQ8_0, dotQ8_0}}
	rng := rand.New(rand.NewPCG(31, 32))
	p := NewPool(2)
	defer p.Close()
	for _, c := range cases {
		if _, ok := packedKernels(c.t); !ok {
			t.Fatalf("%s: no packed kernel", c.t)
		}
		for _, k := range []int{64, 128, 2048} {
			for _, m := range []int{1, 3, 4, 9} {
				const n = 37
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
				xq := make([]byte, k/32*q8_0Size)
				for i := 0; i < m; i++ {
					quantizeQ8_0(xq, x[i*k:(i+1)*k])
					for j := 0; j < n; j++ {
						want := c.twin(w[j*rs:(j+1)*rs], xq, k/32)
						if got := out[i*n+j]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("%s k=%d m=%d out[%d][%d] = %g, Go twin %g", c.t, k, m, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkPackedKernels times the bare packed kernel variants on one
// 8192-element row, alternating them inside the loop (shared machine), in
// ns per weight block pair and activation row.
func BenchmarkPackedKernels(b *testing.B) {
	if !hasZVNNI {
		b.Skip("no AVX-512 VNNI")
	}
	const k = 8192
	rng := rand.New(rand.NewPCG(1, 2))
	for _, t := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0} {
		vs := packedVariants(t)
		w := randBlocks(rng, 4*k/32, t.TypeSize(), 0)
		xp := make([]byte, 4*k/64*xpPairSize)
		rb := len(w) / 4
		for _, kind := range []string{"gemm4", "gemv4"} {
			b.Run(t.String()+"/"+kind, func(b *testing.B) {
				var res [4]float32
				el := make([]time.Duration, len(vs))
				for b.Loop() {
					for vi, v := range vs {
						t0 := time.Now()
						for r := 0; r < 20; r++ {
							if kind == "gemm4" {
								v.gemm(&w[0], &xp[0], k/64*xpPairSize, k/64, &res)
							} else {
								v.gemv(&w[0], rb, &xp[0], k/64, &res)
							}
						}
						el[vi] += time.Since(t0)
					}
				}
				for vi := range vs {
					b.ReportMetric(float64(el[vi].Nanoseconds())/float64(20*b.N)/float64(4*k/64), fmt.Sprintf("ns/pair-row-v%d", vi))
				}
			})
		}
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
				const n = 13
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
				xq := make([]byte, k/256*q8_KSize)
				for i := 0; i < m; i++ {
					quantizeQ8_K(xq, x[i*k:(i+1)*k])
					for j := 0; j < n; j++ {
						want := dotK(c.t, w[j*rs:(j+1)*rs], xq, k/256, &kb)
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

// TestF16ZTwins runs f16 MatMuls through the AVX-512 kernels (2x4 tiles,
// leftover rows and columns, masked tails) and checks every output against
// dotF16, bit for bit.
func TestF16ZTwins(t *testing.T) {
	if !hasZ512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(37, 38))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{16, 40, 48, 2048} {
		for _, m := range []int{1, 4, 9} {
			const n = 23
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
			x16 := make([]uint16, k)
			for i := 0; i < m; i++ {
				for j := range x16 {
					x16[j] = weights.FP32ToFP16(x[i*k+j])
				}
				for j := 0; j < n; j++ {
					want := dotF16(w[2*j*k:2*(j+1)*k], x16, k)
					if got := out[i*n+j]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("k=%d m=%d out[%d][%d] = %g, Go twin %g", k, m, i, j, got, want)
					}
				}
			}
		}
	}
}

// TestPackedVariants checks every packed kernel variant this CPU runs (not
// only the one MatMul selects) against the Go twins, bit for bit; the last
// weight block pair ends the buffer, so an over-read would fault.
func TestPackedVariants(t *testing.T) {
	cases := []struct {
		t    weights.Type
		twin func(w, x []byte, nb int) float32
	}{{weights.TypeQ4_0, dotQ4_0}, {weights.TypeQ8_0, dotQ8_0}}
	rng := rand.New(rand.NewPCG(39, 40))
	for _, c := range cases {
		vs := packedVariants(c.t)
		if len(vs) == 0 {
			t.Skipf("%s: no packed kernels on this CPU", c.t)
		}
		for vi, v := range vs {
			for _, nb2 := range []int{1, 2, 5, 64} {
				nb := 2 * nb2
				w := randBlocks(rng, 4*nb, c.t.TypeSize(), 0)
				rb := len(w) / 4
				xq := make([][]byte, 4)
				xp := make([]byte, 4*nb2*xpPairSize)
				for i := range xq {
					xq[i] = randActQ8_0(rng, nb)
					packQ8(xp[i*nb2*xpPairSize:], xq[i], nb, v.bias)
				}
				var res [4]float32
				for j := 0; j < 4; j++ {
					v.gemm(&w[j*rb], &xp[0], nb2*xpPairSize, nb2, &res)
					for i := 0; i < 4; i++ {
						if want := c.twin(w[j*rb:(j+1)*rb], xq[i], nb); math.Float32bits(res[i]) != math.Float32bits(want) {
							t.Fatalf("%s variant %d gemm nb=%d w%d x%d: %g, Go %g", c.t, vi, nb, j, i, res[i], want)
						}
					}
				}
				for i := 0; i < 4; i++ {
					v.gemv(&w[0], rb, &xp[i*nb2*xpPairSize], nb2, &res)
					for j := 0; j < 4; j++ {
						if want := c.twin(w[j*rb:(j+1)*rb], xq[i], nb); math.Float32bits(res[j]) != math.Float32bits(want) {
							t.Fatalf("%s variant %d gemv nb=%d w%d x%d: %g, Go %g", c.t, vi, nb, j, i, res[j], want)
						}
					}
				}
			}
		}
	}
}
