#include "textflag.h"

// AVX-512 p·V lane sums for f16 V caches (pvH16Lanes): one pass over the
// positions adds each into its lane row, then the rows are reduced in
// registers with reduceLanes16/reduceLanes4x16's additions. Products of
// two f16 values are exact in float32, so each FMA equals the twin's add.

// func pvLanesZ(acc *float32, d int, v *uint16, stride int, p *float32, n, lane0, lanes int)
// Clears lanes rows of d floats at acc, then for i < n adds p[i]*v_i
// (v_i = v + i*stride, d f16 values) to row (lane0+i) & (lanes-1).
// d is a positive multiple of 16; lanes a power of two.
TEXT ·pvLanesZ(SB), NOSPLIT, $0-64
	MOVQ   acc+0(FP), DI
	MOVQ   d+8(FP), BX
	MOVQ   v+16(FP), SI
	MOVQ   stride+24(FP), R8
	SHLQ   $1, R8 // stride in bytes
	MOVQ   p+32(FP), DX
	MOVQ   n+40(FP), CX
	MOVQ   lane0+48(FP), R9
	MOVQ   lanes+56(FP), R10
	MOVQ   R10, AX
	IMULQ  BX, AX // floats to clear
	VPXORD Z0, Z0, Z0
	MOVQ   DI, R11

clr:
	VMOVUPS Z0, 0(R11)
	ADDQ    $64, R11
	SUBQ    $16, AX
	JG      clr
	DECQ    R10 // lane mask
	TESTQ   CX, CX
	JLE     pdone

pos:
	MOVQ         R9, AX
	ANDQ         R10, AX
	IMULQ        BX, AX
	LEAQ         (DI)(AX*4), R11 // lane row
	VBROADCASTSS 0(DX), Z1
	XORQ         R12, R12

dl:
	VCVTPH2PS   0(SI)(R12*2), Z2
	VMOVUPS     0(R11)(R12*4), Z3
	VFMADD231PS Z2, Z1, Z3
	VMOVUPS     Z3, 0(R11)(R12*4)
	ADDQ        $16, R12
	CMPQ        R12, BX
	JLT         dl
	ADDQ        R8, SI
	ADDQ        $4, DX
	INCQ        R9
	DECQ        CX
	JNZ         pos

pdone:
	VZEROUPPER
	RET

// RED16 reduces Z0..Z15 (lane rows 0..15 of one 16-float column chunk)
// into Z0 in reduce16's order.
#define RED16 \
	VADDPS Z8, Z0, Z0; \
	VADDPS Z9, Z1, Z1; \
	VADDPS Z10, Z2, Z2; \
	VADDPS Z11, Z3, Z3; \
	VADDPS Z12, Z4, Z4; \
	VADDPS Z13, Z5, Z5; \
	VADDPS Z14, Z6, Z6; \
	VADDPS Z15, Z7, Z7; \
	VADDPS Z4, Z0, Z0; \
	VADDPS Z5, Z1, Z1; \
	VADDPS Z6, Z2, Z2; \
	VADDPS Z7, Z3, Z3; \
	VADDPS Z2, Z0, Z0; \
	VADDPS Z3, Z1, Z1; \
	VADDPS Z1, Z0, Z0

// L2(l, Z): Z = row l + row l+32 (R10 = row l, R11 = 32 rows in bytes).
#define L2(Z) \
	VMOVUPS 0(R10), Z; \
	VADDPS  0(R10)(R11*1), Z, Z; \
	ADDQ    R8, R10

// func reduceLanesZ(o, acc *float32, d, lanes int)
// o[x] = reduce16 (lanes 16) or reduce4x16 (lanes 64) of acc[l*d + x].
TEXT ·reduceLanesZ(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ d+16(FP), BX
	MOVQ lanes+24(FP), CX
	MOVQ BX, R8
	SHLQ $2, R8 // row bytes
	MOVQ R8, R11
	SHLQ $5, R11 // 32 rows
	XORQ R9, R9 // column offset (floats)

col:
	LEAQ (SI)(R9*4), R10
	CMPQ CX, $64
	JEQ  l64
	// 16 lanes: rows 0..15.
	VMOVUPS 0(R10), Z0
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z1
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z2
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z3
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z4
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z5
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z6
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z7
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z8
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z9
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z10
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z11
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z12
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z13
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z14
	ADDQ    R8, R10
	VMOVUPS 0(R10), Z15
	JMP     red

l64:
	// sum0[l] = row l + row 32+l (Z0..Z15); sum1[l] = row 16+l + row 48+l
	// (Z16..Z31, rows continue from R10 = row 16); sum0 += sum1.
	L2(Z0)
	L2(Z1)
	L2(Z2)
	L2(Z3)
	L2(Z4)
	L2(Z5)
	L2(Z6)
	L2(Z7)
	L2(Z8)
	L2(Z9)
	L2(Z10)
	L2(Z11)
	L2(Z12)
	L2(Z13)
	L2(Z14)
	L2(Z15)
	L2(Z16)
	L2(Z17)
	L2(Z18)
	L2(Z19)
	L2(Z20)
	L2(Z21)
	L2(Z22)
	L2(Z23)
	L2(Z24)
	L2(Z25)
	L2(Z26)
	L2(Z27)
	L2(Z28)
	L2(Z29)
	L2(Z30)
	L2(Z31)
	VADDPS Z16, Z0, Z0
	VADDPS Z17, Z1, Z1
	VADDPS Z18, Z2, Z2
	VADDPS Z19, Z3, Z3
	VADDPS Z20, Z4, Z4
	VADDPS Z21, Z5, Z5
	VADDPS Z22, Z6, Z6
	VADDPS Z23, Z7, Z7
	VADDPS Z24, Z8, Z8
	VADDPS Z25, Z9, Z9
	VADDPS Z26, Z10, Z10
	VADDPS Z27, Z11, Z11
	VADDPS Z28, Z12, Z12
	VADDPS Z29, Z13, Z13
	VADDPS Z30, Z14, Z14
	VADDPS Z31, Z15, Z15

red:
	RED16
	VMOVUPS Z0, 0(DI)(R9*4)
	ADDQ    $16, R9
	CMPQ    R9, BX
	JLT     col
	VZEROUPPER
	RET
