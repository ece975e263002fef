package kernels

import (
	"encoding/binary"
	"math"

	"dayi/weights"
)

// Pure-Go dot products between one weight row (raw ggml blocks) and one row of
// quantized activations. They define dayi's numerics; the assembly kernels are
// tested to equal them bit for bit.
//
// Integer parts are exact, as in ggml. Float parts follow ggml-cpu's own x86
// order, so that on the same operands dayi computes the same float32 as
// llama.cpp's AVX2/AVX-512 builds:
//
// 32-element block types (q4_0, q8_0 x q8_0; q4_1, q5_1 x q8_1; q5_0 see
// dotQ5_0): the
// __AVX2__ paths of ggml_vec_dot_q{4,5,8}_0_q8_0 / q{4,5}_1_q8_1
// (ggml/src/ggml-cpu/arch/x86/quants.c), which llamafile's tinyBLAS_Q0_AVX
// (ggml-cpu/llamafile/sgemm.cpp, used by llama.cpp for prompt batches)
// repeats per output: block b's 32 products are summed in 8 int32 lanes, lane
// l = elements 4l..4l+3 (mul_sum_i8_pairs_float: maddubs+madd or dpbusd);
// each lane sum s is converted to float32 and acc[l] = fma(d_b, s, acc[l])
// in 8 float32 lanes (_mm256_fmadd_ps, one rounding), d_b = d_w*d_x (exact:
// two f16 values); then hsum8 (hsum_float_8). q4_1/q5_1 add
// sum_b m_w*s_x, accumulated sequentially, after the reduction.
//
// Super-block types (q2_K..q6_K): per super-block the integer sum
// isum = sum_g scale_g * sum_{e in g} q_e*y_e (and imin = sum_g min_g*bsum_g
// for types with mins) is exact; then acc += float32(isum)*d and
// acc -= float32(imin)*dmin, sequentially, with d = f16(d_w)*d_x rounded to
// float32 as ggml does. (Not yet ggml's per-lane AVX2 order.)

// fma32Go is a*b+c rounded once to float32, as VFMADD231PS computes it:
// fma32, the twins' fused multiply-add, on every architecture without a
// float32 FMA instruction Go can reach (arm64 has one: fma32_arm64.s).
// float32(math.FMA(...)) would round twice (to float64, then float32); here
// the product is exact in float64 (two 24-bit significands), the sum's
// rounding error is recovered exactly (TwoSum), and it decides the one case
// where rounding the float64 sum to float32 can differ from rounding the
// exact value: a float64 sum that lies exactly halfway between two float32s.
func fma32Go(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cf := float64(c)
	s := p + cf
	r := float32(s)
	if float64(r) == s || s != s || math.IsInf(s, 0) {
		return r
	}
	bv := s - p
	e := (p - (s - bv)) + (cf - bv) // s + e == p + c exactly
	if e == 0 {
		return r
	}
	o := math.Nextafter32(r, float32(math.Inf(-1)))
	if float64(r) < s {
		o = math.Nextafter32(r, float32(math.Inf(1)))
	}
	if float64(r)+float64(o) != 2*s { // not a tie: float32(s) is right
		return r
	}
	if (e > 0) == (o > r) {
		return o
	}
	return r
}

// hsum8 is ggml's hsum_float_8 (arch/x86/quants.c) and tinyBLAS's
// hsum(__m256): the high 128 bits added to the low, then movehl, then
// movehdup.
func hsum8(a *[8]float32) float32 {
	t0, t1, t2, t3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return (t0 + t2) + (t1 + t3)
}

// reduce16 sums 16 lanes pairwise: (i, i+8), then (i, i+4), then (0,2),(1,3),
// then the last pair - the order of _mm512_reduce_add_ps (GCC's and
// clang's expansion alike) and of a 512-bit fold followed by hsum_float_8.
func reduce16(a *[16]float32) float32 {
	var h [8]float32
	for i := range h {
		h[i] = a[i] + a[i+8]
	}
	t0, t1, t2, t3 := h[0]+h[4], h[1]+h[5], h[2]+h[6], h[3]+h[7]
	return (t0 + t2) + (t1 + t3)
}

