package kernels

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestGemm16AMX checks the AMX kernels on decoded groups against gemm16Go
// bit for bit, for every type the 16-row path decodes, several block
// counts (1, 2, 64), one and two weight groups, 1–5 groups of 16
// activation rows (pairs and a last odd group) and an output stride wider
// than the weight groups. The outputs start as NaN: the kernels must
// overwrite every result (their accumulators live in out) and write
// nothing past the weight groups' columns. It also plants the extremes
// (u = 255 against x = −127 in every lane) in one block of q8_0 so a wrong
// signedness of either tile fails. The kernels leave the groups signed
// (q = u - c): that is checked too.
func TestGemm16AMX(t *testing.T) {
	ks := gemm16AMXKernels(weights.TypeQ4_0, LayoutGGUF)
	if ks.one == nil {
		t.Skip("no AMX-INT8 (or the OS refused the tile state, or DAYI_AMX=0): the kernel cannot run here; gemm16Go's twin tests cover its arithmetic")
	}
	if ks.inPlace {
		t.Fatal("the q4_0 GGUF kernels claim to read the weights in place")
	}
	rng := rand.New(rand.NewPCG(91, 92))
	nan := math.Float32frombits(0x7fc00001)
	for _, tc := range []struct {
		t   weights.Type
		dec func(w *byte, wstride, nb int, dst *byte)
	}{{weights.TypeQ4_0, dec16Q4_0}, {weights.TypeQ8_0, dec16Q8_0}, {weights.TypeQ5_0, dec16Q5_0}} {
		for _, k := range []int{32, 64, 2048} {
			for _, wg := range []int{1, 2} {
				for groups := 1; groups <= 5; groups++ {
					nb := k / 32
					m := 16 * groups
					w, _, x40, c := gemm16Case(rng, tc.t, 16*wg, k, m)
					rs := nb * tc.t.TypeSize()
					gsize := nb * w16BlockSize
					dec := make([]byte, wg*gsize)
					for h := 0; h < wg; h++ {
						tc.dec(&w[h*16*rs], rs, nb, &dec[h*gsize])
					}
					xs := nb * x40BlockSize
					if tc.t == weights.TypeQ8_0 {
						for h := 0; h < wg; h++ {
							for g := 0; g < 8; g++ {
								for r := 0; r < 16; r++ {
									copy(dec[h*gsize+g*64+r*4:h*gsize+g*64+r*4+4], []byte{255, 255, 255, 255})
								}
							}
						}
						for i := 0; i < m; i++ {
							for j := 0; j < 32; j++ {
								x40[i*xs+j] = 0x81 // -127
							}
							binary.LittleEndian.PutUint32(x40[i*xs+32:], uint32(-c*32*-127)) // pack40's bias -c·Σq
						}
					}
					const ostride = 37
					want := make([]float32, m*ostride)
					got := make([]float32, m*ostride)
					for i := range want {
						want[i], got[i] = nan, nan
					}
					for h := 0; h < wg; h++ {
						gemm16Go(dec[h*gsize:(h+1)*gsize], x40, xs, nb, m, want[16*h:], ostride)
					}
					cbuf := make([]byte, amxCbufBytes)
					signed := make([]byte, len(dec))
					for i := range signed {
						signed[i] = dec[i] - byte(c)
						if i%w16BlockSize >= 512 {
							signed[i] = dec[i]
						}
					}
					kern := ks.one
					if wg == 2 {
						kern = ks.two
					}
					kern(&dec[0], gsize, &x40[0], xs, nb, groups, &got[0], ostride, amxCbuf(cbuf), int(c))
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s k=%d weight groups %d, activation groups %d: out[%d] = %g, twin %g", tc.t, k, wg, groups, i, got[i], want[i])
						}
					}
					if !bytes.Equal(dec, signed) {
						t.Fatalf("%s k=%d weight groups %d, activation groups %d: the groups were not left as q = u - c", tc.t, k, wg, groups)
					}
				}
			}
		}
	}
}

