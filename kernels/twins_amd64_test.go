package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// The twins of twins.go (what gemm_other.go binds the kernel names to off
// amd64) against the assembly they stand for, call by call, bit for bit.

// TestTwinsKPacked: gemmKx1/gemmKx4 (AVX-512 VNNI) and gemmKx1A2/gemmKx4A2
// (AVX2) on decoded super-blocks of every k-quant type.
func TestTwinsKPacked(t *testing.T) {
	type kernels struct {
		name string
		x4   func(w, x *byte, xstride, nb int, res *[4]float32)
		x1   func(w, x *byte, nb int) float32
	}
	var ks []kernels
	if hasZVNNI {
		ks = append(ks, kernels{"vnni", gemmKx4, gemmKx1})
	}
	if hasAVX2 {
		ks = append(ks, kernels{"avx2", gemmKx4A2, gemmKx1A2})
	}
	if len(ks) == 0 {
		t.Skip("no AVX2 or AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(91, 92))
	dOffs := map[weights.Type][]int{weights.TypeQ2_K: {80, 82}, weights.TypeQ3_K: {108}, weights.TypeQ4_K: {0, 2},
		weights.TypeQ5_K: {0, 2}, weights.TypeQ6_K: {208}}
	var kb kblock
	for typ, offs := range dOffs {
		for _, nb := range []int{1, 3, 8} {
			blk := randBlocks(rng, nb, typ.TypeSize(), offs...)
			w := make([]byte, nb*kdecSize)
			for b := 0; b < nb; b++ {
				decodeKPacked(typ, blk[b*typ.TypeSize():(b+1)*typ.TypeSize()], &kb, w[b*kdecSize:])
			}
			x := make([]byte, 4*nb*q8_KSize)
			xf := make([]float32, 4*nb*256)
			for i := range xf {
				xf[i] = float32(rng.NormFloat64())
			}
			quantizeQ8_K(x, xf)
			xs := nb * q8_KSize
			var want [4]float32
			gemmKx4Go(&w[0], &x[0], xs, nb, &want)
			for _, k := range ks {
				var got [4]float32
				k.x4(&w[0], &x[0], xs, nb, &got)
				if i := sameBits(got[:], want[:]); i >= 0 {
					t.Fatalf("%s %s nb=%d x4[%d] = %g, twin %g", k.name, typ, nb, i, got[i], want[i])
				}
				if g, w := k.x1(&w[0], &x[xs], nb), gemmKx1Go(&w[0], &x[xs], nb); math.Float32bits(g) != math.Float32bits(w) {
					t.Fatalf("%s %s nb=%d x1 = %g, twin %g", k.name, typ, nb, g, w)
				}
			}
		}
	}
}

// TestTwinsF16: the AVX-512 f16 kernels (tinyBLAS and vec_dot lanes).
func TestTwinsF16(t *testing.T) {
	if !hasZ512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(93, 94))
	for _, k := range []int{16, 64, 80, 192, 1024} {
		w := make([]byte, 2*4*k)
		for i := 0; i < 4*k; i++ {
			binary.LittleEndian.PutUint16(w[2*i:], weights.FP32ToFP16(float32(rng.NormFloat64()*0.1)))
		}
		x := make([]float32, 4*k)
		for i := range x {
			x[i] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.NormFloat64())))
		}
		for _, n := range []int{k, k - 5} {
			if g, w := f16DotZ(&w[0], &x[0], n), f16DotZGo(&w[0], &x[0], n); math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("k=%d n=%d f16DotZ = %g, twin %g", k, n, g, w)
			}
		}
		var g8, w8 [8]float32
		f16Gemm2x4(&w[0], 2*k, &x[0], 4*k, k/16, &g8)
		f16Gemm2x4Go(&w[0], 2*k, &x[0], 4*k, k/16, &w8)
		if i := sameBits(g8[:], w8[:]); i >= 0 {
			t.Fatalf("k=%d f16Gemm2x4[%d] = %g, twin %g", k, i, g8[i], w8[i])
		}
		if k < 64 {
			continue
		}
		if g, w := f16DotV(&w[0], &x[0], k/64), f16DotVGo(&w[0], &x[0], k/64); math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("k=%d f16DotV = %g, twin %g", k, g, w)
		}
		var g4, w4 [4]float32
		f16Gemv4V(&w[0], 2*k, &x[0], k/64, &g4)
		f16Gemv4VGo(&w[0], 2*k, &x[0], k/64, &w4)
		if i := sameBits(g4[:], w4[:]); i >= 0 {
			t.Fatalf("k=%d f16Gemv4V[%d] = %g, twin %g", k, i, g4[i], w4[i])
		}
	}
}

