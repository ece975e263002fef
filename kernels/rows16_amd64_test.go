package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"dayi/weights"
)

// TestRows16Decode checks that a repacked group decodes (Go twin and
// assembly) to exactly the gemm16 slices that decode16 makes of the same
// rows in GGUF layout, and that the decode kernel equals gemm16Go on them
// bit for bit (the order llama.cpp's repacked q4_0 GEMM/GEMV use).
func TestRows16Decode(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0} {
		for _, k := range []int{32, 64, 2048} {
			const n = 32
			nb := k / 32
			w, _, x40, _ := gemm16Case(rng, wt, n, k, 1)
			rb := nb * wt.TypeSize()
			rep := make([]byte, len(w))
			if err := Repack(rep, w, wt, n, k); err != nil {
				t.Fatal(err)
			}
			goGemv, goDec := r16GoKernels(wt)
			gemv, dec := r16Kernels(wt, true)
			gemvHW, _ := r16Kernels(wt, false)
			for g := 0; g < n/r16Rows; g++ {
				want := make([]byte, nb*w16BlockSize)
				decode16(want, w[g*r16Rows*rb:], rb, nb, wt.TypeSize())
				grp := rep[g*r16Rows*rb : (g+1)*r16Rows*rb]
				for name, d := range map[string]func(w *byte, wstride, nb int, dst *byte){"go": goDec, "kernel": dec} {
					got := make([]byte, nb*w16BlockSize)
					d(&grp[0], rb, nb, &got[0])
					if !bytes.Equal(got, want) {
						t.Fatalf("%s k=%d group %d: %s decode differs from decode16", wt, k, g, name)
					}
				}
				ref := make([]float32, r16Rows)
				gemm16Go(want, x40, nb*x40BlockSize, nb, 1, ref, r16Rows)
				for name, f := range map[string]func(w, x []byte, nb int, out []float32){"go": goGemv, "kernel": gemv, "kernel without prefetch": gemvHW} {
					got := make([]float32, r16Rows)
					f(grp, x40, nb, got)
					for r := range got {
						if math.Float32bits(got[r]) != math.Float32bits(ref[r]) {
							t.Fatalf("%s k=%d group %d row %d: %s gemv %g, gemm16Go %g", wt, k, g, r, name, got[r], ref[r])
						}
					}
				}
			}
		}
	}
}

// TestMatMulRows16 runs whole matmuls on repacked weights against the same
// weights in GGUF layout: from gemm16MinRows activation rows both take the
// 16-row block order and agree bit for bit; below it the GGUF path uses
// ggml's vec_dot order, so they agree to float rounding.
func TestMatMulRows16(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0, weights.TypeQ5_0} {
		if !CanRepack(wt, 64, 1024) {
			continue
		}
		const n, k = 64, 1024
		w := randBlocks(rng, n*k/32, wt.TypeSize(), 0)
		rep := make([]byte, len(w))
		if err := Repack(rep, w, wt, n, k); err != nil {
			t.Fatal(err)
		}
		for _, m := range []int{1, 2, 3, 4, 8, 13} {
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
					for i := range got {
						if m >= gemm16MinRows && hasZVNNI {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("out[%d] = %g, GGUF layout %g", i, got[i], want[i])
							}
						} else if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
							t.Fatalf("out[%d] = %g, GGUF layout %g", i, got[i], want[i])
						}
					}
				})
			}
		}
	}
	p := NewPool(1)
	defer p.Close()
	if err := p.MatMulLayout(weights.TypeQ5_1, LayoutRows16, make([]byte, 24*16), 16, 32, make([]float32, 32), 1, make([]float32, 16)); err == nil {
		t.Error("q5_1 in LayoutRows16: no error")
	}
	if err := Repack(make([]byte, 18*8), make([]byte, 18*8), weights.TypeQ4_0, 8, 32); err == nil {
		t.Error("repack of 8 rows: no error")
	}
}

