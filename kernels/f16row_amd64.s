#include "textflag.h"

// F16C row conversions (f16row.go).

// func cvtF32F16AVX2(o *uint16, x *float32, n int)
// F16C float32 -> binary16, round to nearest even (immediate 0): 32 values
// per step while 32 are left, then 8.
TEXT ·cvtF32F16AVX2(SB), NOSPLIT, $0-24
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
c2h32:
	CMPQ CX, $32
	JLT  c2h8
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VCVTPS2PH $0, Y0, X0
	VCVTPS2PH $0, Y1, X1
	VCVTPS2PH $0, Y2, X2
	VCVTPS2PH $0, Y3, X3
	VMOVDQU X0, 0(DI)
	VMOVDQU X1, 16(DI)
	VMOVDQU X2, 32(DI)
	VMOVDQU X3, 48(DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JMP  c2h32
c2h8:
	TESTQ CX, CX
	JZ    c2hdone
	VMOVUPS 0(SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU X0, 0(DI)
	ADDQ $32, SI
	ADDQ $16, DI
	SUBQ $8, CX
	JMP  c2h8
c2hdone:
	VZEROUPPER
	RET

// func cvtF16F32AVX2(o *float32, x *uint16, n int)
// F16C binary16 -> float32 (exact): 32 values per step while 32 are left,
// then 8.
TEXT ·cvtF16F32AVX2(SB), NOSPLIT, $0-24
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
h2c32:
	CMPQ CX, $32
	JLT  h2c8
	VCVTPH2PS 0(SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  h2c32
h2c8:
	TESTQ CX, CX
	JZ    h2cdone
	VCVTPH2PS 0(SI), Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  h2c8
h2cdone:
	VZEROUPPER
	RET
