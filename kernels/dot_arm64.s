#include "textflag.h"

// NEON dot kernels for arm64 CPUs with the dot-product extension (ARMv8.2
// FEAT_DotProd: Neoverse N1 and later, Cortex-A76 and later, Apple M1 and
// later). They compute dotQ4_0/dotQ8_0 (dot.go) bit for bit: ggml-cpu's x86
// order, not its arm one (arch/arm/quants.c keeps two float32x4 sums over
// pairs of blocks with vmlaq_n_f32, a different rounding), so that an arm64
// box gives the same float32 as llama.cpp's AVX2/AVX-512 builds and as
// dayi on x86-64:
//
//   - block b's 32 products are summed in 8 int32 lanes, lane l = elements
//     4l..4l+3: SDOT computes exactly that per 4-byte group, lanes 0..3 from
//     the first 16 elements, 4..7 from the last 16 (q4_0: the low nibbles
//     are elements 0..15, the high ones 16..31, as bytes_from_nibbles_32);
//   - each lane sum is converted to float32 (SCVTF, exact below 2^24) and
//     acc[l] = fma(d_w·d_x, s, acc[l]) (FMLA: fused, one rounding, as
//     VFMADD231PS), d_w·d_x exact (two f16 values, FCVT then FMUL);
//   - at the end hsum_float_8: (a0+a4, a1+a5, a2+a6, a3+a7), then
//     (t0+t2, t1+t3), then their sum (FADD, EXT, FADDP).
//
// Go's assembler has no SDOT, SCVTF, vector FADD, FADDP or FCVT from half
// precision, so those are WORD encodings (Arm ARM, A64 instruction set).

// SDOT Vd.4S, Vn.16B, Vm.16B
#define SDOT(d, n, m) WORD $(0x4E809400 | (m<<16) | (n<<5) | d)
// SCVTF Vd.4S, Vn.4S
#define SCVTF4S(d, n) WORD $(0x4E21D800 | (n<<5) | d)
// FADD Vd.4S, Vn.4S, Vm.4S
#define FADD4S(d, n, m) WORD $(0x4E20D400 | (m<<16) | (n<<5) | d)
// FADDP Sd, Vn.2S
#define FADDP2S(d, n) WORD $(0x7E30D800 | (n<<5) | d)
// FCVT Sd, Hn
#define FCVTSH(d, n) WORD $(0x1EE24000 | (n<<5) | d)

// The block scale d_w·d_x, broadcast to V16.4S. R3, R4: the two f16 bit
// patterns.
#define SCALE \
	FMOVS R3, F16 \
	FMOVS R4, F17 \
	FCVTSH(16, 16) \
	FCVTSH(17, 17) \
	FMULS F17, F16, F16 \
	VDUP V16.S[0], V16.S4

// acc (V20: lanes 0..3, V21: 4..7) += float(V6, V7)·V16, then next block.
#define ACCUMULATE \
	SCVTF4S(6, 6) \
	SCVTF4S(7, 7) \
	VFMLA V16.S4, V6.S4, V20.S4 \
	VFMLA V16.S4, V7.S4, V21.S4

// hsum_float_8 of V20, V21 into F0.
#define HSUM8 \
	FADD4S(22, 20, 21) \
	VEXT $8, V22.B16, V22.B16, V23.B16 \
	FADD4S(22, 22, 23) \
	FADDP2S(0, 22)

// func q4_0DotNEON(w, x *byte, nb int) float32
TEXT ·q4_0DotNEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VMOVI $15, V30.B16
	VMOVI $8, V31.B16
	CBZ R2, q4done

q4loop:
	MOVHU (R0), R3
	MOVHU (R1), R4
	ADD $2, R0, R5
	ADD $2, R1, R6
	VLD1 (R5), [V1.B16]
	VLD1 (R6), [V2.B16, V3.B16]
	VAND V30.B16, V1.B16, V4.B16
	VUSHR $4, V1.B16, V5.B16
	VSUB V31.B16, V4.B16, V4.B16
	VSUB V31.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	SDOT(6, 4, 2)
	SDOT(7, 5, 3)
	SCALE
	ACCUMULATE
	ADD $18, R0
	ADD $34, R1
	SUBS $1, R2
	BNE q4loop

q4done:
	HSUM8
	FMOVS F0, ret+24(FP)
	RET

// func q8_0DotNEON(w, x *byte, nb int) float32
TEXT ·q8_0DotNEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	CBZ R2, q8done

q8loop:
	MOVHU (R0), R3
	MOVHU (R1), R4
	ADD $2, R0, R5
	ADD $2, R1, R6
	VLD1 (R5), [V4.B16, V5.B16]
	VLD1 (R6), [V2.B16, V3.B16]
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	SDOT(6, 4, 2)
	SDOT(7, 5, 3)
	SCALE
	ACCUMULATE
	ADD $34, R0
	ADD $34, R1
	SUBS $1, R2
	BNE q8loop

