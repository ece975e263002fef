#include "textflag.h"
#include "transpose_amd64.h"

// Prefill kernels on 16-row interleaved weight tiles (gemm16.go has the
// layouts, the reasoning and the pure-Go twins, which these equal bit for
// bit). AVX-512 F/BW/VL + VNNI.

// iota16: dword lane numbers 0..15 (times wstride: the gather offsets of
// the 16 rows' block starts).
DATA iota16<>+0(SB)/4, $0
DATA iota16<>+4(SB)/4, $1
DATA iota16<>+8(SB)/4, $2
DATA iota16<>+12(SB)/4, $3
DATA iota16<>+16(SB)/4, $4
DATA iota16<>+20(SB)/4, $5
DATA iota16<>+24(SB)/4, $6
DATA iota16<>+28(SB)/4, $7
DATA iota16<>+32(SB)/4, $8
DATA iota16<>+36(SB)/4, $9
DATA iota16<>+40(SB)/4, $10
DATA iota16<>+44(SB)/4, $11
DATA iota16<>+48(SB)/4, $12
DATA iota16<>+52(SB)/4, $13
DATA iota16<>+56(SB)/4, $14
DATA iota16<>+60(SB)/4, $15
GLOBL iota16<>(SB), RODATA|NOPTR, $64

// DEC16 decodes nb blocks of the 16 weight rows w + r*wstride. A decoded
// block is a 16×8 dword matrix (row r's quant dwords 0..7) stored
// transposed (slice g = dword g of rows 0..15), so it is built as an
// in-register transpose rather than 16 per-row scatters: LOAD16 puts
// 16 bytes (4 dwords) of every row into Z0..Z3, Zj's 128-bit lane k
// holding row 4k+j; TRANSPOSE4, the classic 4×4 dword transpose of
// unpack-lo/hi of dwords then of qwords, run in all four lanes at once,
// leaves in Zg's lane k dword g of rows 4k..4k+3, i.e. Zg = dword g of
// rows 0..15 in order: one slice per register, stored whole. BODY does
// this for the block's quant bytes and stores the 8 slices; the 16 f16 d
// (each row's block starts with it) come with one dword gather at
// r*wstride, narrowed to words and widened to float32 by VCVTPH2PS.
// The gather offsets are int32: for rows of 128 MiB or more (BX = 1) the
// scales take 16 scalar moves instead.
#define DEC16(BODY, WSTEP) \
	MOVQ      w+0(FP), SI; \
	MOVQ      wstride+8(FP), R11; \
	MOVQ      nb+16(FP), CX; \
	MOVQ      dst+24(FP), DI; \
	XORQ      BX, BX; \
	CMPQ      R11, $0x7FFFFFF; \
	SETHI     BX; \
	LEAQ      (R11)(R11*2), R12; \
	MOVL      $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL      $0x80808080, AX; \
	VPBROADCASTD AX, Z28; \
	VPBROADCASTD R11, Z27; \
	VPMULLD   iota16<>(SB), Z27, Z27; \
	MOVW      $0x00F0, AX; \
	KMOVW     AX, K1; \
	MOVW      $0x0F00, AX; \
	KMOVW     AX, K2; \
	MOVW      $0xF000, AX; \
	KMOVW     AX, K3; \
	TESTQ     CX, CX; \
	JLE       done; \
loop: \
	LEAQ      (SI)(R11*4), R8; \
	LEAQ      (SI)(R11*8), R9; \
	LEAQ      (R9)(R11*4), R10; \
	BODY; \
	TESTQ     BX, BX; \
	JNZ       wide; \
	KXNORW    K4, K4, K4; \
	VPGATHERDD (SI)(Z27*1), K4, Z12; \
	VPMOVDW   Z12, Y12; \
	VCVTPH2PS Y12, Z12; \
	VMOVUPS   Z12, 512(DI); \
	JMP       next; \
wide: \
	SCALES16; \
next: \
	ADDQ      $WSTEP, SI; \
	ADDQ      $576, DI; \
	DECQ      CX; \
	JNZ       loop; \
done: \
	VZEROUPPER; \
	RET

// SCALES16 moves the 16 rows' f16 d to 512(DI) one by one (the gather's
// fallback for rows of 128 MiB and more) and widens them in place.
#define SCALE4(B, W) \
	MOVWLZX 0(B), AX; \
	MOVW    AX, 512+W(DI); \
	MOVWLZX 0(B)(R11*1), AX; \
	MOVW    AX, 514+W(DI); \
	MOVWLZX 0(B)(R11*2), AX; \
	MOVW    AX, 516+W(DI); \
	MOVWLZX 0(B)(R12*1), AX; \
	MOVW    AX, 518+W(DI)

#define SCALES16 \
	SCALE4(SI, 0); \
	SCALE4(R8, 8); \
	SCALE4(R9, 16); \
	SCALE4(R10, 24); \
	VCVTPH2PS 512(DI), Z12; \
	VMOVUPS   Z12, 512(DI)