func f16(b []byte) float32 { return weights.FP16ToFP32(binary.LittleEndian.Uint16(b)) }

// laneFMA adds block lane sums s (lane l = elements 4l..4l+3) times d to acc.
func laneFMA(acc *[8]float32, s *[8]int32, d float32) {
	for l := range acc {
		acc[l] = fma32(d, float32(s[l]), acc[l])
	}
}

// dotQ4_0 is q4_0 · q8_0 over nb blocks.
func dotQ4_0(w, x []byte, nb int) float32 {
	var acc [8]float32
	for b := 0; b < nb; b++ {
		wb := w[b*18 : b*18+18]
		xb := x[b*34 : b*34+34]
		qs := wb[2:18]
		xq := xb[2:34]
		var s [8]int32
		for e := 0; e < 16; e++ { // low nibbles: elements 0..15, high: 16..31
			s[e/4] += (int32(qs[e]&15) - 8) * int32(int8(xq[e]))
			s[4+e/4] += (int32(qs[e]>>4) - 8) * int32(int8(xq[16+e]))
		}
		laneFMA(&acc, &s, f16(wb)*f16(xb))
	}
	return hsum8(&acc)
}

// dotQ8_0 is q8_0 · q8_0 over nb blocks.
func dotQ8_0(w, x []byte, nb int) float32 {
	var acc [8]float32
	for b := 0; b < nb; b++ {
		wb := w[b*34 : b*34+34]
		xb := x[b*34 : b*34+34]
		wq := wb[2:34]
		xq := xb[2:34]
		var s [8]int32
		for e := 0; e < 32; e++ {
			s[e/4] += int32(int8(wq[e])) * int32(int8(xq[e]))
		}
		laneFMA(&acc, &s, f16(wb)*f16(xb))
	}
	return hsum8(&acc)
}

// dotQ5_0 is q5_0 · q8_0 over nb blocks (block: f16 d, u32 qh, 16 bytes qs)
// in dayi's earlier "lane order", not yet ggml's (see the package notes):
// block b's lane sums go to acc[(b&1)*8+l] += float32(s)*d_b, multiply and
// add rounded separately, then reduce16. On stories260K-q4_k_m this order
// reproduces llama.cpp's logits where the FMA order does not (one q8_0
// rounding boundary on one prompt), so it stays until that is understood.
func dotQ5_0(w, x []byte, nb int) float32 {
	var acc [16]float32
	for b := 0; b < nb; b++ {
		q5_0Lanes(&acc, (b&1)*8, w[b*22:b*22+22], x[b*34:b*34+34])
	}
	return reduce16(&acc)
}

// q5_0Lanes adds one block's 8 lane sums times d_w*d_x to acc[base:base+8]
// (multiply and add rounded separately): dotQ5_0's step, shared with the
// odd last block of runQ5Gemv.
func q5_0Lanes(acc *[16]float32, base int, wb, xb []byte) {
	d := f16(wb) * f16(xb)
	qh := binary.LittleEndian.Uint32(wb[2:])
	qs := wb[6:22]
	xq := xb[2:34]
	for l := 0; l < 8; l++ {
		var s int32
		for e := 4 * l; e < 4*l+4; e++ {
			nib := qs[e&15]
			if e >= 16 {
				nib >>= 4
			}
			q := int32(nib&15) | int32((qh>>uint(e))&1)<<4
			s += (q - 16) * int32(int8(xq[e]))
		}
		acc[base+l] += float32(float32(s) * d)
	}
}

