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

// The K types: q4_KDotNEON, q5_KDotNEON and q6_KDotNEON compute dotK
// (dot.go) bit for bit. Per super-block the group sums Σq·x come from SDOT
// (nibbles and 6-bit values unpacked in registers), the integer isum and
// imin from vector multiplies by the scales and mins (every sum an integer
// below 2^31, so the order cannot change it), and then dotK's float steps
// in its order, each rounded: acc += float(isum)·(d·dx), then (q4_K, q5_K)
// acc -= float(imin)·(dmin·dx).

// MUL / MLA Vd.4S, Vn.4S, Vm.4S
#define MUL4S(d, n, m) WORD $(0x4EA09C00 | (m<<16) | (n<<5) | d)
#define MLA4S(d, n, m) WORD $(0x4EA09400 | (m<<16) | (n<<5) | d)
// SADDLP Vd.4S, Vn.8H: adjacent int16 pairs summed into int32
#define SADDLP4S(d, n) WORD $(0x4E602800 | (n<<5) | d)
// SCVTF Sd, Sn (the int32 in lane 0)
#define SCVTFS(d, n) WORD $(0x5E21D800 | (n<<5) | d)
// SSHLL Vd.8H, Vn.8B, #0 / SSHLL2 Vd.8H, Vn.16B, #0 (sign-extend bytes)
#define SXTL8H(d, n) WORD $(0x0F08A400 | (n<<5) | d)
#define SXTL28H(d, n) WORD $(0x4F08A400 | (n<<5) | d)
// SSHLL Vd.4S, Vn.4H, #0 / SSHLL2 Vd.4S, Vn.8H, #0
#define SXTL4S(d, n) WORD $(0x0F10A400 | (n<<5) | d)
#define SXTL24S(d, n) WORD $(0x4F10A400 | (n<<5) | d)

// A q4_K/q5_K chunk: the next 32 qs bytes (R5) against the next 64
// activations (R6). KNIBBLES loads them and splits the nibbles (low: V7,
// V8, sub-block 2c; high: V9, V10, sub-block 2c+1, as dequantize_row_q4_K
// orders them); KSDOT sums them into the 4-lane accumulators a (low) and b
// (high).
#define KNIBBLES \
	VLD1.P 32(R5), [V1.B16, V2.B16] \
	VLD1.P 64(R6), [V3.B16, V4.B16, V5.B16, V6.B16] \
	VAND V30.B16, V1.B16, V7.B16 \
	VAND V30.B16, V2.B16, V8.B16 \
	VUSHR $4, V1.B16, V9.B16 \
	VUSHR $4, V2.B16, V10.B16

#define KSDOT(a, an, b, bn) \
	VEOR a, a, a \
	VEOR b, b, b \
	SDOT(an, 7, 3) \
	SDOT(an, 8, 4) \
	SDOT(bn, 9, 5) \
	SDOT(bn, 10, 6)

#define Q4CHUNK(a, an, b, bn) \
	KNIBBLES \
	KSDOT(a, an, b, bn)

// QHBIT(sh, lo, hi): bit 4 of the values in lo, hi from the qh vectors
// (V24, V25) shifted left by sh and masked with 0x10 (V29).
#define QHBIT(sh, lo, hi) \
	VSHL $sh, V24.B16, V19.B16 \
	VSHL $sh, V25.B16, V20.B16 \
	VAND V29.B16, V19.B16, V19.B16 \
	VAND V29.B16, V20.B16, V20.B16 \
	VORR V19.B16, lo, lo \
	VORR V20.B16, hi, hi

// Q5CHUNK: Q4CHUNK with bit 4 from qh, which shifts right by 2 per chunk
// so that chunk c finds bits 2c and 2c+1 at 0 and 1 (dequantize_row_q5_K).
#define Q5CHUNK(a, an, b, bn) \
	KNIBBLES \
	QHBIT(4, V7.B16, V8.B16) \
	QHBIT(3, V9.B16, V10.B16) \
	VUSHR $2, V24.B16, V24.B16 \
	VUSHR $2, V25.B16, V25.B16 \
	KSDOT(a, an, b, bn)

