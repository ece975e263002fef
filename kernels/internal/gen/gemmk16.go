package main

// gemmk16 writes gemmk16_amd64.s: the q4_K/q6_K 16-row group decoders and
// prefill kernels (layouts, reasoning and pure-Go twins in
// kernels/gemmk16.go). Each gemmK16<type>x<c> kernel runs one decoded
// group against c = 1..4 activation columns; its loop body is the 16
// groups of a super-block, unrolled, for every column.
func gemmk16() []byte {
	var a asm
	a.text(k16Head)
	for s := 0; s < 16; s++ { // idxK16: dword offsets of 16 slices, 64 bytes apart
		a.l("DATA idxK16<>+%d(SB)/4, $%d", 4*s, 64*s)
	}
	a.l("GLOBL idxK16<>(SB), RODATA|NOPTR, $64")
	a.text(k16DupDoc)
	for i := 0; i < 16; i++ { // dupK16: [0 0 1 1 … 7 7]
		a.l("DATA dupK16<>+%d(SB)/4, $%d", 4*i, i/2)
	}
	a.l("GLOBL dupK16<>(SB), RODATA|NOPTR, $64")
	a.text(k16DecQ4)
	for i := 0; i < 16; i++ { // shK16: word shift counts 0, 2, 4, 6, 16 words each
		if c := i / 4 * 2; c == 0 {
			a.l("DATA shK16<>+%d(SB)/8, $0", 8*i)
		} else {
			a.l("DATA shK16<>+%d(SB)/8, $0x%04x%04x%04x%04x", 8*i, c, c, c, c)
		}
	}
	a.l("GLOBL shK16<>(SB), RODATA|NOPTR, $128")
	a.text(k16Macros)
	// Two blank lines between the q4_K kernels, one between the q6_K ones.
	for c := 1; c <= 4; c++ {
		gemmK16Kernel(&a, 4, c)
		a.l("")
		if c < 4 {
			a.l("")
		}
	}
	for c := 1; c <= 4; c++ {
		if c > 1 {
			a.l("")
		}
		gemmK16Kernel(&a, 6, c)
	}
	for c := 1; c <= 4; c++ {
		a.l("")
		gemmK16Kernel(&a, 5, c)
	}
	a.text(k16DecQ5)
	return a.bytes()
}

