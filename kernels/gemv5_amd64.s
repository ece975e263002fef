#include "textflag.h"

// Q5ROW adds blocks b, b+1 of the row at R to ACC: quants u = q + 16 in
// element order (nibbles as q4_0, qh bit e widened by VPMOVM2B to 0x10),
// exact lane sums by VPDPBUSD from the biases, then float(s)*(d_w*d_x),
// then the add.
#define Q5ROW(R, ACC) \
	VBROADCASTI32X4 6(R), Z8; \
	VBROADCASTI32X4 28(R), K1, Z8; \
	VPSRLW          $4, Z8, K2, Z8; \
	VPANDD          Z29, Z8, Z8; \
	MOVL            2(R), AX; \
	MOVL            24(R), BX; \
	SHLQ            $32, BX; \
	ORQ             BX, AX; \
	KMOVQ           AX, K3; \
	VPMOVM2B        K3, Z9; \
	VPANDD          Z30, Z9, Z9; \
	VPORD           Z9, Z8, Z8; \
	VMOVDQA32       Z17, Z11; \
	VPDPBUSD        Z16, Z8, Z11; \
	VCVTDQ2PS       Z11, Z11; \
	MOVWLZX         0(R), AX; \
	MOVWLZX         22(R), BX; \
	SHLL            $16, BX; \
	ORL             BX, AX; \
	VMOVD           AX, X10; \
	VCVTPH2PS       X10, X10; \
	VPERMPS         Z10, Z31, Z10; \
	VMULPS          Z18, Z10, Z12; \
	VMULPS          Z12, Z11, Z11; \
	VADDPS          Z11, ACC, ACC

// func q5_0Gemv4(w *byte, wstride int, x *byte, npairs int, acc *[64]float32)
// 4 q5_0 weight rows (w + r*wstride) times one q8_0 activation row packed
// by packQ5 (per pair of blocks: 64 quants [block b | b+1], 16 int32 lane
// biases -16*sum(4 x), 16 float32 d_x [d_b x8 | d_b+1 x8]), in dotQ5_0's
// order: block b's 8 lane sums go to lanes (b&1)*8.., each multiplied by
// d_w*d_x and then added (two roundings). One ZMM per row holds both
// blocks of a pair. acc[16r..16r+15] receives row r's 16 lanes; the caller
// adds an odd last block and reduces (reduce16).
TEXT ·q5_0Gemv4(SB), NOSPLIT, $0-40
	MOVQ         w+0(FP), SI
	MOVQ         wstride+8(FP), R11
	LEAQ         (SI)(R11*1), R8
	LEAQ         (R8)(R11*1), R9
	LEAQ         (R9)(R11*1), R10
	LEAQ         (R10)(R11*1), R12 // linear prefetch through the next 4 rows
	MOVQ         x+16(FP), DI
	MOVQ         npairs+24(FP), CX
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z30
	MOVL         $0xFF00, AX
	KMOVW        AX, K1
	MOVL         $0xFF00FF00, AX
	KMOVD        AX, K2
	VPXORD       Z31, Z31, Z31
	MOVL         $1, AX
	VPBROADCASTD AX, K1, Z31 // VPERMPS index [0 x8 | 1 x8]
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	VPXORD       Z2, Z2, Z2
	VPXORD       Z3, Z3, Z3
	TESTQ        CX, CX
	JLE          done

loop:
	PREFETCHT0 0(R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	ADDQ       $176, R12
	VMOVDQU64  0(DI), Z16
	VMOVDQU64  64(DI), Z17
	VMOVUPS    128(DI), Z18
	Q5ROW(SI, Z0)
	Q5ROW(R8, Z1)
	Q5ROW(R9, Z2)
	Q5ROW(R10, Z3)
	ADDQ       $44, SI
	ADDQ       $44, R8
	ADDQ       $44, R9
	ADDQ       $44, R10
	ADDQ       $192, DI
	DECQ       CX
	JNZ        loop

done:
	MOVQ      acc+32(FP), DX
	VMOVUPS   Z0, 0(DX)
	VMOVUPS   Z1, 64(DX)
	VMOVUPS   Z2, 128(DX)
	VMOVUPS   Z3, 192(DX)
	VZEROUPPER
	RET
