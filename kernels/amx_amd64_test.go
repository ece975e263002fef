package kernels

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestGemm16AMX checks the AMX kernel against gemm16Go bit for bit, for
// every type the 16-row path decodes, several block counts (1, 2, 64),
// 1–3 groups of 16 activation rows and an output stride wider than 16. It
// also plants the extremes (u = 255 against x = −127 in every lane) in one
// block of q8_0 so a wrong signedness of either tile fails. The kernel
// leaves the group signed (q = u - c): that is checked too.
func TestGemm16AMX(t *testing.T) {
	amx, _, ok := gemm16AMXKernel(weights.TypeQ4_0, LayoutGGUF)
	if !ok {
		t.Skip("no AMX-INT8 (or the OS refused the tile state, or DAYI_AMX=0): the kernel cannot run here; gemm16Go's twin tests cover its arithmetic")
	}
	rng := rand.New(rand.NewPCG(91, 92))
	for _, tc := range []struct {
		t   weights.Type
		dec func(w *byte, wstride, nb int, dst *byte)
	}{{weights.TypeQ4_0, dec16Q4_0}, {weights.TypeQ8_0, dec16Q8_0}, {weights.TypeQ5_0, dec16Q5_0}} {
		for _, k := range []int{32, 64, 2048} {
			for groups := 1; groups <= 3; groups++ {
				nb := k / 32
				m := 16 * groups
				w, _, x40, c := gemm16Case(rng, tc.t, 16, k, m)
				rs := nb * tc.t.TypeSize()
				dec := make([]byte, nb*w16BlockSize)
				tc.dec(&w[0], rs, nb, &dec[0])
				xs := nb * x40BlockSize
				if tc.t == weights.TypeQ8_0 {
					for g := 0; g < 8; g++ {
						for r := 0; r < 16; r++ {
							copy(dec[g*64+r*4:g*64+r*4+4], []byte{255, 255, 255, 255})
						}
					}
					for i := 0; i < m; i++ {
						for j := 0; j < 32; j++ {
							x40[i*xs+j] = 0x81 // -127
						}
						binary.LittleEndian.PutUint32(x40[i*xs+32:], uint32(-c*32*-127)) // pack40's bias -c·Σq
					}
				}
				const ostride = 19
				want := make([]float32, m*ostride)
				gemm16Go(dec, x40, xs, nb, m, want, ostride)
				got := make([]float32, m*ostride)
				cbuf := make([]byte, amxCbufBytes)
				signed := make([]byte, len(dec))
				for i := range signed {
					signed[i] = dec[i] - byte(c)
					if i%w16BlockSize >= 512 {
						signed[i] = dec[i]
					}
				}
				amx(&dec[0], &x40[0], xs, nb, groups, &got[0], ostride, amxCbuf(cbuf), int(c))
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s k=%d groups=%d: out[%d] = %g, twin %g", tc.t, k, groups, i, got[i], want[i])
					}
				}
				if !bytes.Equal(dec, signed) {
					t.Fatalf("%s k=%d groups=%d: the group was not left as q = u - c", tc.t, k, groups)
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
						t.Fatalf("%s layout %d m=%d (%s, amx %v in place %v): out[%d] = %g, gemm16Go %g", typ, l, m, pl, pl.g16amx != nil, pl.g16amxInPlace, i, got[i], want[i])
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
		amx, _, ok := gemm16AMXKernel(weights.TypeQ4_0, LayoutGGUF)
		if !ok {
			b.Skip("no AMX")
		}
		cbuf := make([]byte, amxCbufBytes)
		for b.Loop() {
			amx(&dec[0], &x40[0], xs, nb, m/16, &out[0], 16, amxCbuf(cbuf), 0) // c = 0: the same work, dec unchanged
		}
	})
}

