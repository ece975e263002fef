package main

import (
	"strconv"
	"strings"
)

// rows16k writes rows16k_amd64.s: the q4_K/q6_K Rows16 kernels (layout,
// reasoning and pure-Go twins in kernels/rows16k.go). The loops unroll a
// whole tile, interleaving PREFETCHT0 (and, with far, PREFETCHT2) of
// every cache line of the tile p.pf (q6_K: p.pf6) tiles ahead.
func rows16k(p params) []byte {
	var a asm
	a.text(r16kHead)
	// r16kSh: VPSHUFB controls that move byte q of row r's dword to the
	// dword's low byte (scales) or to both int16 halves (mins).
	for q := 0; q < 4; q++ {
		for half := 0; half < 2; half++ {
			v0, v1 := 8*half+q, 8*half+4+q
			a.l("DATA r16kSh<>+%d(SB)/8, $0x%08x%08x", 16*q+8*half, 0x80808000|v1, 0x80808000|v0)
		}
	}
	for q := 0; q < 4; q++ {
		for half := 0; half < 2; half++ {
			v0, v1 := 8*half+q, 8*half+4+q
			a.l("DATA r16kSh<>+%d(SB)/8, $0x%08x%08x", 64+16*q+8*half, 0x80008000|v1|v1<<16, 0x80008000|v0|v0<<16)
		}
	}
	a.l("GLOBL r16kSh<>(SB), RODATA|NOPTR, $128")
	a.text(r16kMacros)
	if p.pf != 0 {
		a.text(strings.Replace(r16kPrefetchDoc, "%d", trimFloat(p.pf), 1))
	}
	const t4, t6 = 2304, 3360 // tile bytes of q4_K and q6_K
	// pfFor returns what writes the prefetches of the line at off of a
	// tile of tile bytes: nothing for the forms without software prefetch
	// (hw: gemvR16Q4_KHW, ..., kernels/stream_amd64.go).
	pfFor := func(hw bool) func(off, tile int) {
		return func(off, tile int) {
			d := p.pf
			if tile == t6 {
				d = p.pf6
			}
			if d != 0 && !hw {
				a.l("\tPREFETCHT0  %d(SI)", int(d*float64(tile))+off)
				if p.far {
					a.l("\tPREFETCHT2  %d(SI)", int(2*d*float64(tile))+off)
				}
			}
		}
	}
	for _, hw := range []bool{false, true} {
		pf := pfFor(hw)
		a.text(gemvHead(r16kGemv4Head, "gemvR16Q4_K", hw))
		for l := 0; l < 4; l++ {
			pf(64*l, t4)
		}
		a.text(r16kGemv4Tile)
		for c := 0; c < 4; c++ {
			a.l("\tVPXORD      Z8, Z8, Z8")
			a.l("\tVPXORD      Z9, Z9, Z9")
			for t := 0; t < 8; t++ {
				off := 256 + 512*c + 64*t
				pf(off, t4)
				a.l("\tK4Q(%d, %d)", off, 64*c+4*t)
			}
			a.l("\tK4ACC(%d, %s)", c, k4Shuffles[c])
		}
		a.text(r16kGemv4Tail)
	}
	a.text(r16kDec4Head)
	for c := 0; c < 4; c++ {
		for t := 0; t < 8; t++ {
			i := 8*c + t
			a.l("\tVMOVDQU64  %d(SI), Z0", 256+64*i)
			a.l("\tVPSRLW     $4, Z0, Z1")
			a.l("\tVPANDD     Z29, Z0, Z0")
			a.l("\tVPANDD     Z29, Z1, Z1")
			a.l("\tVMOVDQU64  Z0, %d(DI)", 64*(16*c+t))
			a.l("\tVMOVDQU64  Z1, %d(DI)", 64*(16*c+8+t))
		}
	}
	k4DecScales(&a)
	decKTail(&a, 2304, "kd4")
	a.text(r16kDec4Rest)
	k6u := func(h, t int) {
		a.l("\tK6U(%d, %d, %d)", q6L(16*h+t), q6L(16*h+8+t), q6H(8*h+t))
	}
	for _, hw := range []bool{false, true} {
		pf := pfFor(hw)
		a.text(gemvHead(r16kGemv6Head, "gemvR16Q6_K", hw))
		// The q6_K decode kernel spreads the prefetches of the tile's 53
		// lines over its first instructions.
		next := 0
		pf6 := func(n int) {
			for ; n > 0 && next < (t6+63)/64; n-- {
				pf(64*next, t6)
				next++
			}
		}
		pf6(5)
		a.text(r16kGemv6Tile)
		for h := 0; h < 2; h++ {
			for tq := 0; tq < 2; tq++ {
				for v := 0; v < 4; v++ {
					a.l("\tVPBROADCASTD %d(DI), Z%d", 256+4*(8*h+2*v+tq), 8+v)
				}
				for t := 4 * tq; t < 4*tq+4; t++ {
					pf6(3)
					k6u(h, t)
					a.l("\tK6DOT(%d)", 128*h+4*t)
				}
				for v := 0; v < 4; v++ {
					a.l("\tK6SC(%d, Z%d)", 8*h+2*v+tq, 8+v)
				}
			}
		}
		pf6(100)
		a.text(r16kGemv6Tail)
	}
	a.text(r16kDec6Head)
	for h := 0; h < 2; h++ {
		for t := 0; t < 8; t++ {
			k6u(h, t)
			for v := 0; v < 4; v++ {
				a.l("\tVMOVDQU64    Z%d, %d(DI)", 3+v, 64*(32*h+8*v+t))
			}
		}
	}
	for g := 0; g < 16; g++ {
		a.l("\tVPMOVSXBD    %d(SI), Z12", 32+16*g)
		a.l("\tVMOVDQU64    Z12, %d(DI)", 4096+64*g)
	}
	for j := 0; j < 8; j++ {
		a.l("\tVMOVDQU64    Z30, %d(DI)", 5120+64*j)
	}
	a.text(r16kDec6Tail)
	rows16k5(&a, pfFor)
	return a.bytes()
}