// LOADROWS fills Z with 16 bytes at OFF of rows 0+j, 4+j, 8+j, 12+j (IX
// selects j > 0: the address of row 4k+j is row 4k's plus IX); LOAD16
// writes out j = 0 (no index) and loads Z0..Z3.
#define LOADROWS(OFF, IX, X, Z) \
	VMOVDQU         OFF(SI)IX, X; \
	VBROADCASTI32X4 OFF(R8)IX, K1, Z; \
	VBROADCASTI32X4 OFF(R9)IX, K2, Z; \
	VBROADCASTI32X4 OFF(R10)IX, K3, Z

#define LOAD16(OFF) \
	VMOVDQU         OFF(SI), X0; \
	VBROADCASTI32X4 OFF(R8), K1, Z0; \
	VBROADCASTI32X4 OFF(R9), K2, Z0; \
	VBROADCASTI32X4 OFF(R10), K3, Z0; \
	LOADROWS(OFF, (R11*1), X1, Z1); \
	LOADROWS(OFF, (R11*2), X2, Z2); \
	LOADROWS(OFF, (R12*1), X3, Z3)

#define TRANSPOSE4 TRANSPOSE4X4(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z0, Z1, Z2, Z3)

// q4_0: slice g < 4 holds the low nibbles of the rows' quant dword g,
// slice g+4 its high nibbles.
#define NIB(Z, T, OFF) \
	VPSRLW    $4, Z, T; \
	VPANDD    Z29, Z, Z; \
	VPANDD    Z29, T, T; \
	VMOVDQU64 Z, OFF(DI); \
	VMOVDQU64 T, 256+OFF(DI)

#define BODY16_Q4_0 \
	LOAD16(2); \
	TRANSPOSE4; \
	NIB(Z0, Z4, 0); \
	NIB(Z1, Z5, 64); \
	NIB(Z2, Z6, 128); \
	NIB(Z3, Z7, 192)

// q8_0: u = q xor 0x80, quant dwords 0..3 then 4..7.
#define XOR4(OFF) \
	VPXORD    Z28, Z0, Z0; \
	VPXORD    Z28, Z1, Z1; \
	VPXORD    Z28, Z2, Z2; \
	VPXORD    Z28, Z3, Z3; \
	VMOVDQU64 Z0, OFF(DI); \
	VMOVDQU64 Z1, 64+OFF(DI); \
	VMOVDQU64 Z2, 128+OFF(DI); \
	VMOVDQU64 Z3, 192+OFF(DI)

#define BODY16_Q8_0 \
	LOAD16(2); \
	TRANSPOSE4; \
	XOR4(0); \
	LOAD16(18); \
	TRANSPOSE4; \
	XOR4(256)

// func dec16Q4_0(w *byte, wstride, nb int, dst *byte)
TEXT ·dec16Q4_0(SB), NOSPLIT, $0-32
	DEC16(BODY16_Q4_0, 18)

// func dec16Q8_0(w *byte, wstride, nb int, dst *byte)
TEXT ·dec16Q8_0(SB), NOSPLIT, $0-32
	DEC16(BODY16_Q8_0, 34)

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

// func dec16Q5_0(w *byte, wstride, nb int, dst *byte)
// decode16 for q5_0 (block: f16 d, u32 qh, 16 bytes qs; element e is
// nibble e of qs | bit e of qh << 4, as dequantize_row_q5_0): per row, the
// 32 nibbles in element order (as q4_0), qh's bits widened to bytes by
// VPMOVM2B and masked to 0x10, then one scatter of the row's 8 dwords into
// slices 0..7; the f16 d are parked at 512+2r and converted after the 16
// rows. u = q + 16 (bias 16).
TEXT ·dec16Q5_0(SB), NOSPLIT, $0-32
	MOVQ         w+0(FP), SI
	MOVQ         wstride+8(FP), R11
	MOVQ         nb+16(FP), CX
	MOVQ         dst+24(FP), DI
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Y29
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Y30
	MOVL         $0xFF00, AX
	KMOVD        AX, K2
	VPMOVZXBD    idx5<>(SB), Y20
	VPSLLD       $6, Y20, Y20
	TESTQ        CX, CX
	JLE          q5done

q5blk:
	MOVQ SI, R8
	MOVQ DI, R9
	LEAQ 512(DI), R10
	MOVQ $16, DX

q5row:
	VBROADCASTI32X4 6(R8), Y8
	VPSRLW          $4, Y8, K2, Y8
	VPANDD          Y29, Y8, Y8
	MOVL            2(R8), AX
	KMOVD           AX, K3
	VPMOVM2B        K3, Y9
	VPANDD          Y30, Y9, Y9
	VPORD           Y9, Y8, Y8
	KXNORW          K1, K1, K1
	VPSCATTERDD     Y8, K1, (R9)(Y20*1)
	MOVWLZX         0(R8), AX
	MOVW            AX, 0(R10)
	ADDQ            R11, R8
	ADDQ            $4, R9
	ADDQ            $2, R10
	DECQ            DX
	JNZ             q5row

	VCVTPH2PS 512(DI), Z10
	VMOVUPS   Z10, 512(DI)
	ADDQ      $22, SI
	ADDQ      $576, DI
	DECQ      CX
	JNZ       q5blk

q5done:
	VZEROUPPER
	RET

// idx5: slice numbers 0..7 (times 64 after widening: the scatter offsets).
DATA idx5<>+0(SB)/8, $0x0706050403020100
GLOBL idx5<>(SB), RODATA|NOPTR, $8
