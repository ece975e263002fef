#include "textflag.h"

// AVX-512 VNNI kernels for q4_0/q8_0 weights over packed q8_0 activations
// (packQ8 in gemm.go). Activation rows are packed in pairs: per block, 64
// quant bytes [row a | row b], 16 int32 lane biases [8 of a | 8 of b] and 16
// float32 scales [d_a x8 | d_b x8], 192 bytes; an odd last row is paired
// with itself. The weights become unsigned bytes u = q + c (q4_0: nibble =
// q+8, q8_0: q xor 0x80 = q+128) and each lane's bias is -c*sum(x over its
// 4 elements), so VPDPBUSD(u, x) + bias is the exact signed lane sum of
// dot.go. Every ZMM accumulator is two independent 8-lane accumulators (one
// output each), updated once per block with VFMADD231PS, then each half is
// reduced as hsum_float_8: exactly dot.go's (and ggml's AVX2) order, so the
// results equal the pure-Go twins bit for bit.

// Z28: 0x80 bytes, Z29: 0x0F bytes.
// K1: dwords 8..15 (the upper 256 bits); K2: words of 128-bit lanes 1 and
// 3 (the q4_0 high nibbles); Z30/Z27: VPERMPS indexes [0 x8 | 1 x8] and
// [2 x8 | 3 x8] that expand 4 per-row scales into two row-pair registers.
#define CONSTS \
	MOVL         $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL         $0x80808080, AX; \
	VPBROADCASTD AX, Z28; \
	MOVL         $0xFF00, AX; \
	KMOVW        AX, K1; \
	MOVL         $0xFF00FF00, AX; \
	KMOVD        AX, K2; \
	VPXORD       Z30, Z30, Z30; \
	MOVL         $1, AX; \
	VPBROADCASTD AX, K1, Z30; \
	MOVL         $2, AX; \
	VPBROADCASTD AX, Z27; \
	VPADDD       Z30, Z27, Z27

// UNPACKB_* put one weight block at R in both halves of ZW (u = q + c,
// element order). q4_0: the 16 nibble bytes in every 128-bit lane, lanes 1
// and 3 shifted right by 4 (high nibbles), masked.
#define UNPACKB_Q4_0(R, ZW) \
	VBROADCASTI32X4 2(R), ZW; \
	VPSRLW          $4, ZW, K2, ZW; \
	VPANDD          Z29, ZW, ZW

#define UNPACKB_Q8_0(R, ZW) \
	VBROADCASTI64X4 2(R), ZW; \
	VPXORD          Z28, ZW, ZW

// UNPACK2_* put the blocks of two weight rows (at RA and RB) in the low and
// high halves of ZW: two broadcast loads, the second merged into the upper
// 256 bits (K1), then UNPACKB's per-lane fix-up.
#define UNPACK2_Q4_0(RA, RB, ZW) \
	VBROADCASTI32X4 2(RA), ZW; \
	VBROADCASTI32X4 2(RB), K1, ZW; \
	VPSRLW          $4, ZW, K2, ZW; \
	VPANDD          Z29, ZW, ZW

#define UNPACK2_Q8_0(RA, RB, ZW) \
	VBROADCASTI32X8 2(RA), ZW; \
	VBROADCASTI32X8 2(RB), K1, ZW; \
	VPXORD          Z28, ZW, ZW

// DW4 converts the f16 scales of the current blocks of the 4 weight rows
// (SI, R8, R9, R10) to float32 lanes 0..3 of X12: gathered with scalar
// loads (no shuffle-port work), one VCVTPH2PS. Scratch: AX, BX, R13.
#define DW4 \
	MOVWLZX   0(SI), AX; \
	MOVWLZX   0(R8), BX; \
	SHLL      $16, BX; \
	ORL       BX, AX; \
	MOVWLZX   0(R9), BX; \
	MOVWLZX   0(R10), R13; \
	SHLL      $16, R13; \
	ORL       R13, BX; \
	SHLQ      $32, BX; \
	ORQ       BX, AX; \
	VMOVQ     AX, X12; \
	VCVTPH2PS X12, X12

// CMB adds one block of weights ZW times an activation pair (quants Q,
// biases B, scales S) to ACC, for the weight row whose float d_w is at
// doff(SP): ACC = fma(d_w*d_x, float(lane sums), ACC).
#define CMB(ZW, doff, Q, B, S, ACC, T, D) \
	VMOVDQA32      B, T; \
	VPDPBUSD       Q, ZW, T; \
	VCVTDQ2PS      T, T; \
	VMULPS.BCST    doff(SP), S, D; \
	VFMADD231PS    D, T, ACC