// dotQx_1 is q4_1 · q8_1 or q5_1 · q8_1 over nb blocks.
func dotQx_1(w, x []byte, nb int, five bool) float32 {
	var acc [8]float32
	var summ float32
	bs := 20
	if five {
		bs = 24
	}
	for b := 0; b < nb; b++ {
		wb := w[b*bs : b*bs+bs]
		xb := x[b*36 : b*36+36]
		summ += float32(f16(wb[2:]) * f16(xb[2:])) // exact product: fused or not alike
		var qh uint32
		qs := wb[4:20]
		if five {
			qh = binary.LittleEndian.Uint32(wb[4:])
			qs = wb[8:24]
		}
		xq := xb[4:36]
		var s [8]int32
		for e := 0; e < 32; e++ {
			nib := qs[e&15]
			if e >= 16 {
				nib >>= 4
			}
			q := int32(nib&15) | int32((qh>>uint(e))&1)<<4
			s[e/4] += q * int32(int8(xq[e]))
		}
		laneFMA(&acc, &s, f16(wb)*f16(xb))
	}
	return hsum8(&acc) + summ
}

// kblock is one decoded k-quant super-block: 256 signed integer quants, 16
// integer group scales and mins (32-element sub-blocks are given as two equal
// 16-groups), and the f16 super-scales.
type kblock struct {
	q       [256]int8
	sc, mn  [16]int32
	d, dmin float32
	hasMin  bool
}

// scaleMinK4 is ggml's get_scale_min_k4 for q4_K/q5_K 6-bit scales.
func scaleMinK4(j int, s []byte) (sc, m int32) {
	if j < 4 {
		return int32(s[j] & 63), int32(s[j+4] & 63)
	}
	return int32(s[j+4]&0xF) | int32(s[j-4]>>6)<<4, int32(s[j+4]>>4) | int32(s[j]>>6)<<4
}

// decodeK unpacks one super-block of type t (layouts from ggml-common.h,
// element order from dequantize_row_* in ggml-quants.c).
func decodeK(t weights.Type, blk []byte, kb *kblock) {
	switch t {
	case weights.TypeQ2_K: // scales[16], qs[64], d, dmin
		sc := blk[0:16]
		qs := blk[16:80]
		kb.d, kb.dmin, kb.hasMin = f16(blk[80:]), f16(blk[82:]), true
		for g := 0; g < 16; g++ {
			kb.sc[g], kb.mn[g] = int32(sc[g]&0xF), int32(sc[g]>>4)
		}
		for half := 0; half < 2; half++ {
			q := qs[half*32 : half*32+32]
			for j := 0; j < 4; j++ {
				for l := 0; l < 32; l++ {
					kb.q[half*128+j*32+l] = int8((q[l] >> uint(2*j)) & 3)
				}
			}
		}
	case weights.TypeQ3_K: // hmask[32], qs[64], scales[12], d
		hm := blk[0:32]
		qs := blk[32:96]
		s := blk[96:108]
		kb.d, kb.dmin, kb.hasMin = f16(blk[108:]), 0, false
		a0 := binary.LittleEndian.Uint32(s[0:])
		a1 := binary.LittleEndian.Uint32(s[4:])
		tmp := binary.LittleEndian.Uint32(s[8:])
		const m1, m2 = 0x03030303, 0x0f0f0f0f
		aux := [4]uint32{
			a0&m2 | (tmp>>0&m1)<<4,
			a1&m2 | (tmp>>2&m1)<<4,
			a0>>4&m2 | (tmp>>4&m1)<<4,
			a1>>4&m2 | (tmp>>6&m1)<<4,
		}
		for g := 0; g < 16; g++ {
			kb.sc[g] = int32(int8(byte(aux[g/4]>>(8*uint(g%4))))) - 32
			kb.mn[g] = 0
		}
		for half := 0; half < 2; half++ {
			q := qs[half*32 : half*32+32]
			for j := 0; j < 4; j++ {
				m := byte(1) << uint(half*4+j)
				for l := 0; l < 32; l++ {
					v := int8((q[l] >> uint(2*j)) & 3)
					if hm[l]&m == 0 {
						v -= 4
					}
					kb.q[half*128+j*32+l] = v
				}
			}
		}
	case weights.TypeQ4_K, weights.TypeQ5_K: // d, dmin, scales[12], [qh[32]], qs[128]
		kb.d, kb.dmin, kb.hasMin = f16(blk), f16(blk[2:]), true
		s := blk[4:16]
		five := t == weights.TypeQ5_K
		qs := blk[16:144]
		var qh []byte
		if five {
			qh = blk[16:48]
			qs = blk[48:176]
		}
		for j := 0; j < 8; j++ {
			sc, m := scaleMinK4(j, s)
			kb.sc[2*j], kb.sc[2*j+1], kb.mn[2*j], kb.mn[2*j+1] = sc, sc, m, m
		}
		for c := 0; c < 4; c++ {
			q := qs[c*32 : c*32+32]
			for l := 0; l < 32; l++ {
				lo, hi := q[l]&15, q[l]>>4
				if five {
					lo |= (qh[l] >> uint(2*c) & 1) << 4
					hi |= (qh[l] >> uint(2*c+1) & 1) << 4
				}
				kb.q[c*64+l] = int8(lo)
				kb.q[c*64+32+l] = int8(hi)
			}
		}
	case weights.TypeQ6_K: // ql[128], qh[64], scales[16] int8, d
		ql := blk[0:128]
		qh := blk[128:192]
		sc := blk[192:208]
		kb.d, kb.dmin, kb.hasMin = f16(blk[208:]), 0, false
		for g := 0; g < 16; g++ {
			kb.sc[g], kb.mn[g] = int32(int8(sc[g])), 0
		}
		for half := 0; half < 2; half++ {
			l8 := ql[half*64 : half*64+64]
			h8 := qh[half*32 : half*32+32]
			o := half * 128
			for l := 0; l < 32; l++ {
				kb.q[o+l] = int8(l8[l]&15|(h8[l]>>0&3)<<4) - 32
				kb.q[o+l+32] = int8(l8[l+32]&15|(h8[l]>>2&3)<<4) - 32
				kb.q[o+l+64] = int8(l8[l]>>4|(h8[l]>>4&3)<<4) - 32
				kb.q[o+l+96] = int8(l8[l+32]>>4|(h8[l]>>6&3)<<4) - 32
			}
		}
	}
}

