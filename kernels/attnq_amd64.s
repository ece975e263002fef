#include "textflag.h"

// func fmaRowF32(o, v *float32, n int, w float32)
// o[i] = fma(v[i], w, o[i]) for i < n (n a multiple of 8): ggml_vec_mad_f32's
// fused multiply-add (GGML_F32_VEC_FMA), one rounding per element.
TEXT ·fmaRowF32(SB), NOSPLIT, $0-28
	MOVQ         o+0(FP), DI
	MOVQ         v+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS w+24(FP), Y0
	SHRQ         $3, CX
	JZ           fr_done

fr_loop:
	VMOVUPS     0(DI), Y2
	VMOVUPS     0(SI), Y1
	VFMADD231PS Y1, Y0, Y2
	VMOVUPS     Y2, 0(DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	DECQ        CX
	JNZ         fr_loop

fr_done:
	VZEROUPPER
	RET

// Block dot products in ggml-cpu's x86 AVX2 order (arch/x86/quants.c
// ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0): per block, d = f16(x.d) *
// f16(y.d); the 32 int8 products are summed in 8 int32 lanes of 4
// consecutive values (sign trick, VPMADDUBSW, VPMADDWD with ones), converted
// to float and added with VFMADD231PS into 8 accumulators; hsum_float_8 at
// the end. vecDotQ8Go is the Go twin.

// SCALE sets Y1 to the block scale product from SI and DI.
#define SCALE \
	VPBROADCASTW 0(SI), X1; \
	VCVTPH2PS    X1, Y1; \
	VPBROADCASTW 0(DI), X2; \
	VCVTPH2PS    X2, Y2; \
	VMULPS       Y2, Y1, Y1

// LANES adds d(Y1) * lane sums of x(Y3, signed) · y(Y4) to Y0; Y7 holds
// int16 ones.
#define LANES \
	VPSIGNB     Y3, Y3, Y5; \
	VPSIGNB     Y3, Y4, Y6; \
	VPMADDUBSW  Y6, Y5, Y8; \
	VPMADDWD    Y7, Y8, Y8; \
	VCVTDQ2PS   Y8, Y8; \
	VFMADD231PS Y8, Y1, Y0

// HSUM returns hsum_float_8(Y0): ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
#define HSUM \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

// func dotQ8Q8(x, y *byte, nb int) float32
TEXT ·dotQ8Q8(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	MOVL         $0x00010001, AX
	VMOVQ        AX, X7
	VPBROADCASTD X7, Y7
	TESTQ        CX, CX
	JZ           q8_done

q8_loop:
	SCALE
	VMOVDQU 2(SI), Y3
	VMOVDQU 2(DI), Y4
	LANES
	ADDQ    $34, SI
	ADDQ    $34, DI
	DECQ    CX
	JNZ     q8_loop

q8_done:
	HSUM
	VZEROUPPER
	VMOVSS X0, ret+24(FP)
	RET

// func dotQ4Q8(x, y *byte, nb int) float32
// x is q4_0: bytes_from_nibbles_32 puts the low nibbles in bytes 0..15 and
// the high nibbles in 16..31, minus 8.
TEXT ·dotQ4Q8(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	MOVL         $0x00010001, AX
	VMOVQ        AX, X7
	VPBROADCASTD X7, Y7
	MOVL         $0x0f0f0f0f, AX
	VMOVQ        AX, X9
	VPBROADCASTD X9, Y9
	MOVL         $0x08080808, AX
	VMOVQ        AX, X10
	VPBROADCASTD X10, Y10
	TESTQ        CX, CX
	JZ           q4_done

q4_loop:
	SCALE
	VMOVDQU     2(SI), X3
	VPSRLW      $4, X3, X4
	VINSERTI128 $1, X4, Y3, Y3
	VPAND       Y9, Y3, Y3
	VPSUBB      Y10, Y3, Y3
	VMOVDQU     2(DI), Y4
	LANES
	ADDQ        $18, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         q4_loop

q4_done:
	HSUM
	VZEROUPPER
	VMOVSS X0, ret+24(FP)
	RET
