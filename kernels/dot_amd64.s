#include "textflag.h"

// AVX2 / AVX-512 VNNI dot products for 32-element block types. They follow
// dot.go's order, which is ggml's AVX2 vec_dot order: every block's 8 lane
// sums are fused-multiply-added into the 8 lanes of Y0, then hsum_float_8,
// so they equal the pure-Go twins bit for bit. The integer kernels
// use ggml's sign trick (|w| * sign(w)*y through VPMADDUBSW or VPDPBUSD); the
// 32-bit lane l always holds the sum of elements 4l..4l+3.

// q5_0 high-bit expansion constants (ggml's bytes_from_bits_32).
DATA q5shuf<>+0(SB)/8, $0x0000000000000000
DATA q5shuf<>+8(SB)/8, $0x0101010101010101
DATA q5shuf<>+16(SB)/8, $0x0202020202020202
DATA q5shuf<>+24(SB)/8, $0x0303030303030303
GLOBL q5shuf<>(SB), RODATA|NOPTR, $32

// BLOCKD sets Y7 to the broadcast product of the f16 scales at wd and xd
// (F16C), clobbering AX, BX, X8.
#define BLOCKD(wd, xd) \
	MOVWLZX wd, AX; \
	MOVWLZX xd, BX; \
	SHLL    $16, BX; \
	ORL     BX, AX; \
	VMOVD   AX, X7; \
	VCVTPH2PS X7, X7; \
	VMOVSHDUP X7, X8; \
	VMULSS  X8, X7, X7; \
	VBROADCASTSS X7, Y7

// SUMI8_AVX2 sets Y6 to the 8 int32 lane sums of the int8 products Y2*Y3.
#define SUMI8_AVX2 \
	VPSIGNB    Y2, Y2, Y4; \
	VPSIGNB    Y2, Y3, Y5; \
	VPMADDUBSW Y5, Y4, Y6; \
	VPMADDWD   Y13, Y6, Y6

#define SUMI8_VNNI \
	VPSIGNB  Y2, Y2, Y4; \
	VPSIGNB  Y2, Y3, Y5; \
	VPXOR    Y6, Y6, Y6; \
	VPDPBUSD Y5, Y4, Y6

// ACCUM adds float(Y6)*Y7 to ACC with one rounding (ggml's _mm256_fmadd_ps).
#define ACCUM(ACC) \
	VCVTDQ2PS   Y6, Y6; \
	VFMADD231PS Y7, Y6, ACC

// ACCUM_SPLIT adds float(Y6)*Y7 to ACC, multiply and add rounded
// separately (dotQ5_0's order).
#define ACCUM_SPLIT(ACC) \
	VCVTDQ2PS Y6, Y6; \
	VMULPS    Y7, Y6, Y6; \
	VADDPS    Y6, ACC, ACC

// HSUM8 reduces Y0 into X0 as ggml's hsum_float_8.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

// REDUCE folds Y0 (lanes 0..7) and Y1 (lanes 8..15) like reduce16 into X0.
#define REDUCE \
	VADDPS       Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

#define SETUP \
	MOVQ  w+0(FP), SI; \
	MOVQ  x+8(FP), DI; \
	MOVQ  nb+16(FP), CX; \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	MOVL  $0x00010001, AX; \
	VMOVD AX, X13; \
	VPBROADCASTD X13, Y13; \
	MOVL  $0x0F0F0F0F, AX; \
	VMOVD AX, X12; \
	VPBROADCASTD X12, Y12; \
	MOVL  $0x08080808, AX; \
	VMOVD AX, X11; \
	VPBROADCASTD X11, Y11

// ---- q8_0 x q8_0 ----
#define Q8_0_BLOCK(o, SUMI, ACC) \
	VMOVDQU o+2(SI), Y2; \
	VMOVDQU o+2(DI), Y3; \
	SUMI; \
	BLOCKD(o(SI), o(DI)); \
	ACCUM(ACC)

#define Q8_0_BODY(SUMI) \
	SETUP; \
loop2: \
	CMPQ CX, $2; \
	JLT  tail; \
	Q8_0_BLOCK(0, SUMI, Y0); \
	Q8_0_BLOCK(34, SUMI, Y0); \
	ADDQ $68, SI; \
	ADDQ $68, DI; \
	SUBQ $2, CX; \
	JMP  loop2; \
tail: \
	CMPQ CX, $1; \
	JLT  done; \
	Q8_0_BLOCK(0, SUMI, Y0); \
done: \
	HSUM8; \
	VZEROUPPER; \
	MOVSS X0, ret+24(FP); \
	RET

// func q8_0DotAVX2(w, x *byte, nb int) float32
TEXT ·q8_0DotAVX2(SB), NOSPLIT, $0-28
	Q8_0_BODY(SUMI8_AVX2)

// func q8_0DotVNNI(w, x *byte, nb int) float32
TEXT ·q8_0DotVNNI(SB), NOSPLIT, $0-28
	Q8_0_BODY(SUMI8_VNNI)