// dotK is a k-quant super-block row · q8_K row over nb super-blocks.
func dotK(t weights.Type, w, x []byte, nb int, kb *kblock) float32 {
	ts := t.TypeSize()
	var acc float32
	for b := 0; b < nb; b++ {
		decodeK(t, w[b*ts:b*ts+ts], kb)
		xb := x[b*q8_KSize : b*q8_KSize+q8_KSize]
		dx := math.Float32frombits(binary.LittleEndian.Uint32(xb))
		xq := xb[4:260]
		var isum, imin int32
		for g := 0; g < 16; g++ {
			var s int32
			for e := g * 16; e < g*16+16; e++ {
				s += int32(kb.q[e]) * int32(int8(xq[e]))
			}
			isum += kb.sc[g] * s
			if kb.hasMin {
				imin += kb.mn[g] * int32(int16(binary.LittleEndian.Uint16(xb[260+2*g:])))
			}
		}
		acc += float32(float32(isum) * float32(kb.d*dx))
		if kb.hasMin {
			acc -= float32(float32(imin) * float32(kb.dmin*dx))
		}
	}
	return acc
}

// dotF16 is an f16 weight row · f16 activations in ggml_vec_dot_f16's
// order for AVX-512 (ggml-cpu/vec.cpp with simd-mappings.h: GGML_F16_EPR 16,
// GGML_F16_STEP 64): elements i+16j+l of each 64-element step go to lane l
// of accumulator j (products of two f16 values are exact in float32, so
// the FMA is a plain add); then GGML_F32x16_REDUCE (sum0+sum2, sum1+sum3,
// then their sum, then _mm512_reduce_add_ps = reduce16), and the last k%64
// elements are added one by one in float64 (ggml_float).
func dotF16(w []byte, x []uint16, k int) float32 {
	var sum [4][16]float32
	np := k &^ 63
	for i := 0; i < np; i += 64 {
		for j := range sum {
			for l := range sum[j] {
				e := i + 16*j + l
				sum[j][l] += float32(weights.FP16ToFP32(binary.LittleEndian.Uint16(w[2*e:])) * weights.FP16ToFP32(x[e]))
			}
		}
	}
	return f16Tail(w, x, np, k, reduce4x16(&sum))
}