// CMBD is CMB with the scale products d_w*d_x already in D.
#define CMBD(ZW, D, Q, B, ACC, T) \
	VMOVDQA32   B, T; \
	VPDPBUSD    Q, ZW, T; \
	VCVTDQ2PS   T, T; \
	VFMADD231PS D, T, ACC

// HS8 reduces Y into X as hsum_float_8 (temp X9).
#define HS8(Y, X) \
	VEXTRACTF128 $1, Y, X9; \
	VADDPS       X9, X, X; \
	VMOVHLPS     X, X, X9; \
	VADDPS       X9, X, X; \
	VMOVSHDUP    X, X9; \
	VADDSS       X9, X, X

// RED2 stores the two halves of accumulator Z, reduced, at o(DX), o+4(DX).
#define RED2(Z, Y, X, o) \
	VEXTRACTF64X4 $1, Z, Y8; \
	HS8(Y, X); \
	VMOVSS        X, o(DX); \
	HS8(Y8, X8); \
	VMOVSS        X8, o+4(DX)

#define GEMM_PROLOGUE \
	MOVQ   w+0(FP), SI; \
	MOVQ   wstride+8(FP), R11; \
	LEAQ   (SI)(R11*1), R8; \
	LEAQ   (R8)(R11*1), R9; \
	LEAQ   (R9)(R11*1), R10; \
	MOVQ   x+16(FP), DI; \
	MOVQ   xstride+24(FP), R12; \
	MOVQ   nb+32(FP), CX; \
	MOVQ   res+40(FP), DX; \
	CONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7

// UNPACK4 unpacks the 4 weight rows' blocks into Z8..Z11 and leaves their
// float d_w at 0..12(SP).
#define UNPACK4(UNPACKB) \
	DW4; \
	VMOVUPS X12, 0(SP); \
	UNPACKB(SI, Z8); \
	UNPACKB(R8, Z9); \
	UNPACKB(R10, Z11); \
	UNPACKB(R9, Z10)

#define STEP4(WSTEP) \
	ADDQ $WSTEP, SI; \
	ADDQ $WSTEP, R8; \
	ADDQ $WSTEP, R9; \
	ADDQ $WSTEP, R10; \
	ADDQ $192, DI

// GEMM4X2: 4 weight rows (w + r*wstride) times 2 activation pairs (x and
// x + xstride) over nb blocks; res[4r + h] is weight row r times activation
// row h (pair h/2, half h%2).
#define GEMM4X2(UNPACKB, WSTEP) \
	GEMM_PROLOGUE; \
	TESTQ CX, CX; \
	JLE   done; \
loop: \
	UNPACK4(UNPACKB); \
	VMOVDQU64 0(DI), Z16; \
	VMOVDQU64 64(DI), Z17; \
	VMOVUPS   128(DI), Z18; \
	VMOVDQU64 0(DI)(R12*1), Z19; \
	VMOVDQU64 64(DI)(R12*1), Z20; \
	VMOVUPS   128(DI)(R12*1), Z21; \
	CMB(Z8, 0, Z16, Z17, Z18, Z0, Z22, Z23); \
	CMB(Z8, 0, Z19, Z20, Z21, Z1, Z24, Z25); \
	CMB(Z9, 4, Z16, Z17, Z18, Z2, Z26, Z27); \
	CMB(Z9, 4, Z19, Z20, Z21, Z3, Z22, Z23); \
	CMB(Z10, 8, Z16, Z17, Z18, Z4, Z24, Z25); \
	CMB(Z10, 8, Z19, Z20, Z21, Z5, Z26, Z27); \
	CMB(Z11, 12, Z16, Z17, Z18, Z6, Z22, Z23); \
	CMB(Z11, 12, Z19, Z20, Z21, Z7, Z24, Z25); \
	STEP4(WSTEP); \
	DECQ CX; \
	JNZ  loop; \
done: \
	RED2(Z0, Y0, X0, 0); \
	RED2(Z1, Y1, X1, 8); \
	RED2(Z2, Y2, X2, 16); \
	RED2(Z3, Y3, X3, 24); \
	RED2(Z4, Y4, X4, 32); \
	RED2(Z5, Y5, X5, 40); \
	RED2(Z6, Y6, X6, 48); \
	RED2(Z7, Y7, X7, 56); \
	VZEROUPPER; \
	RET

// GEMM4X1 is GEMM4X2 for one activation pair (res[4r + h], h < 2).
#define GEMM4X1(UNPACKB, WSTEP) \
	GEMM_PROLOGUE; \
	TESTQ CX, CX; \
	JLE   done; \
