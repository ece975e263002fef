#include "textflag.h"

// func siluV16(v *float32, n16 int)
// ggml_v_silu (ggml-cpu vec.h, AVX-512) in place on n16 vectors of 16
// floats; silu.go has the constants' meaning and the exact twin (vSiLU).
// The |n| > 192 fix-up is applied lane by lane (ggml applies it to whole
// vectors only when one lane needs it; the per-lane results are the same).
TEXT ·siluV16(SB), NOSPLIT, $0-16
	MOVQ v+0(FP), DI
	MOVQ n16+8(FP), CX
	MOVL $0x4b400000, AX // 0x1.8p23
	VPBROADCASTD AX, Z20
	MOVL $0x3fb8aa3b, AX // 0x1.715476p+0
	VPBROADCASTD AX, Z21
	MOVL $0x3f317200, AX // 0x1.62e4p-1
	VPBROADCASTD AX, Z22
	MOVL $0x35bfbe8e, AX // 0x1.7f7d1cp-20
	VPBROADCASTD AX, Z23
	MOVL $0x3f7ffff6, AX // 0x1.ffffecp-1
	VPBROADCASTD AX, Z24
	MOVL $0x3efffedb, AX // 0x1.fffdb6p-2
	VPBROADCASTD AX, Z25
	MOVL $0x3e2aaf33, AX // 0x1.555e66p-3
	VPBROADCASTD AX, Z26
	MOVL $0x3d2b9f17, AX // 0x1.573e2ep-5
	VPBROADCASTD AX, Z27
	MOVL $0x3c072010, AX // 0x1.0e4020p-7
	VPBROADCASTD AX, Z28
	MOVL $0x3f800000, AX // 1.0
	VPBROADCASTD AX, Z29
	MOVL $0x43400000, AX // 192
	VPBROADCASTD AX, Z30
	MOVL $0x7f800000, AX // +Inf
	VPBROADCASTD AX, Z31
	MOVL $0x7fffffff, AX // abs mask
	VPBROADCASTD AX, Z19
	VPXORD Z18, Z18, Z18 // 0
	TESTQ CX, CX
	JLE   done

loop:
	VMOVUPS     (DI), Z0          // x
	VSUBPS      Z0, Z18, Z1       // t = 0 - x
	VMOVAPS     Z20, Z2
	VFMADD231PS Z21, Z1, Z2       // z = t*log2e + shift
	VSUBPS      Z20, Z2, Z3       // n = z - shift
	VMOVAPS     Z1, Z4
	VFNMADD231PS Z22, Z3, Z4      // t - n*ln2hi
	VFNMADD231PS Z23, Z3, Z4      // b = that - n*ln2lo
	VMULPS      Z4, Z4, Z5        // u = b*b
	VMOVAPS     Z27, Z6
	VFMADD231PS Z28, Z4, Z6       // c5*b + c4
	VMOVAPS     Z25, Z7
	VFMADD231PS Z26, Z4, Z7       // c3*b + c2
	VFMADD231PS Z5, Z6, Z7        // (c5 b + c4) u + (c3 b + c2)
	VMOVAPS     Z29, Z8
	VFMADD231PS Z24, Z4, Z8       // c1*b + 1
	VFMADD231PS Z5, Z7, Z8        // j
	VSCALEFPS   Z3, Z8, Z8        // j * 2^n
	VPANDD      Z19, Z3, Z9       // |n|
	VCMPPS      $0x1e, Z30, Z9, K1 // |n| > 192 (GT_OQ)
	VCMPPS      $0x12, Z18, Z3, K2 // n <= 0 (LE_OQ)
	VMOVAPS     Z31, Z10
	VMOVAPS     Z18, K2, Z10      // n <= 0 ? 0 : +Inf
	VMOVAPS     Z10, K1, Z8       // out of range lanes
	VADDPS      Z29, Z8, Z8       // 1 + exp(-x)
	VDIVPS      Z8, Z0, Z0        // x / (1 + exp(-x))
	VMOVUPS     Z0, (DI)
	ADDQ        $64, DI
	DECQ        CX
	JNZ         loop

done:
	VZEROUPPER
	RET

// The AVX2 form's constants as 8-lane vectors (memory operands of the
// loop below; the registers hold the rest).
DATA silu8c<>+0(SB)/4, $0x3c072010 // c5 0x1.0e4020p-7
DATA silu8c<>+4(SB)/4, $0x3d2b9f17 // c4 0x1.573e2ep-5
DATA silu8c<>+8(SB)/4, $0x3e2aaf33 // c3 0x1.555e66p-3
DATA silu8c<>+12(SB)/4, $0x3efffedb // c2 0x1.fffdb6p-2
DATA silu8c<>+16(SB)/4, $0x3f7ffff6 // c1 0x1.ffffecp-1
DATA silu8c<>+20(SB)/4, $0x43400000 // 192
DATA silu8c<>+24(SB)/4, $0x82000000 // g: the scale's sign and exponent shift for n <= 0
DATA silu8c<>+28(SB)/4, $0x7f000000 // s1's bits for n > 0
GLOBL silu8c<>(SB), RODATA|NOPTR, $32