// ---- q4_0 x q8_0 ----
#define Q4_0_BLOCK(wo, xo, SUMI, ACC) \
	VMOVDQU     wo+2(SI), X2; \
	VPSRLW      $4, X2, X3; \
	VINSERTI128 $1, X3, Y2, Y2; \
	VPAND       Y12, Y2, Y2; \
	VPSUBB      Y11, Y2, Y2; \
	VMOVDQU     xo+2(DI), Y3; \
	SUMI; \
	BLOCKD(wo(SI), xo(DI)); \
	ACCUM(ACC)

#define Q4_0_BODY(SUMI) \
	SETUP; \
loop2: \
	CMPQ CX, $2; \
	JLT  tail; \
	Q4_0_BLOCK(0, 0, SUMI, Y0); \
	Q4_0_BLOCK(18, 34, SUMI, Y0); \
	ADDQ $36, SI; \
	ADDQ $68, DI; \
	SUBQ $2, CX; \
	JMP  loop2; \
tail: \
	CMPQ CX, $1; \
	JLT  done; \
	Q4_0_BLOCK(0, 0, SUMI, Y0); \
done: \
	HSUM8; \
	VZEROUPPER; \
	MOVSS X0, ret+24(FP); \
	RET

// func q4_0DotAVX2(w, x *byte, nb int) float32
TEXT ·q4_0DotAVX2(SB), NOSPLIT, $0-28
	Q4_0_BODY(SUMI8_AVX2)

// func q4_0DotVNNI(w, x *byte, nb int) float32
TEXT ·q4_0DotVNNI(SB), NOSPLIT, $0-28
	Q4_0_BODY(SUMI8_VNNI)

// ---- q5_0 x q8_0 ----
// Y9: bit-select mask, Y10: byte shuffle, Y14: all ones, Y15: 0xF0.
#define Q5_SETUP \
	MOVQ   $0x7fbfdfeff7fbfdfe, AX; \
	VMOVQ  AX, X9; \
	VPBROADCASTQ X9, Y9; \
	VMOVDQU q5shuf<>(SB), Y10; \
	VPCMPEQB Y14, Y14, Y14; \
	MOVL   $0xF0F0F0F0, AX; \
	VMOVD  AX, X15; \
	VPBROADCASTD X15, Y15

#define Q5_0_BLOCK(wo, xo, SUMI, ACC) \
	VMOVDQU      wo+6(SI), X2; \
	VPSRLW       $4, X2, X3; \
	VINSERTI128  $1, X3, Y2, Y2; \
	VPAND        Y12, Y2, Y2; \
	VPBROADCASTD wo+2(SI), Y8; \
	VPSHUFB      Y10, Y8, Y8; \
	VPOR         Y9, Y8, Y8; \
	VPCMPEQB     Y14, Y8, Y8; \
	VPANDN       Y15, Y8, Y8; \
	VPOR         Y8, Y2, Y2; \
	VMOVDQU      xo+2(DI), Y3; \
	SUMI; \
	BLOCKD(wo(SI), xo(DI)); \
	ACCUM_SPLIT(ACC)

#define Q5_0_BODY(SUMI) \
	SETUP; \
	Q5_SETUP; \
loop2: \
	CMPQ CX, $2; \
	JLT  tail; \
	Q5_0_BLOCK(0, 0, SUMI, Y0); \
	Q5_0_BLOCK(22, 34, SUMI, Y1); \
	ADDQ $44, SI; \
	ADDQ $68, DI; \
	SUBQ $2, CX; \
	JMP  loop2; \
tail: \
	CMPQ CX, $1; \
	JLT  done; \
	Q5_0_BLOCK(0, 0, SUMI, Y0); \
done: \
	REDUCE; \
	VZEROUPPER; \
	MOVSS X0, ret+24(FP); \
	RET

// func q5_0DotAVX2(w, x *byte, nb int) float32
TEXT ·q5_0DotAVX2(SB), NOSPLIT, $0-28
	Q5_0_BODY(SUMI8_AVX2)

// func q5_0DotVNNI(w, x *byte, nb int) float32
TEXT ·q5_0DotVNNI(SB), NOSPLIT, $0-28
	Q5_0_BODY(SUMI8_VNNI)

// ---- q4_1 / q5_1 x q8_1 ----
// The weights are unsigned (0..15, 0..31), so VPMADDUBSW and VPDPBUSD take
// them as they are, without the sign trick; dotQx_1's min term
// (f16(m_w)*f16(s_x), exact in float32) is summed in X1 block by block and
// added after hsum_float_8. Y15 holds 0x10 bytes (the fifth bit).

#define SUMU8_AVX2 \
	VPMADDUBSW Y3, Y2, Y6; \
	VPMADDWD   Y13, Y6, Y6

#define SUMU8_VNNI \
	VPXOR    Y6, Y6, Y6; \
	VPDPBUSD Y3, Y2, Y6

#define MINSUM(wm, xs) \
	BLOCKD(wm, xs); \
	VADDSS X7, X1, X1

