package kernels

import (
	"encoding/binary"
	"math"

	"golang.org/x/sys/cpu"
)

// NEON kernels (dot_arm64.s), bit for bit dotQ4_0, dotQ8_0 and dotK for
// q4_K, q5_K and q6_K.

//go:noescape
func q4_0DotNEON(w, x *byte, nb int) float32

//go:noescape
func q8_0DotNEON(w, x *byte, nb int) float32

// hasNEONDot: the CPU has SDOT (FEAT_DotProd, HWCAP_ASIMDDP), which the
// kernels need. Without it (Cortex-A72/A53 boards such as the Raspberry
// Pi 4) the pure-Go twins run.
var hasNEONDot = cpu.ARM64.HasASIMDDP

func init() {
	if hasNEONDot {
		kq4_0 = wrap32(q4_0DotNEON, 18)
		kq8_0 = wrap32(q8_0DotNEON, 34)
		kq4_K = dotQ4_KNEON
		kq6_K = dotQ6_KNEON
		kq5_K = dotQ5_KNEON
	}
}

//go:noescape
func q4_KSumsNEON(w, x *byte, nb int, s *int32)

//go:noescape
func q6_KSumsNEON(w, x *byte, nb int, s *int32)

//go:noescape
func q5_KSumsNEON(w, x *byte, nb int, s *int32)

// kSumsChunk super-blocks have their group sums computed per kernel call
// (16 KiB of a row: a stack array of 2 KiB, no allocation per dot).
const kSumsChunk = 32

// dotQ4_KNEON is dotK for q4_K: the integer sums from q4_KSumsNEON, then per
// super-block dotK's isum/imin and float steps (a q4_K sub-block of 32 is
// dotK's two 16-groups with one scale and min, so sc·(s₀+s₁) is its isum).
func dotQ4_KNEON(w, x []byte, nb int, _ *kblock) float32 {
	return dotQx_KNEON(false, w, x, nb)
}

// dotQ5_KNEON is dotK for q5_K, as dotQ4_KNEON (the same scales and mins).
func dotQ5_KNEON(w, x []byte, nb int, _ *kblock) float32 {
	return dotQx_KNEON(true, w, x, nb)
}

// dotQx_KNEON finishes q4_K (q5_K with five) rows from the sub-block sums
// of q4_KSumsNEON (q5_KSumsNEON). The kernels are called directly, not
// through a func value: //go:noescape then keeps s on the stack (an
// indirect call moved it to the heap, an allocation per dot).
func dotQx_KNEON(five bool, w, x []byte, nb int) float32 {
	ws := 144
	if five {
		ws = 176
	}
	var s [kSumsChunk * 8]int32
	var acc float32
	for b0 := 0; b0 < nb; b0 += kSumsChunk {
		n := min(kSumsChunk, nb-b0)
		_ = w[(b0+n)*ws-1]
		_ = x[(b0+n)*q8_KSize-1]
		if five {
			q5_KSumsNEON(&w[b0*ws], &x[b0*q8_KSize], n, &s[0])
		} else {
			q4_KSumsNEON(&w[b0*ws], &x[b0*q8_KSize], n, &s[0])
		}
		for i := 0; i < n; i++ {
			blk := w[(b0+i)*ws : (b0+i+1)*ws]
			xb := x[(b0+i)*q8_KSize : (b0+i+1)*q8_KSize]
			dx := math.Float32frombits(binary.LittleEndian.Uint32(xb))
			// The eight 6-bit scales and mins at once, as ggml's
			// ggml_vec_dot_q4_K_q8_K unpacks them (kmask1..3 on three
			// words): scales in the bytes of u0, u1, mins in u2, u3;
			// scaleMinK4's values, TestNEONKDotTwins checks.
			a0 := binary.LittleEndian.Uint32(blk[4:])
			a1 := binary.LittleEndian.Uint32(blk[8:])
			a2 := binary.LittleEndian.Uint32(blk[12:])
			const km1, km2, km3 = 0x3f3f3f3f, 0x0f0f0f0f, 0x03030303
			scs := uint64(a0&km1) | uint64(a2&km2|(a0>>6&km3)<<4)<<32
			mns := uint64(a1&km1) | uint64(a2>>4&km2|(a1>>6&km3)<<4)<<32
			var isum, imin int32
			for j := 0; j < 8; j++ {
				isum += int32(byte(scs>>(8*j))) * s[8*i+j]
				imin += int32(byte(mns>>(8*j))) * (int32(int16(binary.LittleEndian.Uint16(xb[260+4*j:]))) +
					int32(int16(binary.LittleEndian.Uint16(xb[262+4*j:]))))
			}
			acc += float32(float32(isum) * float32(f16(blk)*dx))
			acc -= float32(float32(imin) * float32(f16(blk[2:])*dx))
		}
	}
	return acc
}

// dotQ6_KNEON is dotK for q6_K: the integer sums from q6_KSumsNEON, then
// dotK's per super-block isum and float step.
func dotQ6_KNEON(w, x []byte, nb int, _ *kblock) float32 {
	const ws = 210
	var s [kSumsChunk * 16]int32
	var acc float32
	for b0 := 0; b0 < nb; b0 += kSumsChunk {
		n := min(kSumsChunk, nb-b0)
		_ = w[(b0+n)*ws-1]
		_ = x[(b0+n)*q8_KSize-1]
		q6_KSumsNEON(&w[b0*ws], &x[b0*q8_KSize], n, &s[0])
		for i := 0; i < n; i++ {
			blk := w[(b0+i)*ws : (b0+i+1)*ws]
			xb := x[(b0+i)*q8_KSize : (b0+i+1)*q8_KSize]
			dx := math.Float32frombits(binary.LittleEndian.Uint32(xb))
			var isum int32
			for g := 0; g < 16; g++ {
				isum += int32(int8(blk[192+g])) * s[16*i+g]
			}
			acc += float32(float32(isum) * float32(f16(blk[208:])*dx))
		}
	}
	return acc
}
