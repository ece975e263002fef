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
// Integer parts are exact, as in ggml. Float parts follow a fixed order chosen
// so SIMD code can reproduce it (ggml's own order depends on the ISA and on
// whether llamafile/repack kernels run, so bit equality with ggml is not
// attainable anyway; differences are a few ulps of the result):
//
// 32-element block types (q4_0, q5_0, q8_0, q4_1, q5_1), "lane order":
// block b's 32 products are summed in 8 integer lanes of 4 consecutive
// elements (as ggml's mul_sum_i8_pairs / VPDPBUSD lanes); each lane sum s is
// converted to float32 and acc[(b&1)*8+l] += float32(s)*d_b with
// d_b = d_w*d_x (exact: two f16 values), multiply and add rounded separately
// (no FMA). The 16 lanes are reduced as reduce16 below. q4_1/q5_1 add
// sum_b m_w*s_x, accumulated sequentially, after the reduction.
//
// Super-block types (q2_K..q6_K): per super-block the integer sum
// isum = sum_g scale_g * sum_{e in g} q_e*y_e (and imin = sum_g min_g*bsum_g
// for types with mins) is exact; then acc += float32(isum)*d and
// acc -= float32(imin)*dmin, sequentially, with d = f16(d_w)*d_x rounded to
// float32 as ggml does.

// reduce16 sums 16 lanes pairwise: (i, i+8), then (i, i+4), then (0,2),(1,3),
// then the last pair - the order of a 512-bit fold followed by ggml's
// hsum_float_8.
func reduce16(a *[16]float32) float32 {
	var h [8]float32
	for i := range h {
		h[i] = a[i] + a[i+8]
	}
	t0, t1, t2, t3 := h[0]+h[4], h[1]+h[5], h[2]+h[6], h[3]+h[7]
	return (t0 + t2) + (t1 + t3)
}

func f16(b []byte) float32 { return weights.FP16ToFP32(binary.LittleEndian.Uint16(b)) }

// dotQ4_0 is q4_0 · q8_0 over nb blocks.
func dotQ4_0(w, x []byte, nb int) float32 {
	var acc [16]float32
	for b := 0; b < nb; b++ {
		wb := w[b*18 : b*18+18]
		xb := x[b*34 : b*34+34]
		d := f16(wb) * f16(xb)
		qs := wb[2:18]
		xq := xb[2:34]
		base := (b & 1) * 8
		for l := 0; l < 4; l++ { // low nibbles: elements 0..15
			var s int32
			for e := 4 * l; e < 4*l+4; e++ {
				s += (int32(qs[e]&15) - 8) * int32(int8(xq[e]))
			}
			acc[base+l] += float32(float32(s) * d)
		}
		for l := 0; l < 4; l++ { // high nibbles: elements 16..31
			var s int32
			for e := 4 * l; e < 4*l+4; e++ {
				s += (int32(qs[e]>>4) - 8) * int32(int8(xq[16+e]))
			}
			acc[base+4+l] += float32(float32(s) * d)
		}
	}
	return reduce16(&acc)
}

// dotQ8_0 is q8_0 · q8_0 over nb blocks.
func dotQ8_0(w, x []byte, nb int) float32 {
	var acc [16]float32
	for b := 0; b < nb; b++ {
		wb := w[b*34 : b*34+34]
		xb := x[b*34 : b*34+34]
		d := f16(wb) * f16(xb)
		wq := wb[2:34]
		xq := xb[2:34]
		base := (b & 1) * 8
		for l := 0; l < 8; l++ {
			var s int32
			for e := 4 * l; e < 4*l+4; e++ {
				s += int32(int8(wq[e])) * int32(int8(xq[e]))
			}
			acc[base+l] += float32(float32(s) * d)
		}
	}
	return reduce16(&acc)
}

// dotQ5_0 is q5_0 · q8_0 over nb blocks (block: f16 d, u32 qh, 16 bytes qs).
func dotQ5_0(w, x []byte, nb int) float32 {
	var acc [16]float32
	for b := 0; b < nb; b++ {
		wb := w[b*22 : b*22+22]
		xb := x[b*34 : b*34+34]
		d := f16(wb) * f16(xb)
		qh := binary.LittleEndian.Uint32(wb[2:])
		qs := wb[6:22]
		xq := xb[2:34]
		base := (b & 1) * 8
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
	return reduce16(&acc)
}

// dotQx_1 is q4_1 · q8_1 or q5_1 · q8_1 over nb blocks.
func dotQx_1(w, x []byte, nb int, five bool) float32 {
	var acc [16]float32
	var summ float32
	bs := 20
	if five {
		bs = 24
	}
	for b := 0; b < nb; b++ {
		wb := w[b*bs : b*bs+bs]
		xb := x[b*36 : b*36+36]
		d := f16(wb) * f16(xb)
		summ += float32(f16(wb[2:]) * f16(xb[2:]))
		var qh uint32
		qs := wb[4:20]
		if five {
			qh = binary.LittleEndian.Uint32(wb[4:])
			qs = wb[8:24]
		}
		xq := xb[4:36]
		base := (b & 1) * 8
		for l := 0; l < 8; l++ {
			var s int32
			for e := 4 * l; e < 4*l+4; e++ {
				nib := qs[e&15]
				if e >= 16 {
					nib >>= 4
				}
				q := int32(nib&15) | int32((qh>>uint(e))&1)<<4
				s += q * int32(int8(xq[e]))
			}
			acc[base+l] += float32(float32(s) * d)
		}
	}
	return reduce16(&acc) + summ
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

// dotF16 is an f16 weight row · f16 activations: products of two f16 values
// are exact in float32, accumulated in 16 lanes (lane = i mod 16) and reduced
// with reduce16.
func dotF16(w []byte, x []uint16, k int) float32 {
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
