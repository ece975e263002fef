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