q8done:
	HSUM8
	FMOVS F0, ret+24(FP)
	RET

// q4_K and q6_K: the NEON kernels compute the exact integer part of dotK
// (dot.go), the per-group sums Σq·x, for nb super-blocks into s; Go finishes
// each super-block in dotK's order (dot_arm64.go), so the float steps are
// dotK's own. Every sum is an integer below 2^31, so any order gives the
// same bits.

// func q4_KSumsNEON(w, x *byte, nb int, s *int32)
// s[8b+j] = Σ over sub-block j (32 values) of super-block b of q·x, with q
// the low nibbles of qs[32c..32c+31] for j = 2c and the high ones for
// j = 2c+1 (dequantize_row_q4_K's order).
TEXT ·q4_KSumsNEON(SB), NOSPLIT, $0-32
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	MOVD s+24(FP), R3
	VMOVI $15, V30.B16
	CBZ R2, q4kdone

q4kblock:
	ADD $16, R0, R5
	ADD $4, R1, R6
	MOVD $4, R7

q4kchunk:
	VLD1.P 32(R5), [V1.B16, V2.B16]
	VLD1.P 64(R6), [V3.B16, V4.B16, V5.B16, V6.B16]
	VAND V30.B16, V1.B16, V7.B16
	VAND V30.B16, V2.B16, V8.B16
	VUSHR $4, V1.B16, V9.B16
	VUSHR $4, V2.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	SDOT(11, 7, 3)
	SDOT(11, 8, 4)
	SDOT(12, 9, 5)
	SDOT(12, 10, 6)
	// [a0+a1, a2+a3, b0+b1, b2+b3], then once more: the two sub-block sums
	// in lanes 0 and 1 (lanes 2 and 3 repeat them).
	VADDP V12.S4, V11.S4, V13.S4
	VADDP V13.S4, V13.S4, V13.S4
	FMOVD F13, (R3)
	ADD $8, R3
	SUBS $1, R7
	BNE q4kchunk

	ADD $144, R0
	ADD $292, R1
	SUBS $1, R2
	BNE q4kblock

q4kdone:
	RET

// func q6_KSumsNEON(w, x *byte, nb int, s *int32)
// s[16b+g] = Σ over group g (16 values) of super-block b of q·x, q the
// 6-bit values minus 32 in dequantize_row_q6_K's order: in 128-value half
// n, value 32k+l (k = 0..3, l = 0..31) has the low nibble of ql[64n+l]
// (k = 0), of ql[64n+32+l] (k = 1), their high nibbles (k = 2, 3), and bits
// 2k, 2k+1 of qh[32n+l] above them.
TEXT ·q6_KSumsNEON(SB), NOSPLIT, $0-32
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	MOVD s+24(FP), R3
	VMOVI $15, V30.B16
	VMOVI $48, V29.B16
	VMOVI $32, V28.B16
	CBZ R2, q6kdone

q6kblock:
	MOVD R0, R5               // ql
	ADD $128, R0, R8          // qh
	ADD $4, R1, R6            // x qs
	MOVD $2, R7