// k4Shuffles are K4ACC's scale and min controls and registers for chunk c
// of a q4_K/q5_K super-block (sub-blocks 2c and 2c+1).
var k4Shuffles = [4]string{"Z12, Z13, Z16, Z17, Z20, Z21", "Z14, Z15, Z18, Z19, Z20, Z21",
	"Z12, Z13, Z16, Z17, Z22, Z23", "Z14, Z15, Z18, Z19, Z22, Z23"}

// k4DecScales writes the q4_K/q5_K group decoders' scale part: the tile's
// scales and mins unpacked (K4SCALES), each sub-block scale stored twice
// to SC and each min as (m, m) to M of the k16 layout.
func k4DecScales(a *asm) {
	a.l("\tK4SCALES")
	for j := 0; j < 8; j++ {
		ss, sm := "Z20", "Z21"
		if j >= 4 {
			ss, sm = "Z22", "Z23"
		}
		a.l("\tVPSHUFB    Z%d, %s, Z10", 12+j%4, ss)
		a.l("\tVMOVDQU64  Z10, %d(DI)", 4096+128*j)
		a.l("\tVMOVDQU64  Z10, %d(DI)", 4096+128*j+64)
		a.l("\tVPSHUFB    Z%d, %s, Z11", 16+j%4, sm)
		a.l("\tVMOVDQU64  Z11, %d(DI)", 5120+64*j)
	}
}

