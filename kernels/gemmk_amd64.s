#include "textflag.h"

// AVX-512 VNNI k-quant kernel over decoded super-blocks (gemmk.go) and q8_K
// activation rows. Integer sums are exact (any order); the float part is
// dotK's, per super-block and row, in scalar SSE.

// KHSUM reduces the 8 int32 lanes of Y (low register X) into R (temp X13).
#define KHSUM(Y, X, R) \
	VEXTRACTI128 $1, Y, X13; \
	VPADDD       X13, X, X; \
	VPSHUFD      $0x4E, X, X13; \
	VPADDD       X13, X, X; \
	VPSHUFD      $0xB1, X, X13; \
	VPADDD       X13, X, X; \
	VMOVD        X, R

// KLOADW loads the decoded super-block at SI: quants Z4..Z7, pair scales
// Z8..Z11, bsum coefficients Y20 (offset) and Y21 (mins). Scratch: Z16,
// Z17, X2, X3, X12, X13.
#define KLOADW \
	VMOVDQU64 0(SI), Z4; \
	VMOVDQU64 64(SI), Z5; \
	VMOVDQU64 128(SI), Z6; \
	VMOVDQU64 192(SI), Z7; \
	VMOVDQU64 256(SI), Z8; \
	VMOVDQU64 320(SI), Z9; \
	VMOVDQU64 384(SI), Z10; \
	VMOVDQU64 448(SI), Z11; \
	VMOVDQU16 512(SI), Y20; \
	VMOVDQU16 544(SI), Y21

// KCHUNK adds the scale-weighted pair sums of u chunk c times y chunk c of
// row XR to Z16: VPMADDUBSW (no saturation: 2*63*128 < 2^15) then VPDPWSSD
// against the per-pair scales.
#define KCHUNK(XR, off, ZU, ZS) \
	VPMADDUBSW off(XR), ZU, Z17; \
	VPDPWSSD   ZS, Z17, Z16

// KROW accumulates one super-block of the q8_K row at XR into ACC.
#define KROW(XR, ACC) \
	VPXORD        Z16, Z16, Z16; \
	KCHUNK(XR, 4, Z4, Z8); \
	KCHUNK(XR, 68, Z5, Z9); \
	KCHUNK(XR, 132, Z6, Z10); \
	KCHUNK(XR, 196, Z7, Z11); \
	VEXTRACTI64X4 $1, Z16, Y17; \
	VPADDD        Y17, Y16, Y2; \
	VMOVDQU       260(XR), Y3; \
	VPMADDWD      Y20, Y3, Y12; \
	VPADDD        Y12, Y2, Y2; \
	VPMADDWD      Y21, Y3, Y3; \
	KHSUM(Y2, X2, AX); \
	KHSUM(Y3, X3, BX); \
	VMOVSS        0(XR), X2; \
	VMULSS        576(SI), X2, X3; \
	VCVTSI2SSL    AX, X12, X12; \
	VMULSS        X3, X12, X12; \
	VADDSS        X12, ACC, ACC; \
	VMULSS        580(SI), X2, X3; \
	VCVTSI2SSL    BX, X12, X12; \
	VMULSS        X3, X12, X12; \
	VSUBSS        X12, ACC, ACC

// KSUMS leaves row XR's isum lanes in YA (8 int32, including the offset
// correction) and its imin lanes in YB.
#define KSUMS(XR, YA, YB) \
	VPXORD        Z16, Z16, Z16; \
	KCHUNK(XR, 4, Z4, Z8); \
	KCHUNK(XR, 68, Z5, Z9); \
	KCHUNK(XR, 132, Z6, Z10); \
	KCHUNK(XR, 196, Z7, Z11); \
	VEXTRACTI64X4 $1, Z16, Y17; \
	VPADDD        Y17, Y16, YA; \
	VMOVDQU       260(XR), Y3; \
	VPMADDWD      Y20, Y3, Y17; \
	VPADDD        Y17, YA, YA; \
	VPMADDWD      Y21, Y3, YB

// KHSUM4 reduces four rows' 8-lane vectors (A0..A3, high registers) to X4
// lane r = row r's sum, using Y4..Y7 (the weights are no longer needed).
#define KHSUM4(A0, A1, A2, A3, XO) \
	VMOVDQU32    A0, Y4; \
	VMOVDQU32    A1, Y5; \
	VMOVDQU32    A2, Y6; \
	VMOVDQU32    A3, Y7; \
	VPHADDD      Y5, Y4, Y4; \
	VPHADDD      Y7, Y6, Y6; \
	VPHADDD      Y6, Y4, Y4; \
	VEXTRACTI128 $1, Y4, X5; \
	VPADDD       X5, X4, XO

// func gemmKx4(w, x *byte, xstride, nb int, res *[4]float32)
// Four rows at once: integer sums per row as in KROW, then the horizontal
// sums and dotK's float steps for the 4 rows in the 4 lanes of X0 (the same
// operations per lane as KROW's scalar code, so the same roundings).
TEXT ·gemmKx4(SB), NOSPLIT, $0-40
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   xstride+16(FP), R11
	LEAQ   (DI)(R11*1), R10
	LEAQ   (R10)(R11*1), R13
	LEAQ   (R13)(R11*1), R14
	MOVQ   nb+24(FP), CX
	MOVQ   res+32(FP), DX
	VXORPS X0, X0, X0
	TESTQ  CX, CX
	JLE    k4done

k4loop:
	KLOADW
	KSUMS(DI, Y22, Y23)
	KSUMS(R10, Y24, Y25)
	KSUMS(R13, Y26, Y27)
	KSUMS(R14, Y28, Y29)
	KHSUM4(Y22, Y24, Y26, Y28, X12)
	KHSUM4(Y23, Y25, Y27, Y29, X13)
	VMOVSS       0(DI), X1
	VINSERTPS    $0x10, 0(R10), X1, X1
	VINSERTPS    $0x20, 0(R13), X1, X1
	VINSERTPS    $0x30, 0(R14), X1, X1 // d_x of the 4 rows
	VBROADCASTSS 576(SI), X2
	VMULPS       X1, X2, X2
	VCVTDQ2PS    X12, X12
	VMULPS       X2, X12, X12
	VADDPS       X12, X0, X0
	VBROADCASTSS 580(SI), X3
	VMULPS       X1, X3, X3
	VCVTDQ2PS    X13, X13
	VMULPS       X3, X13, X13
	VSUBPS       X13, X0, X0
	ADDQ         $640, SI
	ADDQ         $292, DI
	ADDQ         $292, R10
	ADDQ         $292, R13
	ADDQ         $292, R14
	DECQ         CX
	JNZ          k4loop

k4done:
	VMOVUPS X0, 0(DX)
	VZEROUPPER
	RET

// func gemmKx1(w, x *byte, nb int) float32
TEXT ·gemmKx1(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS X0, X0, X0
	TESTQ  CX, CX
	JLE    k1done

k1loop:
	KLOADW
	KROW(DI, X0)
	ADDQ $640, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  k1loop

k1done:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
