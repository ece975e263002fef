#include "textflag.h"

// Prefill kernels on 16-row interleaved weight tiles (gemm16.go has the
// layouts, the reasoning and the pure-Go twins, which these equal bit for
// bit). AVX-512 F/BW/VL + VNNI.

// idx16: VPSCATTERDD dword offsets of slices 0..7 (64 bytes apart).
DATA idx16<>+0(SB)/4, $0
DATA idx16<>+4(SB)/4, $64
DATA idx16<>+8(SB)/4, $128
DATA idx16<>+12(SB)/4, $192
DATA idx16<>+16(SB)/4, $256
DATA idx16<>+20(SB)/4, $320
DATA idx16<>+24(SB)/4, $384
DATA idx16<>+28(SB)/4, $448
GLOBL idx16<>(SB), RODATA|NOPTR, $32

// DEC16 decodes nb blocks of the 16 weight rows w + r*wstride: per block
// and row, UNPACK leaves the 32 unsigned quants (element order) in Y8, a
// scatter stores its 8 dwords into slices 0..7 at the row's offset, and
// the row's f16 d is parked at 512+2r; after the 16 rows one VCVTPH2PS
// turns the 16 f16 into the float32 d_w block.
#define DEC16(UNPACK, WSTEP) \
	MOVQ      w+0(FP), SI; \
	MOVQ      wstride+8(FP), R11; \
	MOVQ      nb+16(FP), CX; \
	MOVQ      dst+24(FP), DI; \
	MOVL      $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL      $0x80808080, AX; \
	VPBROADCASTD AX, Z28; \
	MOVL      $0xFF00FF00, AX; \
	KMOVD     AX, K2; \
	VMOVDQU32 idx16<>(SB), Y20; \
	TESTQ     CX, CX; \
	JLE       done; \
loop: \
	MOVQ      SI, R8; \
	MOVQ      DI, R9; \
	LEAQ      512(DI), R10; \
	MOVQ      $16, DX; \
rows: \
	UNPACK; \
	KXNORW    K3, K3, K3; \
	VPSCATTERDD Y8, K3, (R9)(Y20*1); \
	MOVWLZX   0(R8), AX; \
	MOVW      AX, 0(R10); \
	ADDQ      R11, R8; \
	ADDQ      $4, R9; \
	ADDQ      $2, R10; \
	DECQ      DX; \
	JNZ       rows; \
	VCVTPH2PS 512(DI), Z9; \
	VMOVUPS   Z9, 512(DI); \
	ADDQ      $WSTEP, SI; \
	ADDQ      $576, DI; \
	DECQ      CX; \
	JNZ       loop; \
done: \
	VZEROUPPER; \
	RET

// q4_0: the 16 nibble bytes in every 128-bit lane, lane 1 shifted right by
// 4 (high nibbles), masked: Y8 = [low nibbles | high nibbles].
#define UNPACK16_Q4_0 \
	VBROADCASTI32X4 2(R8), Z8; \
	VPSRLW          $4, Z8, K2, Z8; \
	VPANDD          Z29, Z8, Z8

// q8_0: u = q xor 0x80.
#define UNPACK16_Q8_0 \
	VMOVDQU 2(R8), Y8; \
	VPXORD  Y28, Y8, Y8

// func dec16Q4_0(w *byte, wstride, nb int, dst *byte)
TEXT ·dec16Q4_0(SB), NOSPLIT, $0-32
	DEC16(UNPACK16_Q4_0, 18)

// func dec16Q8_0(w *byte, wstride, nb int, dst *byte)
TEXT ·dec16Q8_0(SB), NOSPLIT, $0-32
	DEC16(UNPACK16_Q8_0, 34)

// COL16 adds one block of the decoded group (slices Z0..Z7, d_w in Z8) times
// the activation block at P to the 16 outputs in ACC: T = bias + the 8
// VPDPBUSD over 4-byte broadcasts = the exact block sums, then
// ACC = fma(float(T), d_w*d_x, ACC).
#define COL16(P, T, S, ACC) \
	VPBROADCASTD   32(P), T; \
	VPDPBUSD.BCST  0(P), Z0, T; \
	VPDPBUSD.BCST  4(P), Z1, T; \
	VPDPBUSD.BCST  8(P), Z2, T; \
	VPDPBUSD.BCST  12(P), Z3, T; \
	VPDPBUSD.BCST  16(P), Z4, T; \
	VPDPBUSD.BCST  20(P), Z5, T; \
	VPDPBUSD.BCST  24(P), Z6, T; \
	VPDPBUSD.BCST  28(P), Z7, T; \
	VCVTDQ2PS      T, T; \
	VMULPS.BCST    36(P), Z8, S; \
	VFMADD231PS    S, T, ACC

#define LOADW16 \
	VMOVDQU64 0(SI), Z0; \
	VMOVDQU64 64(SI), Z1; \
	VMOVDQU64 128(SI), Z2; \
	VMOVDQU64 192(SI), Z3; \
	VMOVDQU64 256(SI), Z4; \
	VMOVDQU64 320(SI), Z5; \
	VMOVDQU64 384(SI), Z6; \
	VMOVDQU64 448(SI), Z7; \
	VMOVUPS   512(SI), Z8