q6khalf:
	VLD1.P 64(R5), [V0.B16, V1.B16, V2.B16, V3.B16]
	VLD1.P 32(R8), [V4.B16, V5.B16]
	// values 0..31: ql[l] & 15 | (qh[l] & 3) << 4
	VSHL $4, V4.B16, V6.B16
	VSHL $4, V5.B16, V7.B16
	VAND V29.B16, V6.B16, V6.B16
	VAND V29.B16, V7.B16, V7.B16
	VAND V30.B16, V0.B16, V8.B16
	VAND V30.B16, V1.B16, V9.B16
	VORR V6.B16, V8.B16, V8.B16
	VORR V7.B16, V9.B16, V9.B16
	VSUB V28.B16, V8.B16, V8.B16
	VSUB V28.B16, V9.B16, V9.B16
	VLD1.P 32(R6), [V10.B16, V11.B16]
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	SDOT(20, 8, 10)
	SDOT(21, 9, 11)
	// values 32..63: ql[32+l] & 15 | (qh[l] >> 2 & 3) << 4
	VSHL $2, V4.B16, V6.B16
	VSHL $2, V5.B16, V7.B16
	VAND V29.B16, V6.B16, V6.B16
	VAND V29.B16, V7.B16, V7.B16
	VAND V30.B16, V2.B16, V8.B16
	VAND V30.B16, V3.B16, V9.B16
	VORR V6.B16, V8.B16, V8.B16
	VORR V7.B16, V9.B16, V9.B16
	VSUB V28.B16, V8.B16, V8.B16
	VSUB V28.B16, V9.B16, V9.B16
	VLD1.P 32(R6), [V10.B16, V11.B16]
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	SDOT(22, 8, 10)
	SDOT(23, 9, 11)
	// values 64..95: ql[l] >> 4 | (qh[l] >> 4 & 3) << 4
	VAND V29.B16, V4.B16, V6.B16
	VAND V29.B16, V5.B16, V7.B16
	VUSHR $4, V0.B16, V8.B16
	VUSHR $4, V1.B16, V9.B16
	VORR V6.B16, V8.B16, V8.B16
	VORR V7.B16, V9.B16, V9.B16
	VSUB V28.B16, V8.B16, V8.B16
	VSUB V28.B16, V9.B16, V9.B16
	VLD1.P 32(R6), [V10.B16, V11.B16]
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	SDOT(24, 8, 10)
	SDOT(25, 9, 11)
	// values 96..127: ql[32+l] >> 4 | (qh[l] >> 6) << 4
	VUSHR $2, V4.B16, V6.B16
	VUSHR $2, V5.B16, V7.B16
	VAND V29.B16, V6.B16, V6.B16
	VAND V29.B16, V7.B16, V7.B16
	VUSHR $4, V2.B16, V8.B16
	VUSHR $4, V3.B16, V9.B16
	VORR V6.B16, V8.B16, V8.B16
	VORR V7.B16, V9.B16, V9.B16
	VSUB V28.B16, V8.B16, V8.B16
	VSUB V28.B16, V9.B16, V9.B16
	VLD1.P 32(R6), [V10.B16, V11.B16]
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	SDOT(26, 8, 10)
	SDOT(27, 9, 11)
	// eight group sums of this half: pairwise adds, twice
	VADDP V21.S4, V20.S4, V12.S4
	VADDP V23.S4, V22.S4, V13.S4
	VADDP V25.S4, V24.S4, V14.S4
	VADDP V27.S4, V26.S4, V15.S4
	VADDP V13.S4, V12.S4, V16.S4
	VADDP V15.S4, V14.S4, V17.S4
	VST1.P [V16.S4, V17.S4], 32(R3)
	SUBS $1, R7
	BNE q6khalf

	ADD $210, R0
	ADD $292, R1
	SUBS $1, R2
	BNE q6kblock

q6kdone:
	RET

// func q5_KSumsNEON(w, x *byte, nb int, s *int32)
// q4_KSumsNEON for q5_K (176-byte super-blocks: d, dmin, scales[12],
// qh[32], qs[128]): bit 2c (2c+1) of qh[l] is bit 4 of value 64c+l
// (64c+32+l), dequantize_row_q5_K's order. The qh vectors shift right by 2
// per chunk, so chunk c finds its two bits at positions 0 and 1.
TEXT ·q5_KSumsNEON(SB), NOSPLIT, $0-32
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	MOVD s+24(FP), R3
	VMOVI $15, V30.B16
	VMOVI $16, V29.B16
	CBZ R2, q5kdone

q5kblock:
	ADD $16, R0, R8
	VLD1 (R8), [V24.B16, V25.B16]
	ADD $48, R0, R5
	ADD $4, R1, R6
	MOVD $4, R7

q5kchunk:
	VLD1.P 32(R5), [V1.B16, V2.B16]
	VLD1.P 64(R6), [V3.B16, V4.B16, V5.B16, V6.B16]
	// low nibbles | bit 0 of the shifted qh, at bit 4
	VAND V30.B16, V1.B16, V7.B16
	VAND V30.B16, V2.B16, V8.B16
	VSHL $4, V24.B16, V14.B16
	VSHL $4, V25.B16, V15.B16
	VAND V29.B16, V14.B16, V14.B16
	VAND V29.B16, V15.B16, V15.B16
	VORR V14.B16, V7.B16, V7.B16
	VORR V15.B16, V8.B16, V8.B16
	// high nibbles | bit 1, at bit 4
	VUSHR $4, V1.B16, V9.B16
	VUSHR $4, V2.B16, V10.B16
	VSHL $3, V24.B16, V14.B16
	VSHL $3, V25.B16, V15.B16
	VAND V29.B16, V14.B16, V14.B16
	VAND V29.B16, V15.B16, V15.B16
	VORR V14.B16, V9.B16, V9.B16
	VORR V15.B16, V10.B16, V10.B16
	VUSHR $2, V24.B16, V24.B16
	VUSHR $2, V25.B16, V25.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	SDOT(11, 7, 3)
	SDOT(11, 8, 4)
	SDOT(12, 9, 5)
	SDOT(12, 10, 6)
	VADDP V12.S4, V11.S4, V13.S4
	VADDP V13.S4, V13.S4, V13.S4
	FMOVD F13, (R3)
	ADD $8, R3
	SUBS $1, R7
	BNE q5kchunk

	ADD $176, R0
	ADD $292, R1
	SUBS $1, R2
	BNE q5kblock

q5kdone:
	RET
