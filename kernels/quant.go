package kernels

import (
	"encoding/binary"
	"math"

	"dayi/weights"
)

// Activation quantizers. ggml-cpu converts a matmul's f32 activations to the
// weight type's vec_dot_type before the dot products; these reproduce the
// converters llama.cpp's x86 build uses (ggml/src/ggml-cpu/arch/x86/quants.c):
//
//   - quantize_row_q8_0 / q8_1 (AVX/AVX2 path): d = max|x|/127,
//     id = max != 0 ? 127/max : 0, q = round-half-even(x*id)
//     (_mm256_round_ps with _MM_ROUND_NEAREST), unlike the _ref code's
//     roundf(x*(1/d)). q8_1 also stores s = d*sum(q) as f16.
//   - quantize_row_q8_K: the x86 build calls quantize_row_q8_K_ref
//     (ggml-quants.c): iscale = -127/max where max is the signed value of
//     largest magnitude, q = min(127, nearest_int(iscale*x)), d = 1/iscale,
//     plus 16 int16 bsums.
//
// The *Go functions here are the portable twins; quantizeQ8_0/Q8_1/Q8_K
// (quant_amd64.go, quant_other.go) pick the AVX2 assembly in quant_amd64.s
// when the CPU has it, which must produce the same bytes.

const (
	q8_0Size = 34  // f16 d + 32 int8
	q8_1Size = 36  // f16 d + f16 s + 32 int8
	q8_KSize = 292 // f32 d + 256 int8 + 16 int16 bsums
)

// rintf rounds half to even, as _mm256_round_ps(_MM_ROUND_NEAREST) under the
// default MXCSR.
func rintf(f float32) float32 { return float32(math.RoundToEven(float64(f))) }

// cvtps2dq converts like _mm256_cvtps_epi32 followed by the saturating packs
// ggml uses to reach int8 (values here are already integral).
func sat8(f float32) int8 {
	switch {
	case f != f: // NaN: cvtps2dq gives INT_MIN, packs saturate to -128
		return -128
	case f >= 127:
		return 127
	case f <= -128:
		return -128
	}
	return int8(int32(f))
}

// absmax32 is max|x| over a block as ggml's _mm256_max_ps tree computes it
// (for non-NaN input the order does not matter).
func absmax(x []float32) float32 {
	var m float32
	for _, v := range x {
		a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		if a > m {
			m = a
		}
	}
	return m
}

// quantizeQ8_0Go writes len(x)/32 q8_0 blocks to dst (x86 SIMD semantics).
func quantizeQ8_0Go(dst []byte, x []float32) {
	for b := 0; b+32 <= len(x); b += 32 {
		blk := dst[b/32*q8_0Size : b/32*q8_0Size+q8_0Size]
		xs := x[b : b+32]
		mx := absmax(xs)
		d := mx / 127
		binary.LittleEndian.PutUint16(blk, weights.FP32ToFP16(d))
		var id float32
		if mx != 0 {
			id = 127 / mx
		}
		q := blk[2:34]
		for j, v := range xs {
			q[j] = byte(sat8(rintf(v * id)))
		}
	}
}

// quantizeQ8_1Go writes len(x)/32 q8_1 blocks to dst (x86 AVX2 semantics).
func quantizeQ8_1Go(dst []byte, x []float32) {
	for b := 0; b+32 <= len(x); b += 32 {
		blk := dst[b/32*q8_1Size : b/32*q8_1Size+q8_1Size]
		xs := x[b : b+32]
		mx := absmax(xs)
		d := mx / 127
		binary.LittleEndian.PutUint16(blk, weights.FP32ToFP16(d))
		var id float32
		if mx != 0 {
			id = 127 / mx
		}
		q := blk[4:36]
		var sum int32
		for j, v := range xs {
			iv := sat8(rintf(v * id))
			q[j] = byte(iv)
			sum += int32(iv)
		}
		binary.LittleEndian.PutUint16(blk[2:], weights.FP32ToFP16(d*float32(sum)))
	}
}

// nearestInt is ggml's nearest_int (round half to even through the 1.5*2^23
// trick); like ggml it is only meaningful for |f| <= 4194303.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// quantizeQ8_KGo writes len(x)/256 q8_K blocks to dst (quantize_row_q8_K_ref).
func quantizeQ8_KGo(dst []byte, x []float32) {
	for b := 0; b+256 <= len(x); b += 256 {
		blk := dst[b/256*q8_KSize : b/256*q8_KSize+q8_KSize]
		xs := x[b : b+256]
		var mx, amax float32
		for _, v := range xs {
			a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
			if a > amax {
				amax, mx = a, v
			}
		}
		q := blk[4:260]
		if amax == 0 {
			binary.LittleEndian.PutUint32(blk, 0)
			clear(blk[4:])
			continue
		}
		iscale := -127 / mx
		for j, v := range xs {
			iv := nearestInt(iscale * v)
			if iv > 127 {
				iv = 127
			}
			q[j] = byte(int8(iv))
		}
		for g := 0; g < 16; g++ {
			var s int16
			for _, c := range q[g*16 : g*16+16] {
				s += int16(int8(c))
			}
			binary.LittleEndian.PutUint16(blk[260+2*g:], uint16(s))
		}
		binary.LittleEndian.PutUint32(blk, math.Float32bits(1/iscale))
	}
}