#define Q4_1_BLOCK(SUMI) \
	MINSUM(2(SI), 2(DI)); \
	VMOVDQU     4(SI), X2; \
	VPSRLW      $4, X2, X3; \
	VINSERTI128 $1, X3, Y2, Y2; \
	VPAND       Y12, Y2, Y2; \
	VMOVDQU     4(DI), Y3; \
	SUMI; \
	BLOCKD(0(SI), 0(DI)); \
	ACCUM(Y0)

#define Q5_1_BLOCK(SUMI) \
	MINSUM(2(SI), 2(DI)); \
	VMOVDQU      8(SI), X2; \
	VPSRLW       $4, X2, X3; \
	VINSERTI128  $1, X3, Y2, Y2; \
	VPAND        Y12, Y2, Y2; \
	VPBROADCASTD 4(SI), Y8; \
	VPSHUFB      Y10, Y8, Y8; \
	VPOR         Y9, Y8, Y8; \
	VPCMPEQB     Y14, Y8, Y8; \
	VPAND        Y15, Y8, Y8; \
	VPOR         Y8, Y2, Y2; \
	VMOVDQU      4(DI), Y3; \
	SUMI; \
	BLOCKD(0(SI), 0(DI)); \
	ACCUM(Y0)

#define QX_1_BODY(BLOCK, WSIZE, SUMI) \
	SETUP; \
	Q5_SETUP; \
	MOVL  $0x10101010, AX; \
	VMOVD AX, X15; \
	VPBROADCASTD X15, Y15; \
loop: \
	CMPQ CX, $1; \
	JLT  done; \
	BLOCK(SUMI); \
	ADDQ $WSIZE, SI; \
	ADDQ $36, DI; \
	DECQ CX; \
	JMP  loop; \
done: \
	VMOVAPS X1, X5; \
	HSUM8; \
	VADDSS X5, X0, X0; \
	VZEROUPPER; \
	MOVSS X0, ret+24(FP); \
	RET

// func q4_1DotAVX2(w, x *byte, nb int) float32
TEXT ·q4_1DotAVX2(SB), NOSPLIT, $0-28
	QX_1_BODY(Q4_1_BLOCK, 20, SUMU8_AVX2)

// func q4_1DotVNNI(w, x *byte, nb int) float32
TEXT ·q4_1DotVNNI(SB), NOSPLIT, $0-28
	QX_1_BODY(Q4_1_BLOCK, 20, SUMU8_VNNI)

// func q5_1DotAVX2(w, x *byte, nb int) float32
TEXT ·q5_1DotAVX2(SB), NOSPLIT, $0-28
	QX_1_BODY(Q5_1_BLOCK, 24, SUMU8_AVX2)

// func q5_1DotVNNI(w, x *byte, nb int) float32
TEXT ·q5_1DotVNNI(SB), NOSPLIT, $0-28
	QX_1_BODY(Q5_1_BLOCK, 24, SUMU8_VNNI)

// ---- f16 x f16 ----
// Products of two f16 values are exact in float32, so the fused multiply-add
// rounds exactly like dotF16's separate multiply and add. Elements i..i+7 of
// each 16-group go to Y0 (lanes 0..7), i+8..i+15 to Y1 (lanes 8..15).

// func f16DotAVX2(w *byte, x *uint16, n16 int) float32
TEXT ·f16DotAVX2(SB), NOSPLIT, $0-28
	MOVQ  w+0(FP), SI
	MOVQ  x+8(FP), DI
	MOVQ  n16+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	TESTQ CX, CX
	JLE   f16done

f16loop:
	VCVTPH2PS   0(SI), Y2
	VCVTPH2PS   16(SI), Y3
	VCVTPH2PS   0(DI), Y4
	VCVTPH2PS   16(DI), Y5
	VFMADD231PS Y4, Y2, Y0
	VFMADD231PS Y5, Y3, Y1
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         f16loop

f16done:
	REDUCE
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// F16H adds 8 elements (f16 weights at o(SI), f16 activations at o(DI)) to A.
#define F16H(o, A) \
	VCVTPH2PS   o(SI), Y8; \
	VCVTPH2PS   o(DI), Y9; \
	VFMADD231PS Y9, Y8, A

// func f16DotAVX2V(w *byte, x *uint16, n64 int) float32
// f16DotV (dotF16's SIMD part) with 256-bit registers: accumulator j's
// lanes 0..7 in Y(2j), 8..15 in Y(2j+1); GGML_F32x16_REDUCE's folds, then
// reduce16 (REDUCE).
TEXT ·f16DotAVX2V(SB), NOSPLIT, $0-28
	MOVQ  w+0(FP), SI
	MOVQ  x+8(FP), DI
	MOVQ  n64+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JLE   hvdone

hvloop:
	F16H(0, Y0)
	F16H(16, Y1)
	F16H(32, Y2)
	F16H(48, Y3)
	F16H(64, Y4)
	F16H(80, Y5)
	F16H(96, Y6)
	F16H(112, Y7)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  hvloop

hvdone:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	REDUCE
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
