#include "textflag.h"

// func scoresH16V4(sc *float32, scStride int, k *uint16, stride, n int, q *float32, qStride, d int, scale float32)
// scoresH16V for the 4 query heads of a GQA group that read the same K rows:
// each row is converted from f16 once and multiplied into the 4 queries
// (qStride floats apart; scores scStride floats apart). Per query the
// arithmetic is scoresH16V's lane for lane: its 4 accumulators of 16 lanes
// (Y(2a), Y(2a+1) there, one ZMM here: Z(4h+a)), the same folds, REDUCE,
// times scale, so every score is bit for bit scoresH16VGo's. d is a
// multiple of 64. AVX-512 F.
TEXT ·scoresH16V4(SB), NOSPLIT, $0-68
	MOVQ sc+0(FP), DI
	MOVQ scStride+8(FP), R14
	SHLQ $2, R14
	MOVQ k+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $1, R8
	MOVQ n+32(FP), CX
	MOVQ q+40(FP), DX
	MOVQ qStride+48(FP), R13
	SHLQ $2, R13
	LEAQ (DX)(R13*1), R10
	LEAQ (R10)(R13*1), R11
	LEAQ (R11)(R13*1), R12
	MOVQ d+56(FP), R9
	SHRQ $6, R9
	TESTQ CX, CX
	JLE   sv4_done

sv4_row:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ SI, AX
	XORQ BX, BX
	MOVQ R9, R13

sv4_step:
	VCVTPH2PS 0(AX), Z16
	VCVTPH2PS 32(AX), Z17
	VCVTPH2PS 64(AX), Z18
	VCVTPH2PS 96(AX), Z19
	VFMADD231PS 0(DX)(BX*1), Z16, Z0
	VFMADD231PS 64(DX)(BX*1), Z17, Z1
	VFMADD231PS 128(DX)(BX*1), Z18, Z2
	VFMADD231PS 192(DX)(BX*1), Z19, Z3
	VFMADD231PS 0(R10)(BX*1), Z16, Z4
	VFMADD231PS 64(R10)(BX*1), Z17, Z5
	VFMADD231PS 128(R10)(BX*1), Z18, Z6
	VFMADD231PS 192(R10)(BX*1), Z19, Z7
	VFMADD231PS 0(R11)(BX*1), Z16, Z8
	VFMADD231PS 64(R11)(BX*1), Z17, Z9
	VFMADD231PS 128(R11)(BX*1), Z18, Z10
	VFMADD231PS 192(R11)(BX*1), Z19, Z11
	VFMADD231PS 0(R12)(BX*1), Z16, Z12
	VFMADD231PS 64(R12)(BX*1), Z17, Z13
	VFMADD231PS 128(R12)(BX*1), Z18, Z14
	VFMADD231PS 192(R12)(BX*1), Z19, Z15
	ADDQ $128, AX
	ADDQ $256, BX
	DECQ R13
	JNZ  sv4_step

	// Per query h (accumulators Z(4h)..Z(4h+3)): scoresH16V's folds
	// (a0+a2, a1+a3, then their sum), REDUCE over lanes 0..7 and 8..15,
	// times scale, to sc + h*scStride.
	LEAQ (DI)(R14*2), AX
	VADDPS        Z2, Z0, Z0
	VADDPS        Z3, Z1, Z1
	VADDPS        Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VMULSS        scale+64(FP), X0, X0
	VMOVSS        X0, 0(DI)
	VADDPS        Z6, Z4, Z4
	VADDPS        Z7, Z5, Z5
	VADDPS        Z5, Z4, Z4
	VEXTRACTF64X4 $1, Z4, Y5
	VADDPS        Y5, Y4, Y4
	VEXTRACTF128  $1, Y4, X5
	VADDPS        X5, X4, X4
	VMOVHLPS      X4, X4, X5
	VADDPS        X5, X4, X4
	VMOVSHDUP     X4, X5
	VADDSS        X5, X4, X4
	VMULSS        scale+64(FP), X4, X4
	VMOVSS        X4, (DI)(R14*1)
	VADDPS        Z10, Z8, Z8
	VADDPS        Z11, Z9, Z9
	VADDPS        Z9, Z8, Z8
	VEXTRACTF64X4 $1, Z8, Y9
	VADDPS        Y9, Y8, Y8
	VEXTRACTF128  $1, Y8, X9
	VADDPS        X9, X8, X8
	VMOVHLPS      X8, X8, X9
	VADDPS        X9, X8, X8
	VMOVSHDUP     X8, X9
	VADDSS        X9, X8, X8
	VMULSS        scale+64(FP), X8, X8
	VMOVSS        X8, 0(AX)
	VADDPS        Z14, Z12, Z12
	VADDPS        Z15, Z13, Z13
	VADDPS        Z13, Z12, Z12
	VEXTRACTF64X4 $1, Z12, Y13
	VADDPS        Y13, Y12, Y12
	VEXTRACTF128  $1, Y12, X13
	VADDPS        X13, X12, X12
	VMOVHLPS      X12, X12, X13
	VADDPS        X13, X12, X12
	VMOVSHDUP     X12, X13
	VADDSS        X13, X12, X12
	VMULSS        scale+64(FP), X12, X12
	VMOVSS        X12, (AX)(R14*1)
	ADDQ $4, DI
	ADDQ R8, SI
	DECQ CX
	JNZ  sv4_row

sv4_done:
	VZEROUPPER
	RET