// gemmK16Kernel writes gemmK16Q<q>_Kx<c>. Column i reads its activation
// super-blocks through register p[i] and keeps T = Z9+i (scratch),
// ISUM = Z13+i, IMIN = Z17+i (q4_K), ACC = Z21+i and ACCM = Z25+i (q4_K).
// q4_K folds each 64-element chunk into ACC and ACCM (KSB4, after the
// chunk's 4 groups and 2 min pairs); q6_K folds the super-block once
// (KFIN6); q5_K keeps whole super-block sums and folds them in dotK's
// order, a product then an add or subtract (KFIN5), so its prefill stays bit
// for bit what llama.cpp's vec_dot computes. This is gemmK16Go's order.
func gemmK16Kernel(a *asm, q, c int) {
	p := [4]string{"DI", "R8", "R9", "R10"}
	name := map[int]string{4: "Q4_K", 5: "Q5_K", 6: "Q6_K"}[q]
	label := "k" + map[int]string{4: "4", 5: "5", 6: "6"}[q] + "x" + string(rune('0'+c))
	a.l("// func gemmK16%sx%d(w, x *byte, xstride, nb int, out *float32, ostride int)", name, c)
	a.l("TEXT ·gemmK16%sx%d(SB), NOSPLIT, $0-48", name, c)
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ x+8(FP), DI")
	a.l("\tMOVQ xstride+16(FP), R12")
	a.l("\tMOVQ nb+24(FP), CX")
	for i := 1; i < c; i++ {
		a.l("\tLEAQ (%s)(R12*1), %s", p[i-1], p[i])
	}
	for i := 0; i < c; i++ {
		a.l("\tVPXORD Z%d, Z%d, Z%d", 13+i, 13+i, 13+i)
		a.l("\tVPXORD Z%d, Z%d, Z%d", 17+i, 17+i, 17+i)
		a.l("\tVPXORD Z%d, Z%d, Z%d", 21+i, 21+i, 21+i)
		if q == 4 {
			a.l("\tVPXORD Z%d, Z%d, Z%d", 25+i, 25+i, 25+i)
		}
	}
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", label)
	a.l("")
	a.l("%sloop:", label)
	if q == 4 || q == 5 {
		a.l("\tVMOVUPS 5632(SI), Z6")
		a.l("\tVMOVUPS 5696(SI), Z7")
	}
	for g := 0; g < 16; g++ {
		a.l("\tKGRP(%d)", g)
		for i := 0; i < c; i++ {
			// q4_K/q5_K: the two groups of a sub-block share its scale,
			// so their sums meet in T before one multiply (KCOLA, KCOLB).
			col := map[bool]string{true: "KCOLA", false: "KCOLB"}[g%2 == 0]
			if q == 6 {
				col = "KCOL6"
			}
			a.l("\t%s(%d, %s, Z%d, Z%d)", col, g, p[i], 9+i, 13+i)
		}
		if q == 4 && g%4 == 3 {
			for j := g/2 - 1; j <= g/2; j++ {
				a.l("\tVMOVDQU64 (5120+64*%d)(SI), Z5", j)
				for i := 0; i < c; i++ {
					a.l("\tKMIN(%s, %d, Z%d)", p[i], j, 17+i)
				}
			}
			for i := 0; i < c; i++ {
				a.l("\tKSB4(%s, Z%d, Z%d, Z%d, Z%d, Z%d)", p[i], 9+i, 13+i, 17+i, 21+i, 25+i)
			}
		}
	}
	if q == 6 {
		a.l("\tVMOVUPS 5632(SI), Z6")
		for i := 0; i < c; i++ {
			a.l("\tKFIN6(%s, Z%d, Z%d, Z%d, Z%d)", p[i], 9+i, 13+i, 17+i, 21+i)
		}
	}
	if q == 5 {
		for j := 0; j < 8; j++ {
			a.l("\tVMOVDQU64 (5120+64*%d)(SI), Z5", j)
			for i := 0; i < c; i++ {
				a.l("\tKMIN(%s, %d, Z%d)", p[i], j, 17+i)
			}
		}
		for i := 0; i < c; i++ {
			a.l("\tKFIN5(%s, Z%d, Z%d, Z%d, Z%d)", p[i], 9+i, 13+i, 17+i, 21+i)
		}
	}
	a.l("\tADDQ $5760, SI")
	for i := 0; i < c; i++ {
		a.l("\tADDQ $384, %s", p[i])
	}
	a.l("\tDECQ CX")
	a.l("\tJNZ  %sloop", label)
	a.l("")
	a.l("%sdone:", label)
	a.l("\tMOVQ out+32(FP), DX")
	a.l("\tMOVQ ostride+40(FP), AX")
	a.l("\tSHLQ $2, AX")
	for i := 0; i < c; i++ {
		if i > 0 {
			a.l("\tADDQ    AX, DX")
		}
		if q == 4 {
			a.l("\tVSUBPS  Z%d, Z%d, Z%d", 25+i, 21+i, 21+i)
		}
		a.l("\tVMOVUPS Z%d, 0(DX)", 21+i)
	}
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// The text between the generated parts, as the kernels' authors wrote it.

const k16Head = `#include "textflag.h"
#include "ksc_amd64.h"

// Prefill kernels for q4_K/q6_K weights on 16-row interleaved super-block
// tiles (gemmk16.go has the layouts, the reasoning and the pure-Go twins,
// which these equal bit for bit). AVX-512 F/BW/VL + VNNI.

// idxK16: VPSCATTERDD dword offsets of 16 consecutive slices (64 bytes apart).`

const k16DupDoc = `
// dupK16: VPERMD indexes [0 0 1 1 … 7 7] (each sub-block scale covers two
// 16-element groups).`

const k16DecQ4 = `
// func decK16Q4_K(w *byte, wstride, nb int, dst *byte)
// decodeK16 for q4_K in one pass: per super-block and row, the 128 nibble
// bytes become 4 ZMM of quants in element order (VSHUFI64X2 interleaves the
// low and high nibbles of each 32-byte chunk) scattered to the 64 slices;
// KSC's scales are widened to dwords, duplicated per 16-element group and
// scattered to SC, the mins times 0x10001 to M; d and dmin are parked as
// f16 and converted after the 16 rows.
TEXT ·decK16Q4_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         wstride+8(FP), R14
	MOVQ         nb+16(FP), CX
	MOVQ         dst+24(FP), DI
	VMOVDQU32    idxK16<>(SB), Z20
	VMOVDQU32    dupK16<>(SB), Z21
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x10001, AX
	VPBROADCASTD AX, Y23
	TESTQ        CX, CX
	JLE          kddone

kdsb:
	MOVQ SI, R8
	MOVQ DI, R9
	MOVQ DI, R10

kdrow:
	VMOVDQU64   16(R8), Z0
	VMOVDQU64   80(R8), Z1
	VPSRLW      $4, Z0, Z2
	VPSRLW      $4, Z1, Z3
	VPANDD      Z29, Z0, Z0
	VPANDD      Z29, Z1, Z1
	VPANDD      Z29, Z2, Z2
	VPANDD      Z29, Z3, Z3
	VSHUFI64X2  $0x44, Z2, Z0, Z4
	VSHUFI64X2  $0xEE, Z2, Z0, Z5
	VSHUFI64X2  $0x44, Z3, Z1, Z6
	VSHUFI64X2  $0xEE, Z3, Z1, Z7
	KXNORW      K1, K1, K1
	VPSCATTERDD Z4, K1, (R9)(Z20*1)
	KXNORW      K1, K1, K1
	VPSCATTERDD Z5, K1, 1024(R9)(Z20*1)
	KXNORW      K1, K1, K1
	VPSCATTERDD Z6, K1, 2048(R9)(Z20*1)
	KXNORW      K1, K1, K1
	VPSCATTERDD Z7, K1, 3072(R9)(Z20*1)
	MOVL        0(R8), AX
	MOVW        AX, 5632(R10)
	SHRL        $16, AX
	MOVW        AX, 5696(R10)
	KSC(R8)
	VMOVQ       AX, X8
	VPMOVZXBD   X8, Y8
	VPERMD      Z8, Z21, Z8
	KXNORW      K1, K1, K1
	VPSCATTERDD Z8, K1, 4096(R9)(Z20*1)
	VMOVQ       R13, X9
	VPMOVZXBD   X9, Y9
	VPMULLD     Y23, Y9, Y9
	KXNORW      K1, K1, K1
	VPSCATTERDD Y9, K1, 5120(R9)(Y20*1)
	ADDQ        R14, R8
	ADDQ        $4, R9
	ADDQ        $2, R10
	LEAQ        32(DI), AX
	CMPQ        R10, AX
	JNE         kdrow

	VCVTPH2PS 5632(DI), Z10
	VMOVUPS   Z10, 5632(DI)
	VCVTPH2PS 5696(DI), Z11
	VMOVUPS   Z11, 5696(DI)
	ADDQ      $144, SI
	ADDQ      $5760, DI
	DECQ      CX
	JNZ       kdsb

kddone:
	VZEROUPPER
	RET

// shK16: VPSRLVW counts [0 x16 | 2 x16] and [4 x16 | 6 x16]: the q6_K high
// bit pairs of the four 32-element quarters of a half block.`

const k16Macros = `
// Q6HALF unpacks half h of the q6_K block at R8 (ql bytes 64h.., qh bytes
// 128+32h..) into elements 128h..128h+127 and scatters them to slices
// 32h..32h+31 of the row at R9.
#define Q6HALF(h) \
	VMOVDQU64       (64*h)(R8), Z0; \
	VBROADCASTI64X4 (128+32*h)(R8), Z1; \
	VPANDD          Z29, Z0, Z2; \
	VPSRLVW         Z24, Z1, Z3; \
	VPANDD          Z28, Z3, Z3; \
	VPSLLW          $4, Z3, Z3; \
	VPORD           Z3, Z2, Z2; \
	VPSRLW          $4, Z0, Z0; \
	VPANDD          Z29, Z0, Z0; \
	VPSRLVW         Z25, Z1, Z3; \
	VPANDD          Z28, Z3, Z3; \
	VPSLLW          $4, Z3, Z3; \
	VPORD           Z3, Z0, Z0; \
	KXNORW          K1, K1, K1; \
	VPSCATTERDD     Z2, K1, (2048*h)(R9)(Z20*1); \
	KXNORW          K1, K1, K1; \
	VPSCATTERDD     Z0, K1, (2048*h+1024)(R9)(Z20*1)

// func decK16Q6_K(w *byte, wstride, nb int, dst *byte)
// decodeK16 for q6_K in one pass: per half block, the low nibbles and the
// high bit pairs (per-quarter word shifts) give elements in order, as
// dequantize_row_q6_K lays them out; the int8 scales are sign-extended and
// scattered to SC, M and DMIN are cleared, d is parked as f16 and
// converted after the 16 rows.
TEXT ·decK16Q6_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         wstride+8(FP), R14
	MOVQ         nb+16(FP), CX
	MOVQ         dst+24(FP), DI
	VMOVDQU32    idxK16<>(SB), Z20
	VMOVDQU64    shK16<>+0(SB), Z24
	VMOVDQU64    shK16<>+64(SB), Z25
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z28
	VPXORD       Z30, Z30, Z30
	TESTQ        CX, CX
	JLE          k6ddone

k6dsb:
	MOVQ      SI, R8
	MOVQ      DI, R9
	MOVQ      DI, R10
	VMOVDQU64 Z30, 5120(DI)
	VMOVDQU64 Z30, 5184(DI)
	VMOVDQU64 Z30, 5248(DI)
	VMOVDQU64 Z30, 5312(DI)
	VMOVDQU64 Z30, 5376(DI)
	VMOVDQU64 Z30, 5440(DI)
	VMOVDQU64 Z30, 5504(DI)
	VMOVDQU64 Z30, 5568(DI)
	VMOVDQU64 Z30, 5696(DI)

k6drow:
	Q6HALF(0)
	Q6HALF(1)
	VPMOVSXBD   192(R8), Z8
	KXNORW      K1, K1, K1
	VPSCATTERDD Z8, K1, 4096(R9)(Z20*1)
	MOVW        208(R8), AX
	MOVW        AX, 5632(R10)
	ADDQ        R14, R8
	ADDQ        $4, R9
	ADDQ        $2, R10
	LEAQ        32(DI), AX
	CMPQ        R10, AX
	JNE         k6drow

	VCVTPH2PS 5632(DI), Z10
	VMOVUPS   Z10, 5632(DI)
	ADDQ      $210, SI
	ADDQ      $5760, DI
	DECQ      CX
	JNZ       k6dsb

k6ddone:
	VZEROUPPER
	RET

// KGRP loads group g's 4 slices (16 elements of the 16 rows) into Z0..Z3
// and its 16 int32 scales into Z4.
#define KGRP(g) \
	VMOVDQU64 (256*g)(SI), Z0; \
	VMOVDQU64 (256*g+64)(SI), Z1; \
	VMOVDQU64 (256*g+128)(SI), Z2; \
	VMOVDQU64 (256*g+192)(SI), Z3; \
	VMOVDQU64 (4096+64*g)(SI), Z4

// KCOL6 adds group g of the activation block at P to ISUM: T = the exact
// 16-element sums of the 16 rows (from the bias -32*bsum_g of q6_K), times
// the rows' scales.
#define KDOT(g, P, T, ISUM) \
	VPDPBUSD.BCST (16*g)(P), Z0, T; \
	VPDPBUSD.BCST (16*g+4)(P), Z1, T; \
	VPDPBUSD.BCST (16*g+8)(P), Z2, T; \
	VPDPBUSD.BCST (16*g+12)(P), Z3, T; \
	VPMULLD       Z4, T, T; \
	VPADDD        T, ISUM, ISUM

// KCOLA/KCOLB: q4_K and q5_K, whose 32-element sub-block scale covers
// groups 2j and 2j+1: KCOLA starts T with group 2j's exact sums, KCOLB adds
// group 2j+1's and then scales and adds T to ISUM once (|T| <= 32*31*127,
// the same integers as per-group products: one VPMULLD and VPADDD per
// sub-block instead of per group).
#define KDOT4(g, P, T) \
	VPDPBUSD.BCST (16*g)(P), Z0, T; \
	VPDPBUSD.BCST (16*g+4)(P), Z1, T; \
	VPDPBUSD.BCST (16*g+8)(P), Z2, T; \
	VPDPBUSD.BCST (16*g+12)(P), Z3, T

#define KCOLA(g, P, T, ISUM) \
	VPXORD T, T, T; \
	KDOT4(g, P, T)

#define KCOLB(g, P, T, ISUM) \
	KDOT4(g, P, T); \
	VPMULLD Z4, T, T; \
	VPADDD  T, ISUM, ISUM

#define KCOL6(g, P, T, ISUM) \
	VPBROADCASTD (256+4*g)(P), T; \
	KDOT(g, P, T, ISUM)

// KMIN adds pair j of the q4_K mins: IMIN += m_j*(bsum_2j + bsum_2j+1).
#define KMIN(P, j, IMIN) \
	VPDPWSSD.BCST (320+4*j)(P), Z5, IMIN

// KFIN6 folds a q6_K super-block into ACC: ACC = fma(float(ISUM), d_w*d_x,
// ACC), and clears the sum.
#define KFIN6(P, T, ISUM, IMIN, ACC) \
	VCVTDQ2PS    ISUM, T; \
	VMULPS.BCST  352(P), Z6, Z8; \
	VFMADD231PS  Z8, T, ACC; \
	VPXORD       ISUM, ISUM, ISUM


// KFIN5 folds a q5_K super-block into ACC in dotK's order (ggml's
// vec_dot_q5_K_q8_K, one float step per super-block): ACC += float(ISUM) *
// (d_w*d_x), then ACC -= float(IMIN) * (dmin_w*d_x), each product rounded
// before the add; and clears the sums.
#define KFIN5(P, T, ISUM, IMIN, ACC) \
	VCVTDQ2PS   ISUM, T; \
	VMULPS.BCST 352(P), Z6, Z8; \
	VMULPS      Z8, T, T; \
	VADDPS      T, ACC, ACC; \
	VCVTDQ2PS   IMIN, T; \
	VMULPS.BCST 352(P), Z7, Z8; \
	VMULPS      Z8, T, T; \
	VSUBPS      T, ACC, ACC; \
	VPXORD      ISUM, ISUM, ISUM; \
	VPXORD      IMIN, IMIN, IMIN

// KSB4 folds one 64-element chunk (2 sub-blocks) of q4_K into the two
// float accumulators, as llama.cpp's repacked q4_K GEMM does (ggml-cpu
// arch/x86/repack.cpp ggml_gemm_q4_K_8x8_q8_K: per chunk, acc += isum·(d_w·d_x)
// and acc_min += imin·(dmin_w·d_x); the output is acc - acc_min), and
// clears the chunk's integer sums.
#define KSB4(P, T, ISUM, IMIN, ACC, ACCM) \
	VCVTDQ2PS   ISUM, T; \
	VMULPS.BCST 352(P), Z6, Z8; \
	VFMADD231PS Z8, T, ACC; \
	VCVTDQ2PS   IMIN, T; \
	VMULPS.BCST 352(P), Z7, Z8; \
	VFMADD231PS Z8, T, ACCM; \
	VPXORD      ISUM, ISUM, ISUM; \
	VPXORD      IMIN, IMIN, IMIN

`

const k16DecQ5 = `
// func decK16Q5_K(w *byte, wstride, nb int, dst *byte)
// decK16Q4_K for q5_K (176-byte blocks: qh[32] at 16, qs[128] at 48): the
// nibbles as there, ORed with bit 4 = the quant's fifth bit, bit 2c of
// qh[i] for element 64c+i and bit 2c+1 for element 64c+32+i (Z12: qh in
// both 256-bit halves; shifted right by 2c, the upper half once more (K2),
// masked to bit 0 of each byte (Z30) and moved to bit 4). Scales, mins, d
// and dmin have q4_K's layout.
TEXT ·decK16Q5_K(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         wstride+8(FP), R14
	MOVQ         nb+16(FP), CX
	MOVQ         dst+24(FP), DI
	VMOVDQU32    idxK16<>(SB), Z20
	VMOVDQU32    dupK16<>(SB), Z21
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x01010101, AX
	VPBROADCASTD AX, Z30
	MOVL         $0xFFFF0000, AX
	KMOVD        AX, K2
	MOVL         $0x10001, AX
	VPBROADCASTD AX, Y23
	TESTQ        CX, CX
	JLE          k5ddone

k5dsb:
	MOVQ SI, R8
	MOVQ DI, R9
	MOVQ DI, R10

k5drow:
	VMOVDQU64       48(R8), Z0
	VMOVDQU64       112(R8), Z1
	VPSRLW          $4, Z0, Z2
	VPSRLW          $4, Z1, Z3
	VPANDD          Z29, Z0, Z0
	VPANDD          Z29, Z1, Z1
	VPANDD          Z29, Z2, Z2
	VPANDD          Z29, Z3, Z3
	VSHUFI64X2      $0x44, Z2, Z0, Z4
	VSHUFI64X2      $0xEE, Z2, Z0, Z5
	VSHUFI64X2      $0x44, Z3, Z1, Z6
	VSHUFI64X2      $0xEE, Z3, Z1, Z7
	VBROADCASTI64X4 16(R8), Z12
	VPSRLW          $1, Z12, K2, Z12
	VPANDD          Z30, Z12, Z13
	VPSLLW          $4, Z13, Z13
	VPORD           Z13, Z4, Z4
	VPSRLW          $2, Z12, Z13
	VPANDD          Z30, Z13, Z13
	VPSLLW          $4, Z13, Z13
	VPORD           Z13, Z5, Z5
	VPSRLW          $4, Z12, Z13
	VPANDD          Z30, Z13, Z13
	VPSLLW          $4, Z13, Z13
	VPORD           Z13, Z6, Z6
	VPSRLW          $6, Z12, Z13
	VPANDD          Z30, Z13, Z13
	VPSLLW          $4, Z13, Z13
	VPORD           Z13, Z7, Z7
	KXNORW          K1, K1, K1
	VPSCATTERDD     Z4, K1, (R9)(Z20*1)
	KXNORW          K1, K1, K1
	VPSCATTERDD     Z5, K1, 1024(R9)(Z20*1)
	KXNORW          K1, K1, K1
	VPSCATTERDD     Z6, K1, 2048(R9)(Z20*1)
	KXNORW          K1, K1, K1
	VPSCATTERDD     Z7, K1, 3072(R9)(Z20*1)
	MOVL            0(R8), AX
	MOVW            AX, 5632(R10)
	SHRL            $16, AX
	MOVW            AX, 5696(R10)
	KSC(R8)
	VMOVQ           AX, X8
	VPMOVZXBD       X8, Y8
	VPERMD          Z8, Z21, Z8
	KXNORW          K1, K1, K1
	VPSCATTERDD     Z8, K1, 4096(R9)(Z20*1)
	VMOVQ           R13, X9
	VPMOVZXBD       X9, Y9
	VPMULLD         Y23, Y9, Y9
	KXNORW          K1, K1, K1
	VPSCATTERDD     Y9, K1, 5120(R9)(Y20*1)
	ADDQ            R14, R8
	ADDQ            $4, R9
	ADDQ            $2, R10
	LEAQ            32(DI), AX
	CMPQ            R10, AX
	JNE             k5drow

	VCVTPH2PS 5632(DI), Z10
	VMOVUPS   Z10, 5632(DI)
	VCVTPH2PS 5696(DI), Z11
	VMOVUPS   Z11, 5696(DI)
	ADDQ      $176, SI
	ADDQ      $5760, DI
	DECQ      CX
	JNZ       k5dsb

k5ddone:
	VZEROUPPER
	RET`
