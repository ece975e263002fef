#include "textflag.h"

// q5_0 Rows16 kernels (rows16q5.go has the tile layout and the Go twins,
// which these equal bit for bit). AVX-512 F/BW/VL + VNNI + BITALG.

// q5idx: per chunk c the VPSHUFBITQMB bit indexes of its bytes' fifth bits
// in the qh register (qword i holds rows 2i, 2i+1: bits 0..31 and 32..63):
// low nibbles (elements 4c+j) then high nibbles (16+4c+j), 8 qwords.
DATA q5idx<>+0(SB)/8, $0x2322212003020100
DATA q5idx<>+8(SB)/8, $0x3332313013121110
DATA q5idx<>+16(SB)/8, $0x2726252407060504
DATA q5idx<>+24(SB)/8, $0x3736353417161514
DATA q5idx<>+32(SB)/8, $0x2b2a29280b0a0908
DATA q5idx<>+40(SB)/8, $0x3b3a39381b1a1918
DATA q5idx<>+48(SB)/8, $0x2f2e2d2c0f0e0d0c
DATA q5idx<>+56(SB)/8, $0x3f3e3d3c1f1e1d1c
GLOBL q5idx<>(SB), RODATA|NOPTR, $64

// Q5CONSTS: Z29 = 0x0F bytes, Z28 = 0x10 bytes, Z10..Z17 the index
// vectors of chunks 0..3 (low, high).
#define Q5CONSTS \
	MOVL         $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL         $0x10101010, AX; \
	VPBROADCASTD AX, Z28; \
	VPBROADCASTQ q5idx<>+0(SB), Z10; \
	VPBROADCASTQ q5idx<>+8(SB), Z11; \
	VPBROADCASTQ q5idx<>+16(SB), Z12; \
	VPBROADCASTQ q5idx<>+24(SB), Z13; \
	VPBROADCASTQ q5idx<>+32(SB), Z14; \
	VPBROADCASTQ q5idx<>+40(SB), Z15; \
	VPBROADCASTQ q5idx<>+48(SB), Z16; \
	VPBROADCASTQ q5idx<>+56(SB), Z17

// Q5CHUNK leaves chunk OFF's two slices (u = q + 16) in ZL, ZH: nibbles,
// plus 16 in the bytes whose fifth bit (from the qh register Z18) is set.
#define Q5CHUNK(OFF, IL, IH, ZL, ZH) \
	VMOVDQU64    OFF(SI), ZL; \
	VPSRLW       $4, ZL, ZH; \
	VPANDD       Z29, ZL, ZL; \
	VPANDD       Z29, ZH, ZH; \
	VPSHUFBITQMB IL, Z18, K1; \
	VPSHUFBITQMB IH, Z18, K2; \
	VPADDB       Z28, ZL, K1, ZL; \
	VPADDB       Z28, ZH, K2, ZH

#define Q5DOT(OFF, XOFF, IL, IH, ZL, ZH) \
	Q5CHUNK(OFF, IL, IH, ZL, ZH); \
	VPDPBUSD.BCST XOFF(DI), ZL, Z8; \
	VPDPBUSD.BCST 16+XOFF(DI), ZH, Z9

#define Q5DEC(OFF, SOFF, IL, IH) \
	Q5CHUNK(OFF, IL, IH, Z0, Z1); \
	VMOVDQU64 Z0, SOFF(DI); \
	VMOVDQU64 Z1, 256+SOFF(DI)

// PF5: every cache line of the 352-byte tile ~4.5 KB ahead into L1 and ~9 KB
// ahead into L2 (as PF4).
#define PF5 PREFETCHT0 4576(SI); PREFETCHT0 4640(SI); PREFETCHT0 4704(SI); PREFETCHT0 4768(SI); PREFETCHT0 4832(SI); PREFETCHT0 4896(SI); PREFETCHT2 9152(SI); PREFETCHT2 9216(SI); PREFETCHT2 9280(SI); PREFETCHT2 9344(SI); PREFETCHT2 9408(SI); PREFETCHT2 9472(SI)

// GEMV_R16Q5 is GEMV_R16 (rows16_amd64.s) for 352-byte q5_0 tiles; PFS
// prefetches ahead of each tile (PF5, or nothing: stream_amd64.go).
#define GEMV_R16Q5(PFS) \
	MOVQ w+0(FP), SI; \
	MOVQ x+8(FP), DI; \
	MOVQ nb+16(FP), CX; \
	MOVQ out+24(FP), DX; \
	Q5CONSTS; \
	VPXORD Z31, Z31, Z31; \
	TESTQ CX, CX; \
	JLE gdone; \
gloop: \
	PFS; \
	VCVTPH2PS 0(SI), Z20; \
	VMULPS.BCST 36(DI), Z20, Z20; \
	VMOVDQU64 32(SI), Z18; \
	VPBROADCASTD 32(DI), Z8; \
	VPXORD Z9, Z9, Z9; \
	Q5DOT(96, 0, Z10, Z11, Z0, Z1); \
	Q5DOT(160, 4, Z12, Z13, Z2, Z3); \
	Q5DOT(224, 8, Z14, Z15, Z4, Z5); \
	Q5DOT(288, 12, Z16, Z17, Z6, Z7); \
	VPADDD Z9, Z8, Z8; \
	VCVTDQ2PS Z8, Z8; \
	VFMADD231PS Z20, Z8, Z31; \
	ADDQ $352, SI; \
	ADDQ $40, DI; \
	DECQ CX; \
	JNZ gloop; \
gdone: \
	VMOVUPS Z31, 0(DX); \
	VZEROUPPER; \
	RET

// NOPF5: no software prefetch.
#define NOPF5

// func gemvR16Q5_0(w, x *byte, nb int, out *float32)
TEXT ·gemvR16Q5_0(SB), NOSPLIT, $0-32
	GEMV_R16Q5(PF5)

// func gemvR16Q5_0HW(w, x *byte, nb int, out *float32)
// gemvR16Q5_0 without software prefetch (stream_amd64.go).
TEXT ·gemvR16Q5_0HW(SB), NOSPLIT, $0-32
	GEMV_R16Q5(NOPF5)

// func decR16Q5_0(w *byte, wstride, nb int, dst *byte)
TEXT ·decR16Q5_0(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ nb+16(FP), CX
	MOVQ dst+24(FP), DI
	Q5CONSTS
	TESTQ CX, CX
	JLE   ddone

dloop:
	VMOVDQU64 32(SI), Z18
	Q5DEC(96, 0, Z10, Z11)
	Q5DEC(160, 64, Z12, Z13)
	Q5DEC(224, 128, Z14, Z15)
	Q5DEC(288, 192, Z16, Z17)
	VCVTPH2PS 0(SI), Z19
	VMOVUPS   Z19, 512(DI)
	ADDQ      $352, SI
	ADDQ      $576, DI
	DECQ      CX
	JNZ       dloop

ddone:
	VZEROUPPER
	RET