loop: \
	UNPACK4(UNPACKB); \
	VMOVDQU64 0(DI), Z16; \
	VMOVDQU64 64(DI), Z17; \
	VMOVUPS   128(DI), Z18; \
	CMB(Z8, 0, Z16, Z17, Z18, Z0, Z22, Z23); \
	CMB(Z9, 4, Z16, Z17, Z18, Z2, Z24, Z25); \
	CMB(Z10, 8, Z16, Z17, Z18, Z4, Z26, Z27); \
	CMB(Z11, 12, Z16, Z17, Z18, Z6, Z19, Z20); \
	STEP4(WSTEP); \
	DECQ CX; \
	JNZ  loop; \
done: \
	RED2(Z0, Y0, X0, 0); \
	RED2(Z2, Y2, X2, 16); \
	RED2(Z4, Y4, X4, 32); \
	RED2(Z6, Y6, X6, 48); \
	VZEROUPPER; \
	RET

// GEMV4: 4 weight rows (w + r*wstride) times one activation row packed as
// a pair with itself (x) over nb blocks; res[r] is weight row r's result.
// Rows 0|1 share the accumulator Z0 (one per half), rows 2|3 Z1.
// The 4 rows are read as 4 interleaved streams, which the hardware
// prefetchers follow poorly (memory and compute then add up instead of
// overlapping), so R12 walks the next group of 4 rows (the 4*wstride bytes
// after this group, which the caller asks for next) linearly at the same
// rate, 4*WSTEP bytes per block: on 16 llama-1b layers of q4_0 this took
// BenchmarkDecodeLayers from 6.5 to 9.1-9.4 GB/s on 1 thread and from 9.9
// to 15-18 GB/s on 2 (q8_0 9.6 -> 11.2 and 17.5 -> 20.3). Prefetching past
// the matrix end is harmless (prefetches never fault).
#define GEMV4(UNPACK2, WSTEP) \
	MOVQ   w+0(FP), SI; \
	MOVQ   wstride+8(FP), R11; \
	LEAQ   (SI)(R11*1), R8; \
	LEAQ   (R8)(R11*1), R9; \
	LEAQ   (R9)(R11*1), R10; \
	MOVQ   x+16(FP), DI; \
	MOVQ   nb+24(FP), CX; \
	MOVQ   res+32(FP), DX; \
	CONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	LEAQ   (R10)(R11*1), R12; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	PREFETCHT0 0(R12); \
	PREFETCHT0 64(R12); \
	ADDQ       $(4*WSTEP), R12; \
	VMOVDQU64 0(DI), Z16; \
	VMOVDQU64 64(DI), Z17; \
	DW4; \
	VMULPS.BCST 128(DI), X12, X12; \
	VPERMPS   Z12, Z30, Z14; \
	VPERMPS   Z12, Z27, Z15; \
	UNPACK2(SI, R8, Z10); \
	CMBD(Z10, Z14, Z16, Z17, Z0, Z22); \
	UNPACK2(R9, R10, Z11); \
	CMBD(Z11, Z15, Z16, Z17, Z1, Z24); \
	STEP4(WSTEP); \
	DECQ CX; \
	JNZ  loop; \
done: \
	RED2(Z0, Y0, X0, 0); \
	RED2(Z1, Y1, X1, 8); \
	VZEROUPPER; \
	RET

// func gemmQ4_0x4x2(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)
TEXT ·gemmQ4_0x4x2(SB), NOSPLIT, $16-48
	GEMM4X2(UNPACKB_Q4_0, 18)

// func gemmQ8_0x4x2(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)
TEXT ·gemmQ8_0x4x2(SB), NOSPLIT, $16-48
	GEMM4X2(UNPACKB_Q8_0, 34)

// func gemmQ4_0x4x1(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)
TEXT ·gemmQ4_0x4x1(SB), NOSPLIT, $16-48
	GEMM4X1(UNPACKB_Q4_0, 18)

// func gemmQ8_0x4x1(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)
TEXT ·gemmQ8_0x4x1(SB), NOSPLIT, $16-48
	GEMM4X1(UNPACKB_Q8_0, 34)

// func gemvQ4_0x4(w *byte, wstride int, x *byte, nb int, res *[4]float32)
TEXT ·gemvQ4_0x4(SB), NOSPLIT, $0-40
	GEMV4(UNPACK2_Q4_0, 18)

// func gemvQ8_0x4(w *byte, wstride int, x *byte, nb int, res *[4]float32)
TEXT ·gemvQ8_0x4(SB), NOSPLIT, $0-40
	GEMV4(UNPACK2_Q8_0, 34)
