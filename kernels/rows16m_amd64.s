#include "textflag.h"

// Rows16 decode kernels for 2 or 4 activation rows at once (rows16m.go):
// each tile's quant bytes are loaded and split once into Z0..Z7 and then
// multiplied with every activation row, so a verification step or a small
// batch reads each weight byte once instead of once per row. Per row the
// instructions and their order are exactly GEMV_R16's (rows16_amd64.s), so
// every output equals gemvR16Q4_0/gemvR16Q8_0 on that row bit for bit.

// Registers: SI the tile; DI, R9, R10, R11 the activation blocks of rows
// 0..3; Z24 the tile's 16 d_w; Z29 0x0F bytes, Z28 0x80 bytes.

// W_Q4_0: Z0..Z3 the low nibbles of chunks 0..3 (elements 4c..), Z4..Z7
// their high nibbles (elements 16+4c..).
#define WSPLIT(OFF, ZL, ZH) \
	VMOVDQU64 OFF(SI), ZL; \
	VPSRLW    $4, ZL, ZH; \
	VPANDD    Z29, ZL, ZL; \
	VPANDD    Z29, ZH, ZH

#define W_Q4_0 \
	WSPLIT(32, Z0, Z4); \
	WSPLIT(96, Z1, Z5); \
	WSPLIT(160, Z2, Z6); \
	WSPLIT(224, Z3, Z7)

// W_Q8_0: Z0..Z7 chunks 0..7, u = q xor 0x80.
#define W_Q8_0 \
	VPXORD 32(SI), Z28, Z0; \
	VPXORD 96(SI), Z28, Z1; \
	VPXORD 160(SI), Z28, Z2; \
	VPXORD 224(SI), Z28, Z3; \
	VPXORD 288(SI), Z28, Z4; \
	VPXORD 352(SI), Z28, Z5; \
	VPXORD 416(SI), Z28, Z6; \
	VPXORD 480(SI), Z28, Z7

// Per activation row X: A from the bias and B from zero collect the 16
// exact block sums as BODY_R16_* do, then F = fma(float(A+B), d_w·d_x, F).
#define DOT_Q4_0(X, A, B) \
	VPDPBUSD.BCST 0(X), Z0, A; \
	VPDPBUSD.BCST 16(X), Z4, B; \
	VPDPBUSD.BCST 4(X), Z1, A; \
	VPDPBUSD.BCST 20(X), Z5, B; \
	VPDPBUSD.BCST 8(X), Z2, A; \
	VPDPBUSD.BCST 24(X), Z6, B; \
	VPDPBUSD.BCST 12(X), Z3, A; \
	VPDPBUSD.BCST 28(X), Z7, B

#define DOT_Q8_0(X, A, B) \
	VPDPBUSD.BCST 0(X), Z0, A; \
	VPDPBUSD.BCST 4(X), Z1, B; \
	VPDPBUSD.BCST 8(X), Z2, A; \
	VPDPBUSD.BCST 12(X), Z3, B; \
	VPDPBUSD.BCST 16(X), Z4, A; \
	VPDPBUSD.BCST 20(X), Z5, B; \
	VPDPBUSD.BCST 24(X), Z6, A; \
	VPDPBUSD.BCST 28(X), Z7, B

#define COL(DOT, X, A, B, S, F) \
	VMULPS.BCST  36(X), Z24, S; \
	VPBROADCASTD 32(X), A; \
	VPXORD       B, B, B; \
	DOT(X, A, B); \
	VPADDD       B, A, A; \
	VCVTDQ2PS    A, A; \
	VFMADD231PS  S, A, F

// GEMVM_R16 runs nb tiles of TILE bytes against NC (2 or 4) activation rows
// xs bytes apart; row c's 16 results go to out + c·ostride floats.
#define GEMVM_PROLOGUE \
	MOVQ   w+0(FP), SI; \
	MOVQ   x+8(FP), DI; \
	MOVQ   xs+16(FP), R8; \
	MOVQ   nb+24(FP), CX; \
	MOVQ   out+32(FP), DX; \
	MOVQ   ostride+40(FP), BX; \
	SHLQ   $2, BX; \
	LEAQ   (DI)(R8*1), R9; \
	LEAQ   (R9)(R8*1), R10; \
	LEAQ   (R10)(R8*1), R11; \
	MOVL   $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL   $0x80808080, AX; \
	VPBROADCASTD AX, Z28; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23