// TestTwinsKGemv4: the 4-row q4_K/q6_K gemv kernels' twin on testKGemv4's
// cases (which compare with dotK row by row, as the assembly's test does).
func TestTwinsKGemv4(t *testing.T) {
	testKGemv4(t, weights.TypeQ4_K, []int{0, 2}, kGemv4Go(weights.TypeQ4_K))
	testKGemv4(t, weights.TypeQ6_K, []int{208}, kGemv4Go(weights.TypeQ6_K))
}

// TestTwinsGroupKernels: the 16-row group decoders (q4_0/q5_0/q8_0 and
// q4_K/q6_K) and the gemm16 kernels for 1..6 columns.
func TestTwinsGroupKernels(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(95, 96))
	const k = 512
	for _, c := range []struct {
		t   weights.Type
		asm func(w *byte, wstride, nb int, dst *byte)
	}{{weights.TypeQ4_0, dec16Q4_0}, {weights.TypeQ5_0, dec16Q5_0}, {weights.TypeQ8_0, dec16Q8_0}} {
		w, _, x40, _ := gemm16Case(rng, c.t, 16, k, 6)
		nb, rs := k/32, k/32*c.t.TypeSize()
		got, want := make([]byte, nb*w16BlockSize), make([]byte, nb*w16BlockSize)
		c.asm(&w[0], rs, nb, &got[0])
		dec16Go(c.t)(&w[0], rs, nb, &want[0])
		if string(got) != string(want) {
			t.Fatalf("%s: dec16 differs from its twin", c.t)
		}
		for nc := 1; nc <= 6; nc++ {
			g, wo := make([]float32, 6*32), make([]float32, 6*32)
			gemm16Kernels[nc-1](&got[0], &x40[0], nb*x40BlockSize, nb, &g[0], 32)
			gemm16GoKernel(nc)(&got[0], &x40[0], nb*x40BlockSize, nb, &wo[0], 32)
			if i := sameBits(g, wo); i >= 0 {
				t.Fatalf("%s gemm16x%d out[%d] = %g, twin %g", c.t, nc, i, g[i], wo[i])
			}
		}
	}
	for _, typ := range []weights.Type{weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K} {
		w, _, _ := gemmK16Case(rng, typ, k, 1)
		nb, rs := k/256, k/256*typ.TypeSize()
		got, want := make([]byte, nb*k16BlockSize), make([]byte, nb*k16BlockSize)
		k16Decoder(typ)(&w[0], rs, nb, &got[0])
		decK16Go(typ)(&w[0], rs, nb, &want[0])
		if string(got) != string(want) {
			t.Fatalf("%s: k16 group decoder differs from its twin", typ)
		}
	}
}

// TestTwinsSiLUAndQ5: siluV16 and q5_0Gemv4 (with an odd block count, so
// the last block stays outside the pairs as runQ5Gemv leaves it).
func TestTwinsSiLUAndQ5(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	rng := rand.New(rand.NewPCG(97, 98))
	v := make([]float32, 64)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * 8)
	}
	g := append([]float32(nil), v...)
	siluV16(&g[0], 4)
	siluV16Go(&v[0], 4)
	if i := sameBits(g, v); i >= 0 {
		t.Fatalf("siluV16[%d] = %g, twin %g", i, g[i], v[i])
	}
	for _, nb := range []int{1, 2, 7, 64} {
		w := randBlocks(rng, 4*nb, q5_0Size, 0)
		xq := randActQ8_0(rng, nb)
		xp := make([]byte, nb/2*xpBlockSize+1)
		packQ5(xp, xq, nb)
		var ga, wa [64]float32
		for i := range ga {
			ga[i], wa[i] = 1, 1 // both must start from zero
		}
		q5_0Gemv4(&w[0], nb*q5_0Size, &xp[0], nb/2, &ga)
		q5_0Gemv4Go(&w[0], nb*q5_0Size, &xp[0], nb/2, &wa)
		if i := sameBits(ga[:], wa[:]); i >= 0 {
			t.Fatalf("nb=%d q5_0Gemv4 acc[%d] = %g, twin %g", nb, i, ga[i], wa[i])
		}
	}
}
