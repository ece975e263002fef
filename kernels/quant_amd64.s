#include "textflag.h"

// AVX2 activation quantizers, bit-identical to the pure-Go twins in quant.go
// (quantizeQ8_0Go, quantizeQ8_1Go, quantizeQ8_KGo). The q8_0/q8_1 shape
// (abs, max tree, round-to-nearest, cvtps2dq, two saturating packs and a
// dword permute) follows ggml-cpu's quantize_row_q8_0/q8_1 for AVX2
// (ggml/src/ggml-cpu/arch/x86/quants.c); q8_K vectorises
// quantize_row_q8_K_ref (ggml/src/ggml-quants.c), including its
// nearest_int bit trick. Where the Go twins define behaviour that ggml
// leaves open (NaN input, id = +Inf for a tiny max) the code below follows
// the twins: NaNs never win the max, and values are clamped to 127 before
// cvtps2dq, so +Inf gives 127 like sat8.

// qperm undoes the lane interleave of vpackssdw+vpacksswb: dword i of the
// result takes dword qperm[i] of the packed register.
DATA qperm<>+0(SB)/8, $0x0000000400000000
DATA qperm<>+8(SB)/8, $0x0000000500000001
DATA qperm<>+16(SB)/8, $0x0000000600000002
DATA qperm<>+24(SB)/8, $0x0000000700000003
GLOBL qperm<>(SB), RODATA|NOPTR, $32

// Y15 = 0x7fffffff (abs mask), Y14 = 127.0, Y13 = qperm, Y12 = 0,
// Y11 = 0x80 bytes (bias for the signed byte sums through vpsadbw).
#define Q8_SETUP \
	VPCMPEQD     Y15, Y15, Y15; \
	VPSRLD       $1, Y15, Y15; \
	MOVL         $0x42fe0000, AX; \
	VMOVD        AX, X14; \
	VBROADCASTSS X14, Y14; \
	VMOVDQU      qperm<>(SB), Y13; \
	VPXOR        Y12, Y12, Y12; \
	MOVL         $0x80808080, AX; \
	VMOVD        AX, X11; \
	VPBROADCASTD X11, Y11

// Q8_32 quantizes the 32 floats at SI: on exit Y0 holds the 32 int8 values
// in order and X9 (low lane) holds d = max/127 as float32. vmaxps returns
// its second source when either is NaN, so keeping the (never NaN)
// accumulator second ignores NaNs as absmax does; vminps with v second keeps
// NaN (-> INT_MIN -> -128) and saturates +Inf to 127, as sat8 does.
#define Q8_32 \
	VMOVUPS      0(SI), Y0; \
	VMOVUPS      32(SI), Y1; \
	VMOVUPS      64(SI), Y2; \
	VMOVUPS      96(SI), Y3; \
	VANDPS       Y15, Y0, Y4; \
	VANDPS       Y15, Y1, Y5; \
	VANDPS       Y15, Y2, Y6; \
	VANDPS       Y15, Y3, Y7; \
	VMAXPS       Y12, Y4, Y8; \
	VMAXPS       Y8, Y5, Y8; \
	VMAXPS       Y8, Y6, Y8; \
	VMAXPS       Y8, Y7, Y8; \
	VEXTRACTF128 $1, Y8, X9; \
	VMAXPS       X9, X8, X8; \
	VPERMILPS    $0x4e, X8, X9; \
	VMAXPS       X9, X8, X8; \
	VPERMILPS    $0xb1, X8, X9; \
	VMAXPS       X9, X8, X8; \
	VBROADCASTSS X8, Y8; \
	VDIVSS       X14, X8, X9; \
	VDIVPS       Y8, Y14, Y10; \
	VCMPPS       $4, Y12, Y8, Y7; \
	VANDPS       Y7, Y10, Y10; \
	VMULPS       Y10, Y0, Y0; \
	VMULPS       Y10, Y1, Y1; \
	VMULPS       Y10, Y2, Y2; \
	VMULPS       Y10, Y3, Y3; \
	VROUNDPS     $0, Y0, Y0; \
	VROUNDPS     $0, Y1, Y1; \
	VROUNDPS     $0, Y2, Y2; \
	VROUNDPS     $0, Y3, Y3; \
	VMINPS       Y0, Y14, Y0; \
	VMINPS       Y1, Y14, Y1; \
	VMINPS       Y2, Y14, Y2; \
	VMINPS       Y3, Y14, Y3; \
	VCVTPS2DQ    Y0, Y0; \
	VCVTPS2DQ    Y1, Y1; \
	VCVTPS2DQ    Y2, Y2; \
	VCVTPS2DQ    Y3, Y3; \
	VPACKSSDW    Y1, Y0, Y0; \
	VPACKSSDW    Y3, Y2, Y2; \
	VPACKSSWB    Y2, Y0, Y0; \
	VPERMD       Y0, Y13, Y0