#define GEMVM4(W, DOT, TILE, PFS) \
	GEMVM_PROLOGUE; \
	TESTQ CX, CX; \
	JLE   done; \
loop: \
	PFS; \
	VCVTPH2PS 0(SI), Z24; \
	W; \
	COL(DOT, DI, Z8, Z9, Z16, Z20); \
	COL(DOT, R9, Z10, Z11, Z17, Z21); \
	COL(DOT, R10, Z12, Z13, Z18, Z22); \
	COL(DOT, R11, Z14, Z15, Z19, Z23); \
	ADDQ $TILE, SI; \
	ADDQ $40, DI; \
	ADDQ $40, R9; \
	ADDQ $40, R10; \
	ADDQ $40, R11; \
	DECQ CX; \
	JNZ  loop; \
done: \
	VMOVUPS Z20, 0(DX); \
	ADDQ    BX, DX; \
	VMOVUPS Z21, 0(DX); \
	ADDQ    BX, DX; \
	VMOVUPS Z22, 0(DX); \
	ADDQ    BX, DX; \
	VMOVUPS Z23, 0(DX); \
	VZEROUPPER; \
	RET

#define GEMVM2(W, DOT, TILE, PFS) \
	GEMVM_PROLOGUE; \
	TESTQ CX, CX; \
	JLE   done; \
loop: \
	PFS; \
	VCVTPH2PS 0(SI), Z24; \
	W; \
	COL(DOT, DI, Z8, Z9, Z16, Z20); \
	COL(DOT, R9, Z10, Z11, Z17, Z21); \
	ADDQ $TILE, SI; \
	ADDQ $40, DI; \
	ADDQ $40, R9; \
	DECQ CX; \
	JNZ  loop; \
done: \
	VMOVUPS Z20, 0(DX); \
	ADDQ    BX, DX; \
	VMOVUPS Z21, 0(DX); \
	VZEROUPPER; \
	RET

// PF4M/PF8M: PF4/PF8 of rows16_amd64.s (same distances).
#define PF4M PREFETCHT0 4608(SI); PREFETCHT0 4672(SI); PREFETCHT0 4736(SI); PREFETCHT0 4800(SI); PREFETCHT0 4864(SI); PREFETCHT2 9216(SI); PREFETCHT2 9280(SI); PREFETCHT2 9344(SI); PREFETCHT2 9408(SI); PREFETCHT2 9472(SI)
#define PF8M PREFETCHT0 4352(SI); PREFETCHT0 4416(SI); PREFETCHT0 4480(SI); PREFETCHT0 4544(SI); PREFETCHT0 4608(SI); PREFETCHT0 4672(SI); PREFETCHT0 4736(SI); PREFETCHT0 4800(SI); PREFETCHT0 4864(SI); PREFETCHT2 8704(SI); PREFETCHT2 8768(SI); PREFETCHT2 8832(SI); PREFETCHT2 8896(SI); PREFETCHT2 8960(SI); PREFETCHT2 9024(SI); PREFETCHT2 9088(SI); PREFETCHT2 9152(SI); PREFETCHT2 9216(SI)

// func gemvR16x4Q4_0(w, x *byte, xs, nb int, out *float32, ostride int)
TEXT ·gemvR16x4Q4_0(SB), NOSPLIT, $0-48
	GEMVM4(W_Q4_0, DOT_Q4_0, 288, PF4M)

// func gemvR16x2Q4_0(w, x *byte, xs, nb int, out *float32, ostride int)
TEXT ·gemvR16x2Q4_0(SB), NOSPLIT, $0-48
	GEMVM2(W_Q4_0, DOT_Q4_0, 288, PF4M)

// func gemvR16x4Q8_0(w, x *byte, xs, nb int, out *float32, ostride int)
TEXT ·gemvR16x4Q8_0(SB), NOSPLIT, $0-48
	GEMVM4(W_Q8_0, DOT_Q8_0, 544, PF8M)

// func gemvR16x2Q8_0(w, x *byte, xs, nb int, out *float32, ostride int)
TEXT ·gemvR16x2Q8_0(SB), NOSPLIT, $0-48
	GEMVM2(W_Q8_0, DOT_Q8_0, 544, PF8M)