// func gemm16x1(w, x *byte, xstride, nb int, out *float32, ostride int)
// The decoded group at w (nb blocks) times 1 packed activation rows
// x + c*xstride; column c's 16 results go to out + c*ostride floats.
TEXT ·gemm16x1(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ xstride+16(FP), R12
	MOVQ nb+24(FP), CX
	VPXORD Z21, Z21, Z21
	TESTQ CX, CX
	JLE   g1done

g1loop:
	LOADW16
	COL16(DI, Z9, Z15, Z21)
	ADDQ $576, SI
	ADDQ $40, DI
	DECQ  CX
	JNZ   g1loop

g1done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	VMOVUPS Z21, 0(DX)
	VZEROUPPER
	RET

// func gemm16x2(w, x *byte, xstride, nb int, out *float32, ostride int)
// The decoded group at w (nb blocks) times 2 packed activation rows
// x + c*xstride; column c's 16 results go to out + c*ostride floats.
TEXT ·gemm16x2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ xstride+16(FP), R12
	MOVQ nb+24(FP), CX
	LEAQ (DI)(R12*1), R8
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	TESTQ CX, CX
	JLE   g2done

g2loop:
	LOADW16
	COL16(DI, Z9, Z15, Z21)
	COL16(R8, Z10, Z16, Z22)
	ADDQ $576, SI
	ADDQ $40, DI
	ADDQ $40, R8
	DECQ  CX
	JNZ   g2loop

g2done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	VMOVUPS Z21, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z22, 0(DX)
	VZEROUPPER
	RET

// func gemm16x3(w, x *byte, xstride, nb int, out *float32, ostride int)
// The decoded group at w (nb blocks) times 3 packed activation rows
// x + c*xstride; column c's 16 results go to out + c*ostride floats.
TEXT ·gemm16x3(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ xstride+16(FP), R12
	MOVQ nb+24(FP), CX
	LEAQ (DI)(R12*1), R8
	LEAQ (R8)(R12*1), R9
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JLE   g3done

g3loop:
	LOADW16
	COL16(DI, Z9, Z15, Z21)
	COL16(R8, Z10, Z16, Z22)
	COL16(R9, Z11, Z17, Z23)
	ADDQ $576, SI
	ADDQ $40, DI
	ADDQ $40, R8
	ADDQ $40, R9
	DECQ  CX
	JNZ   g3loop

g3done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	VMOVUPS Z21, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z22, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z23, 0(DX)
	VZEROUPPER
	RET

// func gemm16x4(w, x *byte, xstride, nb int, out *float32, ostride int)
// The decoded group at w (nb blocks) times 4 packed activation rows
// x + c*xstride; column c's 16 results go to out + c*ostride floats.
TEXT ·gemm16x4(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ xstride+16(FP), R12
	MOVQ nb+24(FP), CX
	LEAQ (DI)(R12*1), R8
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	TESTQ CX, CX
	JLE   g4done

g4loop:
	LOADW16
	COL16(DI, Z9, Z15, Z21)
	COL16(R8, Z10, Z16, Z22)
	COL16(R9, Z11, Z17, Z23)
	COL16(R10, Z12, Z18, Z24)
	ADDQ $576, SI
	ADDQ $40, DI
	ADDQ $40, R8
	ADDQ $40, R9
	ADDQ $40, R10
	DECQ  CX
	JNZ   g4loop

g4done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	VMOVUPS Z21, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z22, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z23, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z24, 0(DX)
	VZEROUPPER
	RET

// func gemm16x5(w, x *byte, xstride, nb int, out *float32, ostride int)
// The decoded group at w (nb blocks) times 5 packed activation rows
// x + c*xstride; column c's 16 results go to out + c*ostride floats.
TEXT ·gemm16x5(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ xstride+16(FP), R12
	MOVQ nb+24(FP), CX
	LEAQ (DI)(R12*1), R8
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	TESTQ CX, CX
	JLE   g5done

g5loop:
	LOADW16
	COL16(DI, Z9, Z15, Z21)
	COL16(R8, Z10, Z16, Z22)
	COL16(R9, Z11, Z17, Z23)
	COL16(R10, Z12, Z18, Z24)
	COL16(R11, Z13, Z19, Z25)
	ADDQ $576, SI
	ADDQ $40, DI
	ADDQ $40, R8
	ADDQ $40, R9
	ADDQ $40, R10
	ADDQ $40, R11
	DECQ  CX
	JNZ   g5loop

g5done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	VMOVUPS Z21, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z22, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z23, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z24, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z25, 0(DX)
	VZEROUPPER
	RET

// func gemm16x6(w, x *byte, xstride, nb int, out *float32, ostride int)
// The decoded group at w (nb blocks) times 6 packed activation rows
// x + c*xstride; column c's 16 results go to out + c*ostride floats.
TEXT ·gemm16x6(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ xstride+16(FP), R12
	MOVQ nb+24(FP), CX
	LEAQ (DI)(R12*1), R8
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	LEAQ (R11)(R12*1), BX
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	TESTQ CX, CX
	JLE   g6done

g6loop:
	LOADW16
	COL16(DI, Z9, Z15, Z21)
	COL16(R8, Z10, Z16, Z22)
	COL16(R9, Z11, Z17, Z23)
	COL16(R10, Z12, Z18, Z24)
	COL16(R11, Z13, Z19, Z25)
	COL16(BX, Z14, Z20, Z26)
	ADDQ $576, SI
	ADDQ $40, DI
	ADDQ $40, R8
	ADDQ $40, R9
	ADDQ $40, R10
	ADDQ $40, R11
	ADDQ $40, BX
	DECQ  CX
	JNZ   g6loop

g6done:
	MOVQ out+32(FP), DX
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	VMOVUPS Z21, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z22, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z23, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z24, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z25, 0(DX)
	ADDQ    AX, DX
	VMOVUPS Z26, 0(DX)
	VZEROUPPER
	RET