// SUM_I8 leaves in AX the sum of the 32 signed bytes of Y0: vpsadbw over
// (q ^ 0x80) (Y11 = 0x80 bytes, Y12 = 0) minus 32*128. Clobbers Y4, Y5.
#define SUM_I8 \
	VPXOR        Y11, Y0, Y4; \
	VPSADBW      Y12, Y4, Y4; \
	VEXTRACTI128 $1, Y4, X5; \
	VPADDQ       X5, X4, X4; \
	VPSHUFD      $0x4e, X4, X5; \
	VPADDQ       X5, X4, X4; \
	VMOVD        X4, AX; \
	SUBL         $4096, AX

// func quantizeQ8_0AVX2(dst *byte, x *float32, nb int)
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JLE  q80_done
	Q8_SETUP

q80_loop:
	Q8_32
	VCVTPS2PH $0, X9, X9
	VMOVD     X9, AX
	MOVW      AX, 0(DI)
	VMOVDQU   Y0, 2(DI)
	ADDQ      $128, SI
	ADDQ      $34, DI
	DECQ      CX
	JNZ       q80_loop
	VZEROUPPER

q80_done:
	RET

// func quantizeQ8_1AVX2(dst *byte, x *float32, nb int)
TEXT ·quantizeQ8_1AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JLE  q81_done
	Q8_SETUP

q81_loop:
	Q8_32
	VMOVDQU     Y0, 4(DI)
	SUM_I8
	VCVTSI2SSL  AX, X5, X5
	VMULSS      X5, X9, X5
	VCVTPS2PH   $0, X9, X9
	VMOVD       X9, AX
	MOVW        AX, 0(DI)
	VCVTPS2PH   $0, X5, X5
	VMOVD       X5, AX
	MOVW        AX, 2(DI)
	ADDQ        $128, SI
	ADDQ        $36, DI
	DECQ        CX
	JNZ         q81_loop
	VZEROUPPER

q81_done:
	RET

// func quantizeQ8_KAVX2(dst *byte, x *float32, nb int)
//
// Y15 abs mask, Y14 12582912.0 (1.5*2^23, nearest_int's magic), Y13 qperm,
// Y12 zero, Y11 0x80 bytes, Y10 0x007fffff, Y9 0x00400000, Y8 127,
// Y7 0xff, Y6 iscale.
TEXT ·quantizeQ8_KAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JLE  qk_done
	VPCMPEQD     Y15, Y15, Y15
	VPSRLD       $1, Y15, Y15
	MOVL         $0x4b400000, AX
	VMOVD        AX, X14
	VBROADCASTSS X14, Y14
	VMOVDQU      qperm<>(SB), Y13
	VPXOR        Y12, Y12, Y12
	MOVL         $0x80808080, AX
	VMOVD        AX, X11
	VPBROADCASTD X11, Y11
	VPSRLD       $8, Y15, Y10
	MOVL         $0x00400000, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9
	MOVL         $127, AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	VPSRLD       $23, Y15, Y7

qk_block:
	// amax over the 256 values, four NaN-ignoring accumulators.
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   R8, R8

qk_amax:
	VANDPS (SI)(R8*1), Y15, Y4
	VMAXPS Y0, Y4, Y0
	VANDPS 32(SI)(R8*1), Y15, Y4
	VMAXPS Y1, Y4, Y1
	VANDPS 64(SI)(R8*1), Y15, Y4
	VMAXPS Y2, Y4, Y2
	VANDPS 96(SI)(R8*1), Y15, Y4
	VMAXPS Y3, Y4, Y3
	ADDQ   $128, R8
	CMPQ   R8, $1024
	JLT    qk_amax
	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VUCOMISS     X12, X0
	JEQ          qk_zero

	// mx = the first value whose magnitude is amax (the twin's strict '>'
	// keeps the first one, and its sign matters).
	VBROADCASTSS X0, Y0
	XORQ         R8, R8

qk_find:
	VANDPS    (SI)(R8*4), Y15, Y4
	VCMPPS    $0, Y0, Y4, Y4
	VMOVMSKPS Y4, AX
	TESTL     AX, AX
	JNZ       qk_found
	ADDQ      $8, R8
	CMPQ      R8, $256
	JLT       qk_find
	XORQ      R8, R8 // unreachable: amax is one of the values
	MOVL      $1, AX

