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