// func siluV8(v *float32, n8 int)
// ggml_v_silu's AVX2 form (ggml-cpu vec.h, __AVX2__ && __FMA__: x / (1 +
// ggml_v_expf(-x)) with the expf that returns k + k·j) in place on n8
// vectors of 8 floats; silu.go's vExpf8 is the exact twin. As in ggml, the
// |n| > 126 route runs only for vectors where a lane needs it, and there
// picks per lane.
TEXT ·siluV8(SB), NOSPLIT, $0-16
	MOVQ v+0(FP), DI
	MOVQ n8+8(FP), CX
	TESTQ CX, CX
	JLE   done
	MOVL $0x4b400000, AX // 0x1.8p23
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x3fb8aa3b, AX // 0x1.715476p+0
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x3f317200, AX // 0x1.62e4p-1
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x35bfbe8e, AX // 0x1.7f7d1cp-20
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X11
	VPBROADCASTD X11, Y11
	MOVL $0x7fffffff, AX // abs mask
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	MOVL $0x42fc0000, AX // 126
	VMOVD AX, X9
	VPBROADCASTD X9, Y9

loop:
	VMOVUPS      (DI), Y0           // x
	VXORPS       Y1, Y1, Y1
	VSUBPS       Y0, Y1, Y1         // t = 0 - x
	VMOVAPS      Y15, Y2
	VFMADD231PS  Y14, Y1, Y2        // z = t*log2e + shift
	VSUBPS       Y15, Y2, Y3        // n = z - shift
	VFNMADD231PS Y13, Y3, Y1        // t - n*ln2hi
	VFNMADD231PS Y12, Y3, Y1        // b = that - n*ln2lo
	VPSLLD       $23, Y2, Y2        // e = bits(z) << 23
	VPADDD       Y11, Y2, Y4        // k = e + bits(1)
	VMULPS       Y1, Y1, Y5         // u = b*b
	VBROADCASTSS silu8c<>+4(SB), Y6
	VBROADCASTSS silu8c<>+0(SB), Y8
	VFMADD231PS  Y8, Y1, Y6         // p = c5*b + c4
	VBROADCASTSS silu8c<>+12(SB), Y7
	VBROADCASTSS silu8c<>+8(SB), Y8
	VFMADD231PS  Y8, Y1, Y7         // q = c3*b + c2
	VFMADD231PS  Y5, Y6, Y7         // q = p*u + q
	VBROADCASTSS silu8c<>+16(SB), Y8
	VMULPS       Y8, Y1, Y6         // c1*b
	VFMADD231PS  Y5, Y7, Y6         // j = q*u + c1*b
	VANDPS       Y10, Y3, Y5        // |n|
	VCMPPS       $0x1e, Y9, Y5, Y1  // c = |n| > 126 (GT_OQ)
	VMOVMSKPS    Y1, AX
	TESTL        AX, AX
	JNZ          wide
	VFMADD231PS  Y6, Y4, Y4         // k*j + k

sum:
	VADDPS       Y11, Y4, Y4        // 1 + exp(-x)
	VDIVPS       Y4, Y0, Y0         // x / (1 + exp(-x))
	VMOVUPS      Y0, (DI)
	ADDQ         $32, DI
	DECQ         CX
	JNZ          loop

done:
	VZEROUPPER
	RET

wide:
	VBROADCASTSS silu8c<>+20(SB), Y8
	VCMPPS       $0x1e, Y8, Y5, Y8  // d = |n| > 192
	VXORPS       Y7, Y7, Y7
	VCMPPS       $0x12, Y7, Y3, Y7  // n <= 0 (LE_OQ)
	VBROADCASTSS silu8c<>+24(SB), Y5
	VANDPS       Y5, Y7, Y7         // g
	VBROADCASTSS silu8c<>+28(SB), Y5
	VPADDD       Y5, Y7, Y5         // s1 = g + 0x7f000000
	VPSUBD       Y7, Y2, Y2         // s2 = e - g
	VFMADD231PS  Y6, Y2, Y2         // s2*j + s2
	VMULPS       Y5, Y2, Y2         // (s2*j + s2) * s1
	VFMADD231PS  Y6, Y4, Y4         // k*j + k
	VBLENDVPS    Y1, Y2, Y4, Y4     // c ? scaled : k*j + k
	VMULPS       Y5, Y5, Y5         // s1*s1
	VBLENDVPS    Y8, Y5, Y4, Y4     // d ? s1*s1 : that
	JMP          sum