// KFIN45 finishes a q4_K/q5_K super-block (R0: its d, dmin, scales[12];
// R1: the q8_K block) from the chunks' lane sums in V11..V18 into the
// float accumulator F27, in dotK's order.
#define KFIN45 \
	VADDP V12.S4, V11.S4, V19.S4 \
	VADDP V14.S4, V13.S4, V20.S4 \
	VADDP V20.S4, V19.S4, V21.S4 \
	VADDP V16.S4, V15.S4, V19.S4 \
	VADDP V18.S4, V17.S4, V20.S4 \
	VADDP V20.S4, V19.S4, V22.S4 \
	MOVWU 4(R0), R7 \
	MOVWU 8(R0), R8 \
	MOVWU 12(R0), R9 \
	AND R10, R7, R13 \
	AND R11, R9, R14 \
	LSR $6, R7, R15 \
	AND R12, R15, R15 \
	ORR R15<<4, R14, R14 \
	ORR R14<<32, R13, R13 \
	AND R10, R8, R19 \
	LSR $4, R9, R14 \
	AND R11, R14, R14 \
	LSR $6, R8, R15 \
	AND R12, R15, R15 \
	ORR R15<<4, R14, R14 \
	ORR R14<<32, R19, R19 \
	VMOV R13, V23.D[0] \
	VMOV R19, V23.D[1] \
	VUXTL V23.B8, V1.H8 \
	VUXTL2 V23.B16, V2.H8 \
	VUXTL V1.H4, V3.S4 \
	VUXTL2 V1.H8, V4.S4 \
	VUXTL V2.H4, V5.S4 \
	VUXTL2 V2.H8, V6.S4 \
	MUL4S(7, 21, 3) \
	MLA4S(7, 22, 4) \
	VADDV V7.S4, V7 \
	ADD $260, R1, R7 \
	VLD1 (R7), [V8.H8, V9.H8] \
	SADDLP4S(8, 8) \
	SADDLP4S(9, 9) \
	MUL4S(10, 8, 5) \
	MLA4S(10, 9, 6) \
	VADDV V10.S4, V10 \
	SCVTFS(7, 7) \
	SCVTFS(10, 10) \
	FMOVS (R1), F11 \
	MOVHU (R0), R7 \
	FMOVS R7, F12 \
	FCVTSH(12, 12) \
	MOVHU 2(R0), R7 \
	FMOVS R7, F13 \
	FCVTSH(13, 13) \
	FMULS F11, F12, F12 \
	FMULS F12, F7, F7 \
	FADDS F7, F27, F27 \
	FMULS F11, F13, F13 \
	FMULS F13, F10, F10 \
	FSUBS F10, F27, F27

// ggml's kmask1..3 (ggml_vec_dot_q4_K_q8_K): the eight 6-bit scales in the
// bytes of (a0&km1) | ((a2&km2) | (a0>>6&km3)<<4)<<32, the mins in those of
// (a1&km1) | ((a2>>4&km2) | (a1>>6&km3)<<4)<<32 (a0..a2: the scale words).
#define KMASKS \
	MOVD $0x3f3f3f3f, R10 \
	MOVD $0x0f0f0f0f, R11 \
	MOVD $0x03030303, R12

// func q4_KDotNEON(w, x *byte, nb int) float32
TEXT ·q4_KDotNEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VMOVI $15, V30.B16
	KMASKS
	VEOR V27.B16, V27.B16, V27.B16
	CBZ R2, q4kdone

q4kblock:
	ADD $16, R0, R5
	ADD $4, R1, R6
	Q4CHUNK(V11.B16, 11, V12.B16, 12)
	Q4CHUNK(V13.B16, 13, V14.B16, 14)
	Q4CHUNK(V15.B16, 15, V16.B16, 16)
	Q4CHUNK(V17.B16, 17, V18.B16, 18)
	KFIN45
	ADD $144, R0
	ADD $292, R1
	SUBS $1, R2
	BNE q4kblock

q4kdone:
	FMOVS F27, ret+24(FP)
	RET

// func q5_KDotNEON(w, x *byte, nb int) float32
TEXT ·q5_KDotNEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VMOVI $15, V30.B16
	VMOVI $16, V29.B16
	KMASKS
	VEOR V27.B16, V27.B16, V27.B16
	CBZ R2, q5kdone

q5kblock:
	ADD $16, R0, R5
	VLD1 (R5), [V24.B16, V25.B16]
	ADD $48, R0, R5
	ADD $4, R1, R6
	Q5CHUNK(V11.B16, 11, V12.B16, 12)
	Q5CHUNK(V13.B16, 13, V14.B16, 14)
	Q5CHUNK(V15.B16, 15, V16.B16, 16)
	Q5CHUNK(V17.B16, 17, V18.B16, 18)
	KFIN45
	ADD $176, R0
	ADD $292, R1
	SUBS $1, R2
	BNE q5kblock

q5kdone:
	FMOVS F27, ret+24(FP)
	RET

// Q6QUARTER: values 32k..32k+31 of the current 128-value half, given as
// two vectors of bytes in V8, V9 before the -32: minus 32, then the group
// sums of 16 values against the next 32 activations into a.4S and b.4S.
#define Q6QUARTER(a, an, b, bn) \
	VSUB V28.B16, V8.B16, V8.B16 \
	VSUB V28.B16, V9.B16, V9.B16 \
	VLD1.P 32(R6), [V10.B16, V11.B16] \
	VEOR a, a, a \
	VEOR b, b, b \
	SDOT(an, 8, 10) \
	SDOT(bn, 9, 11)