// BenchmarkRows16Layers is BenchmarkDecodeLayers on repacked weights; for
// q4_K/q6_K it also runs the same weights in GGUF layout (gguf/), so that
// the two are compared back to back on a noisy host.
//
//	go test ./kernels -run '^$' -bench 'DecodeLayers|Rows16Layers' -benchtime 10x
func BenchmarkRows16Layers(b *testing.B) {
	shapes := []struct{ n, k int }{{2048, 2048}, {512, 2048}, {512, 2048}, {2048, 2048}, {8192, 2048}, {8192, 2048}, {2048, 8192}}
	for _, bt := range benchTypes {
		wt := bt.t
		if !r16Type(wt) {
			continue
		}
		type mat struct {
			n, k   int
			w, rep []byte
		}
		var mats []mat
		total := 0
		for l := 0; l < 16; l++ {
			for _, s := range shapes {
				w := benchWeights(wt, bt.dOffs, s.n, s.k)
				rep := make([]byte, len(w))
				if err := Repack(rep, w, wt, s.n, s.k); err != nil {
					b.Fatal(err)
				}
				if !r16KType(wt) {
					w = nil
				}
				mats = append(mats, mat{s.n, s.k, w, rep})
				total += len(rep)
			}
		}
		x := make([]float32, 8192)
		for i := range x {
			x[i] = float32(i%17) - 8
		}
		out := make([]float32, 8192)
		layouts := []Layout{LayoutRows16}
		if r16KType(wt) {
			layouts = append(layouts, LayoutGGUF)
		}
		for _, th := range []int{1, 2} {
			for _, l := range layouts {
				name := fmt.Sprintf("%s/t%d", wt, th)
				if l == LayoutGGUF {
					name = fmt.Sprintf("%s/gguf/t%d", wt, th)
				}
				b.Run(name, func(b *testing.B) {
					p := NewPool(th)
					defer p.Close()
					b.SetBytes(int64(total))
					for b.Loop() {
						for _, m := range mats {
							w := m.rep
							if l == LayoutGGUF {
								w = m.w
							}
							if err := p.MatMulLayout(wt, l, w, m.n, m.k, x[:m.k], 1, out[:m.n]); err != nil {
								b.Fatal(err)
							}
						}
					}
				})
			}
		}
	}
}

// BenchmarkRows16Stream runs each AVX-512 Rows16 decode kernel over 512
// MiB of repacked groups of 16 rows of 8192 on one goroutine, with and
// without its software prefetches where it has both forms
// (stream_amd64.go), alternating with a
// plain read of the same bytes, and reports the best GB/s of each and the
// kernel's share of the read. streamPrefetch's choice per CPU vendor, and
// the q5_K and q6_K tiles' order, rest on these numbers.
//
//	go test ./kernels -run '^$' -bench Rows16Stream -benchtime 5x
func BenchmarkRows16Stream(b *testing.B) {
	const k, total = 8192, 512 << 20
	rng := rand.New(rand.NewPCG(5, 6))
	for _, wt := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0, weights.TypeQ5_0, weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K} {
		if !hasZVNNI || !CanRepack(wt, r16Rows, k) {
			continue // the AVX2 forms run through runR16A2: measured in the engine
		}
		var w, x []byte
		var kern func(sw bool) func(w, x []byte, nb int, out []float32)
		if r16KType(wt) {
			w, _, x = gemmK16Case(rng, wt, k, 1)
			kern = func(sw bool) func(w, x []byte, nb int, out []float32) { g, _ := r16kKernels(wt, sw); return g }
		} else {
			w, _, x, _ = gemm16Case(rng, wt, r16Rows, k, 1)
			kern = func(sw bool) func(w, x []byte, nb int, out []float32) { g, _ := r16Kernels(wt, sw); return g }
		}
		rep := make([]byte, len(w))
		if err := Repack(rep, w, wt, r16Rows, k); err != nil {
			b.Fatal(err)
		}
		big := make([]byte, total/len(rep)*len(rep))
		for off := 0; off < len(big); off += len(rep) {
			copy(big[off:], rep)
		}
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&big[0])), len(big)/8)
		gb := len(rep) // bytes per group
		nb := k / wt.BlockSize()
		out := make([]float32, r16Rows)
		for _, sw := range []bool{true, false} {
			gemv := kern(sw)
			b.Run(fmt.Sprintf("%s/prefetch=%v", wt, sw), func(b *testing.B) {
				var sink uint64
				reportVsRead(b, len(big), "GB/s-kernel", func() {
					for off := 0; off < len(big); off += gb {
						gemv(big[off:off+gb], x, nb, out)
					}
				}, func() { sink += sum8(words) })
				_ = sink
			})
		}
	}
}