// decKTail ends a q4_K/q5_K group decoder's loop body: d and dmin of the
// tile as float32 to the k16 layout, the next tile (tile bytes) and k16
// block, and the return after label+"loop".
func decKTail(a *asm, tile int, label string) {
	a.l("\tVCVTPH2PS  0(SI), Z10")
	a.l("\tVMOVUPS    Z10, 5632(DI)")
	a.l("\tVCVTPH2PS  32(SI), Z11")
	a.l("\tVMOVUPS    Z11, 5696(DI)")
	a.l("\tADDQ       $%d, SI", tile)
	a.l("\tADDQ       $5760, DI")
	a.l("\tDECQ       CX")
	a.l("\tJNZ        %sloop", label)
	a.l("")
	a.l("%sdone:", label)
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// rows16k5 writes the q5_K kernels: q4_K's with the fifth bit of chunk
// 8c+t from QH chunk t (bit 2c for the low nibbles, 2c+1 for the high),
// and the fold in dotK's order (rows16k.go).
// rows16k5 writes the q5_K kernels: gemvR16Q5_K, gemvR16Q5_KHW and
// decR16Q5_K, with pfFor(hw)'s prefetches.
func rows16k5(a *asm, pfFor func(hw bool) func(off, tile int)) {
	const t5 = 2816 // q5_K tile bytes
	a.l("")
	for _, hw := range []bool{false, true} {
		pf := pfFor(hw)
		a.text(gemvHead(r16kGemv5Head, "gemvR16Q5_K", hw))
		for l := 0; l < 4; l++ {
			pf(64*l, t5)
		}
		a.text(r16kGemv5Tile)
		for c := 0; c < 4; c++ {
			a.l("\tVPXORD      Z8, Z8, Z8")
			a.l("\tVPXORD      Z9, Z9, Z9")
			for t := 0; t < 8; t++ {
				off := q5Q(8*c + t)
				pf(off, t5)
				if c == 0 {
					pf(q5H(t), t5)
				}
				k5u(a, c, off, q5H(t))
				a.l("\tVPDPBUSD.BCST %d(DI), Z0, Z8", 64*c+4*t)
				a.l("\tVPDPBUSD.BCST %d(DI), Z1, Z9", 64*c+4*t+32)
			}
			a.l("\tK4ACC(%d, %s)", c, k4Shuffles[c])
		}
		a.text(r16kGemv5Tail)
	}
	a.text(r16kDec5Head)
	for c := 0; c < 4; c++ {
		for t := 0; t < 8; t++ {
			k5u(a, c, q5Q(8*c+t), q5H(t))
			a.l("\tVMOVDQU64  Z0, %d(DI)", 64*(16*c+t))
			a.l("\tVMOVDQU64  Z1, %d(DI)", 64*(16*c+8+t))
		}
	}
	k4DecScales(a)
	decKTail(a, t5, "kd5")
}

// k5u loads q5_K quant chunk 8c+t (at q) and QH chunk t (at qh) of the tile
// at SI and leaves in Z0 the 5-bit values of its low nibbles (nibble | bit
// 2c << 4) and in Z1 those of its high nibbles (| bit 2c+1 << 4). Word
// shifts move the bit to position 4 within its byte; the 0x10 mask (Z24)
// drops what crossed from the neighbouring byte.
func k5u(a *asm, c, q, qh int) {
	a.l("\tVMOVDQU64  %d(SI), Z0", q)
	a.l("\tVMOVDQU64  %d(SI), Z2", qh)
	a.l("\tVPSRLW     $4, Z0, Z1")
	a.l("\tVPANDD     Z29, Z0, Z0")
	a.l("\tVPANDD     Z29, Z1, Z1")
	for i, bit := range []int{2 * c, 2*c + 1} {
		src := "Z3"
		switch {
		case bit < 4:
			a.l("\tVPSLLW     $%d, Z2, Z3", 4-bit)
		case bit > 4:
			a.l("\tVPSRLW     $%d, Z2, Z3", bit-4)
		default:
			src = "Z2"
		}
		a.l("\tVPTERNLOGD $0xF8, Z24, %s, Z%d", src, i)
	}
}

// trimFloat formats a prefetch distance as the comment states it ("2").
func trimFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// The text between the generated parts, as the kernels' authors wrote it.

const r16kHead = `#include "textflag.h"

// q4_K/q6_K kernels on Rows16 groups (rows16k.go has the layout, the
// reasoning and the pure-Go twins, which these equal bit for bit).
// AVX-512 F/BW + VNNI; VPSHUFB stays within 128-bit lanes (no VBMI).

// r16kSh: VPSHUFB controls, 16 bytes each (broadcast to the 4 lanes), that
// put byte q of each row's dword (row r's dword is r%4 of its lane) into
// its dword: r16kSh+16q zero-extended (a sub-block scale), r16kSh+64+16q as
// the int16 pair (m, m) VPDPWSSD wants (a sub-block min).`

const r16kMacros = `
// R16KCONSTS: Z29 = 0x0F bytes, Z28 = 0x3F, Z27 = 0x30; Z12..Z15 the scale
// controls of byte 0..3, Z16..Z19 the min-pair controls.
#define R16KCONSTS \
	MOVL            $0x0F0F0F0F, AX; \
	VPBROADCASTD    AX, Z29; \
	MOVL            $0x3F3F3F3F, AX; \
	VPBROADCASTD    AX, Z28; \
	MOVL            $0x30303030, AX; \
	VPBROADCASTD    AX, Z27; \
	VBROADCASTI32X4 r16kSh<>+0(SB), Z12; \
	VBROADCASTI32X4 r16kSh<>+16(SB), Z13; \
	VBROADCASTI32X4 r16kSh<>+32(SB), Z14; \
	VBROADCASTI32X4 r16kSh<>+48(SB), Z15; \
	VBROADCASTI32X4 r16kSh<>+64(SB), Z16; \
	VBROADCASTI32X4 r16kSh<>+80(SB), Z17; \
	VBROADCASTI32X4 r16kSh<>+96(SB), Z18; \
	VBROADCASTI32X4 r16kSh<>+112(SB), Z19

// K4SCALES unpacks the q4_K scales and mins of the tile at SI for all 16
// rows (ggml's get_scale_min_k4 on bytes): Z20 = scales 0..3 (byte q of
// each row's dword), Z22 = scales 4..7, Z21 = mins 0..3, Z23 = mins 4..7.
#define K4SCALES \
	VMOVDQU64  64(SI), Z0; \
	VMOVDQU64  128(SI), Z1; \
	VMOVDQU64  192(SI), Z2; \
	VPANDD     Z28, Z0, Z20; \
	VPANDD     Z28, Z1, Z21; \
	VPSRLW     $2, Z0, Z22; \
	VPANDD     Z27, Z22, Z22; \
	VPTERNLOGD $0xF8, Z29, Z2, Z22; \
	VPSRLW     $2, Z1, Z23; \
	VPANDD     Z27, Z23, Z23; \
	VPSRLW     $4, Z2, Z3; \
	VPTERNLOGD $0xF8, Z29, Z3, Z23

// K4Q: quant chunk at OFF: low nibbles against activation bytes XOFF.. into
// Z8 (sub-block 2c), high nibbles against XOFF+32.. into Z9 (2c+1).
#define K4Q(OFF, XOFF) \
	VMOVDQU64     (OFF)(SI), Z0; \
	VPSRLW        $4, Z0, Z1; \
	VPANDD        Z29, Z0, Z0; \
	VPANDD        Z29, Z1, Z1; \
	VPDPBUSD.BCST (XOFF)(DI), Z0, Z8; \
	VPDPBUSD.BCST (XOFF+32)(DI), Z1, Z9

// K4ACC adds 64-element chunk c (sub-blocks 2c, 2c+1, scales IS0/IS1 of
// SS, mins IM0/IM1 of SM) to the super-block's integers: Z4 += Z8·sc_2c +
// Z9·sc_2c+1, Z5 += m_2c·(bsum pair 2c) + m_2c+1·(pair 2c+1). After the 4
// chunks the super-block is folded once, Z30 = fma(float(Z4), d_w·d_x, Z30)
// and Z31 = fma(float(Z5), dmin_w·d_x, Z31): the order of llama.cpp's
// repacked q4_K GEMV (ggml_gemv_q4_K_8x8_q8_K, arch/x86/repack.cpp: iacc_b
// and iacc_min_b per super-block), which folds less often than its GEMM
// (gemmK16Go, per 64-element chunk).
#define K4ACC(c, IS0, IS1, IM0, IM1, SS, SM) \
	VPSHUFB       IS0, SS, Z10; \
	VPMULLD       Z10, Z8, Z8; \
	VPSHUFB       IS1, SS, Z11; \
	VPMULLD       Z11, Z9, Z9; \
	VPADDD        Z9, Z8, Z8; \
	VPADDD        Z8, Z4, Z4; \
	VPSHUFB       IM0, SM, Z10; \
	VPSHUFB       IM1, SM, Z11; \
	VPDPWSSD.BCST (320+8*c)(DI), Z10, Z5; \
	VPDPWSSD.BCST (324+8*c)(DI), Z11, Z5
`

const r16kGemv4Head = `// func gemvR16Q4_K(w, x *byte, nb int, out *float32)
// packK16's group biases are zero for q4_K and not read.
TEXT ·gemvR16Q4_K(SB), NOSPLIT, $0-32
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   nb+16(FP), CX
	MOVQ   out+24(FP), DX
	R16KCONSTS
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	TESTQ  CX, CX
	JLE    k4done

k4loop:`

const r16kGemv4Tile = `	VCVTPH2PS   0(SI), Z26
	VMULPS.BCST 352(DI), Z26, Z26
	VCVTPH2PS   32(SI), Z25
	VMULPS.BCST 352(DI), Z25, Z25
	VPXORD      Z4, Z4, Z4
	VPXORD      Z5, Z5, Z5
	K4SCALES`

const r16kGemv4Tail = `	VCVTDQ2PS   Z4, Z4
	VFMADD231PS Z26, Z4, Z30
	VCVTDQ2PS   Z5, Z5
	VFMADD231PS Z25, Z5, Z31
	ADDQ        $2304, SI
	ADDQ        $384, DI
	DECQ        CX
	JNZ         k4loop

k4done:
	VSUBPS  Z31, Z30, Z30
	VMOVUPS Z30, 0(DX)
	VZEROUPPER
	RET
`

const r16kDec4Head = `// func decR16Q4_K(w *byte, wstride, nb int, dst *byte)
// The nb tiles at w into the k16 layout (gemmk16.go): chunk 8c+t's low
// nibbles to slice 16c+t, high to 16c+8+t; each sub-block scale twice to
// SC, each min as (m, m) to M; d and dmin as float32.
TEXT ·decR16Q4_K(SB), NOSPLIT, $0-32
	MOVQ  w+0(FP), SI
	MOVQ  nb+16(FP), CX
	MOVQ  dst+24(FP), DI
	R16KCONSTS
	TESTQ CX, CX
	JLE   kd4done

kd4loop:`

// r16kDec4Rest follows decR16Q4_K (decKTail).
const r16kDec4Rest = `
// K6U builds the four k16 slices of QL chunks A, B and QH chunk H (offsets
// in the tile at SI): Z3 = A&15 | (H&3)<<4, Z4 = B&15 | (H>>2&3)<<4, Z5 =
// A>>4 | (H>>4&3)<<4, Z6 = B>>4 | (H>>6&3)<<4 (word shifts; the masks keep
// only bits that stayed in their byte).
#define K6U(A, B, H) \
	VMOVDQU64  (A)(SI), Z0; \
	VMOVDQU64  (B)(SI), Z1; \
	VMOVDQU64  (H)(SI), Z2; \
	VPSLLW     $4, Z2, Z3; \
	VPANDD     Z27, Z3, Z3; \
	VPTERNLOGD $0xF8, Z29, Z0, Z3; \
	VPSLLW     $2, Z2, Z4; \
	VPANDD     Z27, Z4, Z4; \
	VPTERNLOGD $0xF8, Z29, Z1, Z4; \
	VPSRLW     $4, Z0, Z0; \
	VPANDD     Z27, Z2, Z5; \
	VPTERNLOGD $0xF8, Z29, Z0, Z5; \
	VPSRLW     $4, Z1, Z1; \
	VPSRLW     $2, Z2, Z6; \
	VPANDD     Z27, Z6, Z6; \
	VPTERNLOGD $0xF8, Z29, Z1, Z6

// K6DOT: the four slices against activation bytes X, X+32, X+64, X+96
// into the group sums Z8..Z11.
#define K6DOT(X) \
	VPDPBUSD.BCST (X)(DI), Z3, Z8; \
	VPDPBUSD.BCST (X+32)(DI), Z4, Z9; \
	VPDPBUSD.BCST (X+64)(DI), Z5, Z10; \
	VPDPBUSD.BCST (X+96)(DI), Z6, Z11

// K6SC: group g's sum T (started from its bias -32·bsum_g) times the rows'
// int8 scales, added to Z24.
#define K6SC(g, T) \
	VPMOVSXBD (32+16*g)(SI), Z12; \
	VPMULLD   Z12, T, T; \
	VPADDD    T, Z24, Z24
`

const r16kGemv6Head = `// func gemvR16Q6_K(w, x *byte, nb int, out *float32)
// Per tile the exact isum of gemmK16Go over all 16 groups, then Z30 =
// fma(float(isum), d_w·d_x, Z30).
TEXT ·gemvR16Q6_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	MOVQ         out+24(FP), DX
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x30303030, AX
	VPBROADCASTD AX, Z27
	VPXORD       Z30, Z30, Z30
	TESTQ        CX, CX
	JLE          k6done

k6loop:`

const r16kGemv6Tile = `	VCVTPH2PS    0(SI), Z26
	VMULPS.BCST  352(DI), Z26, Z26
	VPXORD       Z24, Z24, Z24`

const r16kGemv6Tail = `	VCVTDQ2PS    Z24, Z24
	VFMADD231PS  Z26, Z24, Z30
	ADDQ         $3360, SI
	ADDQ         $384, DI
	DECQ         CX
	JNZ          k6loop

k6done:
	VMOVUPS Z30, 0(DX)
	VZEROUPPER
	RET
`

const r16kDec6Head = `// func decR16Q6_K(w *byte, wstride, nb int, dst *byte)
// The nb tiles at w into the k16 layout: K6U's slices 32h+8v+t, the int8
// scales sign-extended to SC, M and DMIN cleared, d as float32.
TEXT ·decR16Q6_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         nb+16(FP), CX
	MOVQ         dst+24(FP), DI
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x30303030, AX
	VPBROADCASTD AX, Z27
	VPXORD       Z30, Z30, Z30
	TESTQ        CX, CX
	JLE          kd6done

kd6loop:`

const r16kDec6Tail = `	VMOVDQU64    Z30, 5696(DI)
	VCVTPH2PS    0(SI), Z10
	VMOVUPS      Z10, 5632(DI)
	ADDQ         $3360, SI
	ADDQ         $5760, DI
	DECQ         CX
	JNZ          kd6loop

kd6done:
	VZEROUPPER
	RET`

const r16kGemv5Head = `// func gemvR16Q5_K(w, x *byte, nb int, out *float32)
// As gemvR16Q4_K with 5-bit quants (k5u); per tile Z30 += float(isum)·
// (d_w·d_x), then Z30 -= float(imin)·(dmin_w·d_x), each product rounded:
// ggml's vec_dot_q5_K_q8_K order (dotK), which llama.cpp runs for q5_K.
// packK16's group biases are zero for q5_K and not read.
TEXT ·gemvR16Q5_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	MOVQ         out+24(FP), DX
	R16KCONSTS
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z24
	VPXORD       Z30, Z30, Z30
	TESTQ        CX, CX
	JLE          k5done

k5loop:`

const r16kGemv5Tile = r16kGemv4Tile

const r16kGemv5Tail = `	VCVTDQ2PS   Z4, Z4
	VMULPS      Z26, Z4, Z4
	VADDPS      Z4, Z30, Z30
	VCVTDQ2PS   Z5, Z5
	VMULPS      Z25, Z5, Z5
	VSUBPS      Z5, Z30, Z30
	ADDQ        $2816, SI
	ADDQ        $384, DI
	DECQ        CX
	JNZ         k5loop

k5done:
	VMOVUPS Z30, 0(DX)
	VZEROUPPER
	RET
`

const r16kDec5Head = `// func decR16Q5_K(w *byte, wstride, nb int, dst *byte)
// decR16Q4_K with 5-bit quants: the nb tiles at w into the k16 layout.
TEXT ·decR16Q5_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         nb+16(FP), CX
	MOVQ         dst+24(FP), DI
	R16KCONSTS
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z24
	TESTQ        CX, CX
	JLE          kd5done

kd5loop:`

const r16kPrefetchDoc = `// Both decode kernels prefetch every cache line of the tile %d tiles ahead
// (BenchmarkRows16Layers, 1 thread, ratios to the GGUF layout measured back
// to back on a noisy host: q4_K 1.01-1.10 without, 1.16-1.19 at 2 tiles,
// 1.08-1.10 at 4; q6_K 0.96-0.98 without, 1.06-1.08 at 2, 0.95-1.18 at
// 1, 3 or 4), and with FAR also at twice that distance into L2
// (PREFETCHT2), as the q4_0/q8_0 kernels (rows16_amd64.s PF4): q4_K 1
// thread median of 3 alternating runs 9.9 -> 12.1 GB/s, q6_K level on one
// thread, 18.3 -> 20.5 on two. The kernels run at ~46-49 GB/s on a group
// in L1/L2, so the stream, not the arithmetic, is what limits them.
`

// q6L and q6H are kernels/rows16k.go's r16kQ6L and r16kQ6H: the offsets
// in a q6_K tile of QL chunk i and QH chunk i, in steps of 192 bytes in
// the order the decode kernel reads them (TestRows16KDecode checks the two
// ends agree).
func q6L(i int) int {
	h, j := i/16, i%16
	return 288 + 192*(8*h+j%8) + 64*(j/8) // step 8h+j%8
}

func q6H(i int) int {
	return 288 + 192*i + 128 // step i
}

// q5Q and q5H are kernels/rows16k.go's r16kQ5Q and r16kQ5H: the offsets
// in a q5_K tile of Q chunk i and QH chunk t, the QH chunks between the
// first 8 Q chunks, in the order the decode kernels read them.
func q5Q(i int) int {
	if i < 8 {
		return 256 + 128*i
	}
	return 1280 + 64*(i-8)
}

func q5H(t int) int { return 256 + 128*t + 64 }

// gemvHead is a decode kernel's head (its comment, TEXT line and setup),
// for the form without software prefetch (hw) renamed name+"HW" and said
// so under the signature line.
func gemvHead(head, name string, hw bool) string {
	if !hw {
		return head
	}
	head = strings.ReplaceAll(head, name+"(", name+"HW(")
	sig, rest, _ := strings.Cut(head, "\n")
	return sig + "\n// " + name + " without software prefetch (kernels/stream_amd64.go).\n" + rest
}
