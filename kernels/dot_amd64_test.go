package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestAsmTwins checks every assembly kernel this CPU can run against its pure
// Go twin, bit for bit.
func TestAsmTwins(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA: assembly kernels unused on this CPU")
	}
	type kern struct {
		name string
		f    asmDot
		ok   bool
	}
	qx1 := func(five bool) func(w, x []byte, nb int) float32 {
		return func(w, x []byte, nb int) float32 { return dotQx_1(w, x, nb, five) }
	}
	// q4_1/q5_1 take q8_1 activations (xsize 36) and have a min at byte 2.
	cases := []struct {
		name         string
		wsize, xsize int
		dOffs        []int
		twin         func(w, x []byte, nb int) float32
		asm          []kern
	}{
		{"q8_0", 34, q8_0Size, []int{0}, dotQ8_0, []kern{{"avx2", q8_0DotAVX2, hasAVX2}, {"vnni", q8_0DotVNNI, hasVNNI}}},
		{"q4_0", 18, q8_0Size, []int{0}, dotQ4_0, []kern{{"avx2", q4_0DotAVX2, hasAVX2}, {"vnni", q4_0DotVNNI, hasVNNI}}},
		{"q5_0", 22, q8_0Size, []int{0}, dotQ5_0, []kern{{"avx2", q5_0DotAVX2, hasAVX2}, {"vnni", q5_0DotVNNI, hasVNNI}}},
		{"q4_1", 20, q8_1Size, []int{0, 2}, qx1(false), []kern{{"avx2", q4_1DotAVX2, hasAVX2}, {"vnni", q4_1DotVNNI, hasVNNI}}},
		{"q5_1", 24, q8_1Size, []int{0, 2}, qx1(true), []kern{{"avx2", q5_1DotAVX2, hasAVX2}, {"vnni", q5_1DotVNNI, hasVNNI}}},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range cases {
		for _, nb := range []int{0, 1, 2, 3, 7, 64, 65} {
			for rep := 0; rep < 20; rep++ {
				w := randBlocks(rng, nb, c.wsize, c.dOffs...)
				if c.name == "q8_0" { // ggml's q8_0 quants are in [-127, 127]
					for i := range w {
						if w[i] == 0x80 && i%34 >= 2 {
							w[i] = 0x81
						}
					}
				}
				x := randActQ8_0(rng, nb)
				if c.xsize == q8_1Size {
					xf := make([]float32, nb*32)
					for i := range xf {
						xf[i] = float32(rng.NormFloat64())
					}
					x = make([]byte, nb*q8_1Size)
					quantizeQ8_1Go(x, xf)
				}
				want := c.twin(w, x, nb)
				for _, k := range c.asm {
					if !k.ok {
						continue
					}
					got := wrapBlocks(k.f, c.wsize, c.xsize)(w, x, nb)
					if math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%s %s nb=%d: asm %g (%#x), Go %g (%#x)", c.name, k.name, nb, got, math.Float32bits(got), want, math.Float32bits(want))
					}
				}
			}
		}
	}
}

// TestAsmTwinsK checks the k-quant kernels against dotK, bit for bit.
func TestAsmTwinsK(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA: assembly kernels unused on this CPU")
	}
	cases := []struct {
		typ   weights.Type
		dOffs []int
		f     asmDot
	}{
		{weights.TypeQ4_K, []int{0, 2}, q4_KDotAVX2},
		{weights.TypeQ6_K, []int{208}, q6_KDotAVX2},
	}
	rng := rand.New(rand.NewPCG(9, 10))
	var kb kblock
	for _, c := range cases {
		for _, nb := range []int{0, 1, 2, 8, 9} {
			for rep := 0; rep < 30; rep++ {
				w := randBlocks(rng, nb, c.typ.TypeSize(), c.dOffs...)
				xf := make([]float32, nb*256)
				for i := range xf {
					xf[i] = float32(rng.NormFloat64())
				}
				x := make([]byte, nb*q8_KSize)
				quantizeQ8_K(x, xf)
				want := dotK(c.typ, w, x, nb, &kb)
				got := wrapK(c.f, c.typ.TypeSize())(w, x, nb, &kb)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s nb=%d: asm %g, Go %g", c.typ, nb, got, want)
				}
			}
		}
	}
}

// TestAsmTwinF16 checks f16DotAVX2 against dotF16Tiny and f16DotAVX2V
// (plus the float64 tail) against dotF16, bit for bit.
func TestAsmTwinF16(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA: assembly kernels unused on this CPU")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range []int{16, 32, 48, 64, 100, 172, 2048, 2050} {
		for rep := 0; rep < 20; rep++ {
			w := make([]byte, 2*k)
			x := make([]uint16, k)
			for i := range x {
				x[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
				v := weights.FP32ToFP16(float32(rng.NormFloat64() * 0.1))
				w[2*i], w[2*i+1] = byte(v), byte(v>>8)
			}
			if k%16 == 0 {
				want, got := dotF16Tiny(w, x, k), dotF16AVX2(w, x, k)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("tiny k=%d: asm %g, Go %g", k, got, want)
				}
			}
			want, got := dotF16(w, x, k), dotF16AVX2V(w, x, k)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("vec_dot k=%d: asm %g, Go %g", k, got, want)
			}
		}
	}
}

// TestKGemv4Twins checks the 4-row AVX-512 q4_K, q5_K and q6_K gemv kernels
// against dotK on each row, bit for bit.
func TestKGemv4Twins(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI: 4-row k-quant kernels unused on this CPU")
	}
	for _, c := range []struct {
		typ   weights.Type
		dOffs []int
		f     func(w *byte, wstride int, x *byte, nb int, res *[4]float32)
	}{{weights.TypeQ4_K, []int{0, 2}, q4_KGemv4}, {weights.TypeQ6_K, []int{208}, q6_KGemv4}, {weights.TypeQ5_K, []int{0, 2}, q5_KGemv4}} {
		testKGemv4(t, c.typ, c.dOffs, c.f)
	}
}

func testKGemv4(t *testing.T, typ weights.Type, dOffs []int, f func(w *byte, wstride int, x *byte, nb int, res *[4]float32)) {
	rng := rand.New(rand.NewPCG(13, uint64(typ)))
	var kb kblock
	ts := typ.TypeSize()
	for _, nb := range []int{0, 1, 2, 8, 9} {
		for rep := 0; rep < 30; rep++ {
			w := randBlocks(rng, 4*nb+1, ts, dOffs...)
			xf := make([]float32, nb*256)
			for i := range xf {
				xf[i] = float32(rng.NormFloat64())
			}
			x := make([]byte, nb*q8_KSize+1)
			quantizeQ8_K(x, xf)
			var res [4]float32
			f(&w[0], nb*ts, &x[0], nb, &res)
			for r := 0; r < 4; r++ {
				want := dotK(typ, w[r*nb*ts:], x, nb, &kb)
				if math.Float32bits(res[r]) != math.Float32bits(want) {
					t.Fatalf("%s nb=%d row %d: asm %g, Go %g", typ, nb, r, res[r], want)
				}
			}
		}
	}
}
