#include "textflag.h"

// AVX-512 f32 and f16 kernels (see gemm_amd64.go).

// RED16 reduces ZMM accumulator Z (as reduce16) into X and stores it at dst.
#define RED16(Z, Y, X, dst) \
	VEXTRACTF64X4 $1, Z, Y1; \
	VADDPS        Y1, Y, Y; \
	VEXTRACTF128  $1, Y, X1; \
	VADDPS        X1, X, X; \
	VMOVHLPS      X, X, X1; \
	VADDPS        X1, X, X; \
	VMOVSHDUP     X, X1; \
	VADDSS        X1, X, X; \
	VMOVSS        X, dst

// func f32DotZ(w, x *float32, n int) float32
// dotF32's 16 lanes in one ZMM: lane l += w[i+l]*x[i+l], multiply and add
// unfused, then reduce16. The last n%16 elements go to lanes 0.. through a
// masked load and a merge-masked add, so the other lanes stay untouched as
// in dotF32. Two accumulator registers would change the order, so the loop
// runs at the add latency.
TEXT ·f32DotZ(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0

floop:
	CMPQ    CX, $16
	JLT     ftail
	VMOVUPS 0(SI), Z2
	VMULPS  0(DI), Z2, Z2
	VADDPS  Z2, Z0, Z0
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     floop

ftail:
	TESTQ     CX, CX
	JLE       fdone
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K1
	VMOVUPS.Z 0(SI), K1, Z2
	VMOVUPS.Z 0(DI), K1, Z3
	VMULPS    Z3, Z2, Z2
	VADDPS    Z2, Z0, K1, Z0

fdone:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func f16DotZ(w *byte, x *float32, n int) float32
// dotF16 with one ZMM as its 16 lanes: f16 weights converted by VCVTPH2PS,
// activations given as float32 holding f16 values, so every product is
// exact and the fused multiply-add rounds like dotF16's multiply and add.
// The last n%16 elements use a masked load and a merge-masked FMA.
TEXT ·f16DotZ(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0

hloop:
	CMPQ        CX, $16
	JLT         htail
	VCVTPH2PS   0(SI), Z2
	VFMADD231PS 0(DI), Z2, Z0
	ADDQ        $32, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         hloop

htail:
	TESTQ       CX, CX
	JLE         hdone
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVDQU16.Z 0(SI), K1, Y2
	VCVTPH2PS   Y2, Z2
	VMOVUPS.Z   0(DI), K1, Z3
	VFMADD231PS Z3, Z2, K1, Z0

hdone:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// F16X adds 16 elements of x row at xa times both weight rows (Z8, Z9).
#define F16X(xa, A0, A1) \
	VMOVUPS     xa, Z10; \
	VFMADD231PS Z10, Z8, A0; \
	VFMADD231PS Z10, Z9, A1

// func f16Gemm2x4(w *byte, wstride int, x *float32, xstride, n16 int, res *[8]float32)
// Two f16 weight rows (w, w+wstride bytes) times four activation rows (x,
// x+xstride bytes, ...) over n16 groups of 16, each output in dotF16's lane
// order; res[4r+i] is weight row r times activation row i.
TEXT ·f16Gemm2x4(SB), NOSPLIT, $0-48
	MOVQ   w+0(FP), SI
	MOVQ   wstride+8(FP), R8
	MOVQ   x+16(FP), DI
	MOVQ   xstride+24(FP), R11
	LEAQ   (R11)(R11*2), R12
	MOVQ   n16+32(FP), CX
	MOVQ   res+40(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z15, Z15, Z15
	TESTQ  CX, CX
	JLE    gdone

gloop:
	VCVTPH2PS 0(SI), Z8
	VCVTPH2PS 0(SI)(R8*1), Z9
	F16X(0(DI), Z0, Z5)
	F16X(0(DI)(R11*1), Z2, Z6)
	F16X(0(DI)(R11*2), Z3, Z7)
	F16X(0(DI)(R12*1), Z4, Z15)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  gloop

gdone:
	RED16(Z0, Y0, X0, 0(DX))
	RED16(Z2, Y2, X2, 4(DX))
	RED16(Z3, Y3, X3, 8(DX))
	RED16(Z4, Y4, X4, 12(DX))
	RED16(Z5, Y5, X5, 16(DX))
	RED16(Z6, Y6, X6, 20(DX))
	RED16(Z7, Y7, X7, 24(DX))
	RED16(Z15, Y15, X15, 28(DX))
	VZEROUPPER
	RET

// F16STEP adds 64 elements of f16 weights at R (offset o bytes) times the
// float32 activations at X (offset 2*o) to accumulators A0..A3 (ggml's
// GGML_F16_ARR = 4 registers of 16 lanes). Scratch: Z16..Z19.
#define F16STEP(R, X, A0, A1, A2, A3) \
	VCVTPH2PS   0(R), Z16; \
	VCVTPH2PS   32(R), Z17; \
	VCVTPH2PS   64(R), Z18; \
	VCVTPH2PS   96(R), Z19; \
	VFMADD231PS 0(X), Z16, A0; \
	VFMADD231PS 64(X), Z17, A1; \
	VFMADD231PS 128(X), Z18, A2; \
	VFMADD231PS 192(X), Z19, A3

// F16FOLD is GGML_F32x16_REDUCE's adds: A0 = (A0+A2) + (A1+A3).
#define F16FOLD(A0, A1, A2, A3) \
	VADDPS A2, A0, A0; \
	VADDPS A3, A1, A1; \
	VADDPS A1, A0, A0

// func f16DotV(w *byte, x *float32, n64 int) float32
// The first 64*n64 elements of dotF16 (ggml_vec_dot_f16's SIMD part):
// four 16-lane accumulators, exact products so the FMA rounds like the
// twin's add, GGML_F32x16_REDUCE. The Go wrapper adds the leftovers.
TEXT ·f16DotV(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n64+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	TESTQ  CX, CX
	JLE    vvdone

vvloop:
	F16STEP(SI, DI, Z0, Z2, Z3, Z4)
	ADDQ $128, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  vvloop

vvdone:
	F16FOLD(Z0, Z2, Z3, Z4)
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func f16Gemv4V(w *byte, wstride int, x *float32, n64 int, res *[4]float32)
// f16DotV for four weight rows (wstride bytes apart) and one activation
// row: 16 accumulators, 4 per row.
TEXT ·f16Gemv4V(SB), NOSPLIT, $0-40
	MOVQ   w+0(FP), SI
	MOVQ   wstride+8(FP), R8
	LEAQ   (SI)(R8*1), R9
	LEAQ   (R9)(R8*1), R10
	LEAQ   (R10)(R8*1), R11
	MOVQ   x+16(FP), DI
	MOVQ   n64+24(FP), CX
	MOVQ   res+32(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z20, Z20, Z20
	TESTQ  CX, CX
	JLE    v4done

v4loop:
	F16STEP(SI, DI, Z0, Z2, Z3, Z4)
	F16STEP(R9, DI, Z5, Z6, Z7, Z8)
	F16STEP(R10, DI, Z9, Z10, Z11, Z12)
	F16STEP(R11, DI, Z13, Z14, Z15, Z20)
	ADDQ $128, SI
	ADDQ $128, R9
	ADDQ $128, R10
	ADDQ $128, R11
	ADDQ $256, DI
	DECQ CX
	JNZ  v4loop

v4done:
	F16FOLD(Z0, Z2, Z3, Z4)
	F16FOLD(Z5, Z6, Z7, Z8)
	F16FOLD(Z9, Z10, Z11, Z12)
	F16FOLD(Z13, Z14, Z15, Z20)
	RED16(Z0, Y0, X0, 0(DX))
	RED16(Z5, Y5, X5, 4(DX))
	RED16(Z9, Y9, X9, 8(DX))
	RED16(Z13, Y13, X13, 12(DX))
	VZEROUPPER
	RET