qk_found:
	BSFL         AX, AX
	ADDQ         R8, AX
	VMOVSS       (SI)(AX*4), X1
	MOVL         $0xc2fe0000, AX // -127.0
	VMOVD        AX, X2
	VDIVSS       X1, X2, X2      // iscale = -127/mx
	MOVL         $0x3f800000, AX // 1.0
	VMOVD        AX, X3
	VDIVSS       X2, X3, X3      // d = 1/iscale
	VMOVSS       X3, 0(DI)
	VBROADCASTSS X2, Y6
	LEAQ         4(DI), R10
	LEAQ         260(DI), R11
	MOVQ         $8, R8

qk_group:
	VMULPS    0(SI), Y6, Y0
	VMULPS    32(SI), Y6, Y1
	VMULPS    64(SI), Y6, Y2
	VMULPS    96(SI), Y6, Y3
	VADDPS    Y14, Y0, Y0
	VADDPS    Y14, Y1, Y1
	VADDPS    Y14, Y2, Y2
	VADDPS    Y14, Y3, Y3
	VPAND     Y10, Y0, Y0
	VPAND     Y10, Y1, Y1
	VPAND     Y10, Y2, Y2
	VPAND     Y10, Y3, Y3
	VPSUBD    Y9, Y0, Y0
	VPSUBD    Y9, Y1, Y1
	VPSUBD    Y9, Y2, Y2
	VPSUBD    Y9, Y3, Y3
	VPMINSD   Y8, Y0, Y0
	VPMINSD   Y8, Y1, Y1
	VPMINSD   Y8, Y2, Y2
	VPMINSD   Y8, Y3, Y3
	// keep the low byte (the twin's byte(int8(iv))), then the unsigned
	// packs cannot saturate.
	VPAND     Y7, Y0, Y0
	VPAND     Y7, Y1, Y1
	VPAND     Y7, Y2, Y2
	VPAND     Y7, Y3, Y3
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPACKUSWB Y2, Y0, Y0
	VPERMD    Y0, Y13, Y0
	VMOVDQU   Y0, 0(R10)
	// bsums of the two 16-byte halves: vpsadbw over (q ^ 0x80), minus 16*128.
	VPXOR        Y11, Y0, Y4
	VPSADBW      Y12, Y4, Y4
	VPSRLDQ      $8, Y4, Y5
	VPADDQ       Y5, Y4, Y4
	VMOVD        X4, AX
	SUBL         $2048, AX
	MOVW         AX, 0(R11)
	VEXTRACTI128 $1, Y4, X5
	VMOVD        X5, AX
	SUBL         $2048, AX
	MOVW         AX, 2(R11)
	ADDQ         $128, SI
	ADDQ         $32, R10
	ADDQ         $4, R11
	DECQ         R8
	JNZ          qk_group
	JMP          qk_next

qk_zero:
	VMOVDQU Y12, 0(DI)
	VMOVDQU Y12, 32(DI)
	VMOVDQU Y12, 64(DI)
	VMOVDQU Y12, 96(DI)
	VMOVDQU Y12, 128(DI)
	VMOVDQU Y12, 160(DI)
	VMOVDQU Y12, 192(DI)
	VMOVDQU Y12, 224(DI)
	VMOVDQU Y12, 256(DI)
	MOVL    $0, 288(DI)
	ADDQ    $1024, SI

qk_next:
	ADDQ $292, DI
	DECQ CX
	JNZ  qk_block
	VZEROUPPER

qk_done:
	RET

// func pack40AVX2(dst, x *byte, nb int, c int32)
//
// pack40 (gemm16.go) per q8_0 block: the 32 quants copied, the bias -c·Σq
// (SUM_I8, as in quantizeQ8_1AVX2; int32 arithmetic wraps as Go's does), then d as
// float32 (vcvtph2ps: exact, as the twin's conversion; d is never NaN
// here, the quantizers do not make one).
TEXT ·pack40AVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         nb+16(FP), CX
	MOVL         c+24(FP), R8
	VPXOR        Y12, Y12, Y12
	MOVL         $0x80808080, AX
	VMOVD        AX, X11
	VPBROADCASTD X11, Y11

p40_loop:
	VMOVDQU      2(SI), Y0
	VMOVDQU      Y0, 0(DI)
	SUM_I8
	IMULL        R8, AX
	NEGL         AX
	MOVL         AX, 32(DI)
	MOVWLZX      0(SI), AX
	VMOVD        AX, X5
	VCVTPH2PS    X5, X5
	VMOVSS       X5, 36(DI)
	ADDQ         $34, SI
	ADDQ         $40, DI
	DECQ         CX
	JNZ          p40_loop
	VZEROUPPER
	RET