// TestGemm16AMXR16Q8 checks the kernel that reads a q8_0 Rows16 group in
// place against decode16 + gemm16Go of the same rows in GGUF layout, bit for
// bit: 1, 2 and 64 blocks, 1–3 groups of 16 activation rows, an output
// stride wider than 16, with q = −128 and 127 planted against x = −127 and
// 127 in one block, and the group left unchanged. TestMatMulAMXRows runs it
// through the plan.
func TestGemm16AMXR16Q8(t *testing.T) {
	amx, inPlace, ok := gemm16AMXKernel(weights.TypeQ8_0, LayoutRows16)
	if !ok {
		t.Skip("no AMX-INT8 (or the OS refused the tile state, or DAYI_AMX=0): the kernel cannot run here; gemm16Go's twin tests cover its arithmetic")
	}
	if !inPlace {
		t.Fatal("the q8_0 Rows16 AMX kernel does not read the group in place")
	}
	typ := weights.TypeQ8_0
	rng := rand.New(rand.NewPCG(97, 98))
	for _, k := range []int{32, 64, 2048} {
		for groups := 1; groups <= 3; groups++ {
			nb := k / 32
			m := 16 * groups
			w, _, x40, c := gemm16Case(rng, typ, 16, k, m)
			rs := nb * typ.TypeSize()
			xs := nb * x40BlockSize
			// last block: rows alternate q = -128 and 127, activations -127 and 127
			b := nb - 1
			for r := 0; r < 16; r++ {
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
			dec := make([]byte, nb*w16BlockSize)
			decode16(dec, w, rs, nb, typ.TypeSize())
			const ostride = 21
			want := make([]float32, m*ostride)
			gemm16Go(dec, x40, xs, nb, m, want, ostride)
			r16 := make([]byte, len(w))
			if err := Repack(r16, w, typ, 16, k); err != nil {
				t.Fatal(err)
			}
			kept := bytes.Clone(r16)
			got := make([]float32, m*ostride)
			cbuf := make([]byte, amxCbufBytes)
			amx(&r16[0], &x40[0], xs, nb, groups, &got[0], ostride, amxCbuf(cbuf), 0)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("k=%d groups=%d: out[%d] = %g, twin %g", k, groups, i, got[i], want[i])
				}
			}
			if !bytes.Equal(r16, kept) {
				t.Fatalf("k=%d groups=%d: the kernel changed the weights", k, groups)
			}
		}
	}
}

// BenchmarkGemm16AMXR16Q8 times what runGemm16 does per 16-row q8_0 Rows16
// group (k = 2048) against 64 activation rows on AMX tiles: decode the
// group (decR16Q8_0) and run gemm16AMX on it, or run gemm16AMXR16Q8 on the
// group as stored.
func BenchmarkGemm16AMXR16Q8(b *testing.B) {
	const k, m = 2048, 64
	typ := weights.TypeQ8_0
	nb := k / 32
	rng := rand.New(rand.NewPCG(99, 100))
	w, _, x40, c := gemm16Case(rng, typ, 16, k, m)
	r16 := make([]byte, len(w))
	if err := Repack(r16, w, typ, 16, k); err != nil {
		b.Fatal(err)
	}
	xs := nb * x40BlockSize
	out := make([]float32, m*16)
	cbuf := make([]byte, amxCbufBytes)
	dec := make([]byte, nb*w16BlockSize)
	b.Run("decode+amx", func(b *testing.B) {
		amx, _, ok := gemm16AMXKernel(typ, LayoutGGUF)
		if !ok {
			b.Skip("no AMX")
		}
		for b.Loop() {
			decR16Q8_0(&r16[0], 0, nb, &dec[0])
			amx(&dec[0], &x40[0], xs, nb, m/16, &out[0], 16, amxCbuf(cbuf), int(c))
		}
	})
	b.Run("in-place", func(b *testing.B) {
		amx, _, ok := gemm16AMXKernel(typ, LayoutRows16)
		if !ok {
			b.Skip("no AMX")
		}
		for b.Loop() {
			amx(&r16[0], &x40[0], xs, nb, m/16, &out[0], 16, amxCbuf(cbuf), 0)
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