// TestMatMulAMXRows runs whole q4_0 and q8_0 matmuls, in GGUF and Rows16
// layout, whose batches take the AMX path in part (m = 16; m = 37: two
// tiles and 5 rows on the 6-column kernels) and compares them with
// decode16 + gemm16Go over the same quantized activations: equal bit for bit on any CPU with AVX-512 VNNI,
// with or without AMX, as the AMX path changes no result.
func TestMatMulAMXRows(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI: the 16-row paths are not planned")
	}
	rng := rand.New(rand.NewPCG(93, 94))
	const n, k = 48, 256
	nb := k / 32
	p := NewPool(1)
	for _, typ := range []weights.Type{weights.TypeQ4_0, weights.TypeQ8_0} {
		_, c, _ := gemm16Decoder(typ)
		for _, m := range []int{16, 37} {
			w := randBlocks(rng, n*nb, typ.TypeSize(), 0)
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			xs := nb * x40BlockSize
			x40 := make([]byte, m*xs)
			xq := make([]byte, nb*q8_0Size)
			for i := 0; i < m; i++ {
				quantizeQ8_0(xq, x[i*k:(i+1)*k])
				pack40(x40[i*xs:], xq, nb, c)
			}
			want := make([]float32, m*n)
			dec := make([]byte, nb*w16BlockSize)
			rs := nb * typ.TypeSize()
			for j := 0; j < n; j += 16 {
				decode16(dec, w[j*rs:], rs, nb, typ.TypeSize())
				gemm16Go(dec, x40, xs, nb, m, want[j:], n)
			}
			for _, l := range []Layout{LayoutGGUF, LayoutRows16} {
				pl, err := NewPlan(typ, l, n, k)
				if err != nil {
					t.Fatal(err)
				}
				wl := w
				if l == LayoutRows16 {
					wl = make([]byte, len(w))
					if err := Repack(wl, w, typ, n, k); err != nil {
						t.Fatal(err)
					}
				}
				got := make([]float32, m*n)
				if err := p.MatMulPlan(pl, wl, x, m, got); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s layout %d m=%d (%s, amx %v in place %v): out[%d] = %g, gemm16Go %g", typ, l, m, pl, pl.g16amx.one != nil, pl.g16amx.inPlace, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkGemm16AMX times one decoded 16-row q4_0 group (k = 2048)
// against 64 activation rows: on AMX tiles (4 groups of 16) and on the
// VNNI kernels (6 columns per call), the two ways runGemm16 can take.
func BenchmarkGemm16AMX(b *testing.B) {
	const k, m = 2048, 64
	nb := k / 32
	rng := rand.New(rand.NewPCG(95, 96))
	w, _, x40, _ := gemm16Case(rng, weights.TypeQ4_0, 16, k, m)
	dec := make([]byte, nb*w16BlockSize)
	decode16(dec, w, nb*weights.TypeQ4_0.TypeSize(), nb, weights.TypeQ4_0.TypeSize())
	xs := nb * x40BlockSize
	out := make([]float32, m*16)
	b.Run("vnni", func(b *testing.B) {
		if !hasZVNNI {
			b.Skip("no AVX-512 VNNI")
		}
		for b.Loop() {
			for c := 0; c < m; c += 6 {
				nc := min(6, m-c)
				gemm16Kernels[nc-1](&dec[0], &x40[c*xs], xs, nb, &out[c*16], 16)
			}
		}
	})
	b.Run("amx", func(b *testing.B) {
		ks := gemm16AMXKernels(weights.TypeQ4_0, LayoutGGUF)
		if ks.one == nil {
			b.Skip("no AMX")
		}
		cbuf := make([]byte, amxCbufBytes)
		for b.Loop() {
			ks.one(&dec[0], 0, &x40[0], xs, nb, m/16, &out[0], 16, amxCbuf(cbuf), 0) // c = 0: the same work, dec unchanged
		}
	})
}

// TestGemm16AMXR16Q8 checks the kernels that read q8_0 Rows16 groups in
// place against decode16 + gemm16Go of the same rows in GGUF layout, bit for
// bit: 1, 2 and 64 blocks, one and two weight groups, 1–5 groups of 16
// activation rows, an output stride wider than the groups (outputs start
// as NaN, as in TestGemm16AMX), with q = −128 and 127 planted against
// x = −127 and 127 in one block, and the groups left unchanged.
// TestMatMulAMXRows runs them through the plan.
func TestGemm16AMXR16Q8(t *testing.T) {
	ks := gemm16AMXKernels(weights.TypeQ8_0, LayoutRows16)
	if ks.one == nil {
		t.Skip("no AMX-INT8 (or the OS refused the tile state, or DAYI_AMX=0): the kernel cannot run here; gemm16Go's twin tests cover its arithmetic")
	}
	if !ks.inPlace {
		t.Fatal("the q8_0 Rows16 AMX kernels do not read the groups in place")
	}
	typ := weights.TypeQ8_0
	rng := rand.New(rand.NewPCG(97, 98))
	nan := math.Float32frombits(0x7fc00001)
	for _, k := range []int{32, 64, 2048} {
		for _, wg := range []int{1, 2} {
			for groups := 1; groups <= 5; groups++ {
				nb := k / 32
				m, n := 16*groups, 16*wg
				w, _, x40, c := gemm16Case(rng, typ, n, k, m)
				rs := nb * typ.TypeSize()
				xs := nb * x40BlockSize
				// last block: rows alternate q = -128 and 127, activations -127 and 127
				b := nb - 1
				for r := 0; r < n; r++ {
					q := byte(0x80)
					if r%2 == 1 {
						q = 127
					}
					for j := 0; j < 32; j++ {
						w[r*rs+b*34+2+j] = q
					}
				}
				for i := 0; i < m; i++ {
					xq := byte(0x81)
					if i%2 == 1 {
						xq = 127
					}
					sum := 0
					for j := 0; j < 32; j++ {
						x40[i*xs+b*x40BlockSize+j] = xq
						sum += int(int8(xq))
					}
					binary.LittleEndian.PutUint32(x40[i*xs+b*x40BlockSize+32:], uint32(-int(c)*sum))
				}
				const ostride = 37
				want := make([]float32, m*ostride)
				got := make([]float32, m*ostride)
				for i := range want {
					want[i], got[i] = nan, nan
				}
				dec := make([]byte, nb*w16BlockSize)
				for h := 0; h < wg; h++ {
					decode16(dec, w[h*16*rs:], rs, nb, typ.TypeSize())
					gemm16Go(dec, x40, xs, nb, m, want[16*h:], ostride)
				}
				r16 := make([]byte, len(w))
				if err := Repack(r16, w, typ, n, k); err != nil {
					t.Fatal(err)
				}
				kept := bytes.Clone(r16)
				cbuf := make([]byte, amxCbufBytes)
				kern := ks.one
				if wg == 2 {
					kern = ks.two
				}
				kern(&r16[0], 16*rs, &x40[0], xs, nb, groups, &got[0], ostride, amxCbuf(cbuf), 0)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("k=%d weight groups %d, activation groups %d: out[%d] = %g, twin %g", k, wg, groups, i, got[i], want[i])
					}
				}
				if !bytes.Equal(r16, kept) {
					t.Fatalf("k=%d weight groups %d, activation groups %d: the kernel changed the weights", k, wg, groups)
				}
			}
		}
	}
}

// BenchmarkGemm16AMXR16Q8 times what runGemm16 does per 16-row q8_0 Rows16
// group (k = 2048) against 64 activation rows on AMX tiles: decode the
// group (decR16Q8_0) and run gemm16AMXW1 on it, run gemm16AMXR16Q8W1 on
// the group as stored, or gemm16AMXR16Q8W2 on two groups (the time per
// op is for both).
func BenchmarkGemm16AMXR16Q8(b *testing.B) {
	const k, m = 2048, 64
	typ := weights.TypeQ8_0
	nb := k / 32
	rng := rand.New(rand.NewPCG(99, 100))
	w, _, x40, c := gemm16Case(rng, typ, 32, k, m)
	r16 := make([]byte, len(w))
	if err := Repack(r16, w, typ, 32, k); err != nil {
		b.Fatal(err)
	}
	wgs := 16 * nb * typ.TypeSize()
	xs := nb * x40BlockSize
	out := make([]float32, m*32)
	cbuf := make([]byte, amxCbufBytes)
	dec := make([]byte, nb*w16BlockSize)
	ks := gemm16AMXKernels(typ, LayoutGGUF)
	r16ks := gemm16AMXKernels(typ, LayoutRows16)
	if ks.one == nil {
		b.Skip("no AMX")
	}
	b.Run("decode+amx", func(b *testing.B) {
		for b.Loop() {
			decR16Q8_0(&r16[0], 0, nb, &dec[0])
			ks.one(&dec[0], 0, &x40[0], xs, nb, m/16, &out[0], 32, amxCbuf(cbuf), int(c))
		}
	})
	b.Run("in-place", func(b *testing.B) {
		for b.Loop() {
			r16ks.one(&r16[0], wgs, &x40[0], xs, nb, m/16, &out[0], 32, amxCbuf(cbuf), 0)
		}
	})
	b.Run("in-place-2groups", func(b *testing.B) {
		for b.Loop() {
			r16ks.two(&r16[0], wgs, &x40[0], xs, nb, m/16, &out[0], 32, amxCbuf(cbuf), 0)
		}
	})
}

// TestGemmK16AMX checks the q4_K AMX kernel against gemmK16Go bit for bit:
// 1, 2 and 8 super-blocks, 1-3 groups of 16 activation rows, an output
// stride wider than 16, and whole matmuls through the plan (m = 16, 37) in
// both layouts' decoders.
func TestGemmK16AMX(t *testing.T) {
	amx, ok := gemmK16AMXKernel(weights.TypeQ4_K)
	if !ok {
		t.Skip("no AMX-INT8 (or the OS refused the tile state, or DAYI_AMX=0): the kernel cannot run here; gemmK16Go's twin tests cover its arithmetic")
	}
	rng := rand.New(rand.NewPCG(97, 98))
	typ := weights.TypeQ4_K
	for _, k := range []int{256, 512, 2048} {
		for groups := 1; groups <= 3; groups++ {
			nb := k / 256
			m := 16 * groups
			w, _, xk := gemmK16Case(rng, typ, k, m)
			rs := nb * typ.TypeSize()
			dec := make([]byte, nb*k16BlockSize)
			decodeK16(typ, dec, w, rs, nb)
			xs := nb * k16X
			const ostride = 21
			want := make([]float32, m*ostride)
			gemmK16Go(typ, dec, xk, xs, nb, m, want, ostride)
			got := make([]float32, m*ostride)
			cbuf := make([]byte, amxKCbufBytes)
			amx(&dec[0], &xk[0], xs, nb, groups, &got[0], ostride, amxCbuf(cbuf))
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("k=%d groups=%d: out[%d] = %g, twin %g", k, groups, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkGemmK16AMX times one decoded 16-row q4_K group (k = 2048)
// against 64 activation rows on AMX tiles and on the VNNI kernels.
func BenchmarkGemmK16AMX(b *testing.B) {
	const k, m = 2048, 64
	typ := weights.TypeQ4_K
	nb := k / 256
	rng := rand.New(rand.NewPCG(99, 100))
	w, _, xk := gemmK16Case(rng, typ, k, m)
	dec := make([]byte, nb*k16BlockSize)
	decodeK16(typ, dec, w, nb*typ.TypeSize(), nb)
	xs := nb * k16X
	out := make([]float32, m*16)
	b.Run("vnni", func(b *testing.B) {
		ks, ok := gemmK16Kernels(typ)
		if !ok {
			b.Skip("no AVX-512 VNNI")
		}
		for b.Loop() {
			for c := 0; c < m; c += 4 {
				ks[3](&dec[0], &xk[c*xs], xs, nb, &out[c*16], 16)
			}
		}
	})
	b.Run("amx", func(b *testing.B) {
		amx, ok := gemmK16AMXKernel(typ)
		if !ok {
			b.Skip("no AMX")
		}
		cbuf := make([]byte, amxKCbufBytes)
		for b.Loop() {
			amx(&dec[0], &xk[0], xs, nb, m/16, &out[0], 16, amxCbuf(cbuf))
		}
	})
}