// Q6HALF: one 128-value half (ql at R5, qh at R8, both advanced); the
// eight group sums end in lo.4S (groups 0..3 of the half) and hi.4S.
#define Q6HALF(lo, hi) \
	VLD1.P 64(R5), [V0.B16, V1.B16, V2.B16, V3.B16] \
	VLD1.P 32(R8), [V4.B16, V5.B16] \
	VSHL $4, V4.B16, V6.B16 \
	VSHL $4, V5.B16, V7.B16 \
	VAND V29.B16, V6.B16, V6.B16 \
	VAND V29.B16, V7.B16, V7.B16 \
	VAND V30.B16, V0.B16, V8.B16 \
	VAND V30.B16, V1.B16, V9.B16 \
	VORR V6.B16, V8.B16, V8.B16 \
	VORR V7.B16, V9.B16, V9.B16 \
	Q6QUARTER(V20.B16, 20, V21.B16, 21) \
	VSHL $2, V4.B16, V6.B16 \
	VSHL $2, V5.B16, V7.B16 \
	VAND V29.B16, V6.B16, V6.B16 \
	VAND V29.B16, V7.B16, V7.B16 \
	VAND V30.B16, V2.B16, V8.B16 \
	VAND V30.B16, V3.B16, V9.B16 \
	VORR V6.B16, V8.B16, V8.B16 \
	VORR V7.B16, V9.B16, V9.B16 \
	Q6QUARTER(V22.B16, 22, V23.B16, 23) \
	VAND V29.B16, V4.B16, V6.B16 \
	VAND V29.B16, V5.B16, V7.B16 \
	VUSHR $4, V0.B16, V8.B16 \
	VUSHR $4, V1.B16, V9.B16 \
	VORR V6.B16, V8.B16, V8.B16 \
	VORR V7.B16, V9.B16, V9.B16 \
	Q6QUARTER(V24.B16, 24, V25.B16, 25) \
	VUSHR $2, V4.B16, V6.B16 \
	VUSHR $2, V5.B16, V7.B16 \
	VAND V29.B16, V6.B16, V6.B16 \
	VAND V29.B16, V7.B16, V7.B16 \
	VUSHR $4, V2.B16, V8.B16 \
	VUSHR $4, V3.B16, V9.B16 \
	VORR V6.B16, V8.B16, V8.B16 \
	VORR V7.B16, V9.B16, V9.B16 \
	Q6QUARTER(V26.B16, 26, V31.B16, 31) \
	VADDP V21.S4, V20.S4, V12.S4 \
	VADDP V23.S4, V22.S4, V13.S4 \
	VADDP V25.S4, V24.S4, V14.S4 \
	VADDP V31.S4, V26.S4, V15.S4 \
	VADDP V13.S4, V12.S4, lo \
	VADDP V15.S4, V14.S4, hi

// func q6_KDotNEON(w, x *byte, nb int) float32
// The 6-bit values minus 32 in dequantize_row_q6_K's order: in 128-value
// half n, value 32k+l (k = 0..3, l = 0..31) has the low nibble of
// ql[64n+l] (k = 0), of ql[64n+32+l] (k = 1), their high nibbles (k = 2,
// 3), and bits 2k, 2k+1 of qh[32n+l] above them; 16 groups of 16 with
// int8 scales[16] at 192, d at 208.
TEXT ·q6_KDotNEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD nb+16(FP), R2
	VMOVI $15, V30.B16
	VMOVI $48, V29.B16
	VMOVI $32, V28.B16
	VEOR V27.B16, V27.B16, V27.B16
	CBZ R2, q6kdone

q6kblock:
	MOVD R0, R5
	ADD $128, R0, R8
	ADD $4, R1, R6
	Q6HALF(V16.S4, V17.S4)
	Q6HALF(V18.S4, V19.S4)
	ADD $192, R0, R7
	VLD1 (R7), [V1.B16]
	SXTL8H(2, 1)
	SXTL28H(3, 1)
	SXTL4S(4, 2)
	SXTL24S(5, 2)
	SXTL4S(6, 3)
	SXTL24S(7, 3)
	MUL4S(8, 16, 4)
	MLA4S(8, 17, 5)
	MLA4S(8, 18, 6)
	MLA4S(8, 19, 7)
	VADDV V8.S4, V8
	SCVTFS(8, 8)
	FMOVS (R1), F11
	MOVHU 208(R0), R7
	FMOVS R7, F12
	FCVTSH(12, 12)
	FMULS F11, F12, F12
	FMULS F12, F8, F8
	FADDS F8, F27, F27
	ADD $210, R0
	ADD $292, R1
	SUBS $1, R2
	BNE q6kblock

q6kdone:
	FMOVS F27, ret+24(FP)
	RET