// reduce4x16 is GGML_F32x16_REDUCE over 4 accumulators.
func reduce4x16(s *[4][16]float32) float32 {
	for l := 0; l < 16; l++ {
		s[0][l] += s[2][l]
		s[1][l] += s[3][l]
	}
	for l := 0; l < 16; l++ {
		s[0][l] += s[1][l]
	}
	return reduce16(&s[0])
}

// f16Tail adds elements [from,k) to the partial sum part in float64, as
// ggml_vec_dot_f16's leftover loop does, and rounds the total to float32.
func f16Tail(w []byte, x []uint16, from, k int, part float32) float32 {
	sumf := float64(part)
	for i := from; i < k; i++ {
		sumf += float64(float32(weights.FP16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) * weights.FP16ToFP32(x[i])))
	}
	return float32(sumf)
}

// f16TailF is f16Tail for activations given as float32 copies of f16 values.
func f16TailF(w []byte, x []float32, from, k int, part float32) float32 {
	sumf := float64(part)
	for i := from; i < k; i++ {
		sumf += float64(weights.FP16ToFP32(uint16(w[2*i])|uint16(w[2*i+1])<<8) * x[i])
	}
	return float32(sumf)
}

// dotF16Tiny is an f16 weight row · f16 activations in the order of
// llamafile's tinyBLAS<16, __m512> (ggml-cpu/llamafile/sgemm.cpp), which
// llama.cpp's AVX-512 build uses for f16 matmuls of at least 2 activation
// rows when k%16 == 0 and the weight rows are a multiple of 4: one
// accumulator of 16 lanes (lane = i mod 16, exact products), then hsum =
// _mm512_reduce_add_ps = reduce16. Elements beyond a multiple of 16 (which
// tinyBLAS never sees) go to lanes 0.. as well.
func dotF16Tiny(w []byte, x []uint16, k int) float32 {
	var acc [16]float32
	i := 0
	for ; i+16 <= k; i += 16 {
		for l := 0; l < 16; l++ {
			acc[l] += weights.FP16ToFP32(binary.LittleEndian.Uint16(w[2*(i+l):])) * weights.FP16ToFP32(x[i+l])
		}
	}
	for l := 0; i < k; i, l = i+1, l+1 {
		acc[l] += weights.FP16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) * weights.FP16ToFP32(x[i])
	}
	return reduce16(&acc)
}

// f16TinyOrder reports whether llama.cpp's AVX-512 build runs an f16 matmul
// of n weight rows, inner size k and m activation rows through tinyBLAS
// (llamafile_sgemm: n >= 2 activation rows "prompt processing only",
// k % 16 == 0, weight rows % 4 == 0) rather than ggml_vec_dot_f16.
func f16TinyOrder(n, k, m int) bool { return m >= 2 && k%16 == 0 && n%4 == 0 }

// dotBF16 is dotF16 for bf16 (bf16 products are exact in float32 as well).
func dotBF16(w []byte, x []uint16, k int) float32 {
	var acc [16]float32
	i := 0
	for ; i+16 <= k; i += 16 {
		for l := 0; l < 16; l++ {
			acc[l] += weights.BF16ToFP32(binary.LittleEndian.Uint16(w[2*(i+l):])) * weights.BF16ToFP32(x[i+l])
		}
	}
	for l := 0; i < k; i, l = i+1, l+1 {
		acc[l] += weights.BF16ToFP32(binary.LittleEndian.Uint16(w[2*i:])) * weights.BF16ToFP32(x[i])
	}
	return reduce16(&acc)
}

// dotF32 is an f32 weight row · f32 activations in 16 lanes, each product
// rounded before the add (no FMA).
func dotF32(w []byte, x []float32, k int) float32 {
	var acc [16]float32
	i := 0
	for ; i+16 <= k; i += 16 {
		for l := 0; l < 16; l++ {
			acc[l] += float32(math.Float32frombits(binary.LittleEndian.Uint32(w[4*(i+l):])) * x[i+l])
		}
	}
	for l := 0; i < k; i, l = i+1, l+1 {
		acc[l] += float32(math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * x[i])
	}
	return reduce16(&acc)
}
