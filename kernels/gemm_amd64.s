#include "textflag.h"

// AVX-512 VNNI kernels for 32-element block types over packed activations
// (packQ8 in gemm.go): per pair of blocks 64 int8 quants, 16 int32 lane
// biases -c*sum(x over the lane's 4 elements) and 16 float32 scales (each
// block's d_x repeated 8 times), 192 bytes. The weights become unsigned
// bytes u = q + c (q4_0: nibble = q+8, q8_0: q xor 0x80 = q+128), so
// VPDPBUSD(u, x) + bias is the exact signed lane sum of dot.go. A ZMM
// accumulator holds lanes 0..7 (even blocks) in its low half and 8..15 (odd
// blocks) in its high half, exactly dot.go's "lane order", and the float
// part (float32(s)*(d_w*d_x), unfused add) is the same, so results equal the
// pure-Go twins bit for bit.

// Z29: 0x0F bytes, Z28: 0x80 bytes.
#define CONSTS \
	MOVL         $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL         $0x80808080, AX; \
	VPBROADCASTD AX, Z28

// UNPACK_Q4_0 sets ZW to the pair's 64 nibbles (q+8) in element order and
// ZD to [d_w0 x8, d_w1 x8], for two q4_0 blocks (36 bytes) at R; XW/YW and
// XD/YD name the low parts of ZW/ZD; YT/XT are a scratch register.
#define UNPACK_Q4_0(R, ZW, YW, XW, ZD, YD, XD, YT, XT) \
	VMOVDQU      2(R), XW; \
	VINSERTI128  $1, 20(R), YW, YW; \
	VPSRLW       $4, YW, YT; \
	VINSERTI64X4 $1, YT, ZW, ZW; \
	VSHUFI64X2   $0xD8, ZW, ZW, ZW; \
	VPANDD       Z29, ZW, ZW; \
	VPBROADCASTW 0(R), XD; \
	VPBROADCASTW 18(R), XT; \
	VCVTPH2PS    XD, YD; \
	VCVTPH2PS    XT, YT; \
	VINSERTF64X4 $1, YT, ZD, ZD

// UNPACK_Q8_0: two q8_0 blocks (68 bytes), quants xor 0x80 (= q+128).
#define UNPACK_Q8_0(R, ZW, YW, XW, ZD, YD, XD, YT, XT) \
	VMOVDQU      2(R), YW; \
	VINSERTI64X4 $1, 36(R), ZW, ZW; \
	VPXORD       Z28, ZW, ZW; \
	VPBROADCASTW 0(R), XD; \
	VPBROADCASTW 34(R), XT; \
	VCVTPH2PS    XD, YD; \
	VCVTPH2PS    XT, YT; \
	VINSERTF64X4 $1, YT, ZD, ZD

// VBMI variants: one (masked) load of the pair, VPERMB places quant and
// scale bytes, so only 2-3 shuffle uops remain per pair instead of 8. Z30:
// quant byte index, Z31: per-word shift counts (q4_0), Z27: scale byte index,
// K2: 36-byte load mask (q4_0). ZT is scratch; YD is the low half of ZD.
#define UNPACK_Q4_0V(R, ZW, ZD, YD, ZT) \
	VMOVDQU8.Z 0(R), K2, ZT; \
	VPERMB     ZT, Z30, ZW; \
	VPSRLVW    Z31, ZW, ZW; \
	VPANDD     Z29, ZW, ZW; \
	VPERMB     ZT, Z27, ZD; \
	VCVTPH2PS  YD, ZD

#define UNPACK_Q8_0V(R, ZW, ZD, YD, ZT) \
	VMOVDQU64    2(R), ZW; \
	VINSERTI64X4 $1, 36(R), ZW, ZW; \
	VPXORD       Z28, ZW, ZW; \
	VMOVDQU64    0(R), ZT; \
	VPERMB       ZT, Z27, ZD; \
	VCVTPH2PS    YD, ZD

// Index tables for the VBMI unpacks.
DATA q4idx<>+0(SB)/8, $0x0908070605040302
DATA q4idx<>+8(SB)/8, $0x11100f0e0d0c0b0a
DATA q4idx<>+16(SB)/8, $0x0908070605040302
DATA q4idx<>+24(SB)/8, $0x11100f0e0d0c0b0a
DATA q4idx<>+32(SB)/8, $0x1b1a191817161514
DATA q4idx<>+40(SB)/8, $0x232221201f1e1d1c
DATA q4idx<>+48(SB)/8, $0x1b1a191817161514
DATA q4idx<>+56(SB)/8, $0x232221201f1e1d1c
GLOBL q4idx<>(SB), RODATA|NOPTR, $64
DATA q4shift<>+0(SB)/8, $0
DATA q4shift<>+8(SB)/8, $0
DATA q4shift<>+16(SB)/8, $0x0004000400040004
DATA q4shift<>+24(SB)/8, $0x0004000400040004
DATA q4shift<>+32(SB)/8, $0
DATA q4shift<>+40(SB)/8, $0
DATA q4shift<>+48(SB)/8, $0x0004000400040004
DATA q4shift<>+56(SB)/8, $0x0004000400040004
GLOBL q4shift<>(SB), RODATA|NOPTR, $64
DATA q4didx<>+0(SB)/8, $0x0100010001000100
DATA q4didx<>+8(SB)/8, $0x0100010001000100
DATA q4didx<>+16(SB)/8, $0x1312131213121312
DATA q4didx<>+24(SB)/8, $0x1312131213121312
DATA q4didx<>+32(SB)/8, $0
DATA q4didx<>+40(SB)/8, $0
DATA q4didx<>+48(SB)/8, $0
DATA q4didx<>+56(SB)/8, $0
GLOBL q4didx<>(SB), RODATA|NOPTR, $64
DATA q8didx<>+0(SB)/8, $0x0100010001000100
DATA q8didx<>+8(SB)/8, $0x0100010001000100
DATA q8didx<>+16(SB)/8, $0x2322232223222322
DATA q8didx<>+24(SB)/8, $0x2322232223222322
DATA q8didx<>+32(SB)/8, $0
DATA q8didx<>+40(SB)/8, $0
DATA q8didx<>+48(SB)/8, $0
DATA q8didx<>+56(SB)/8, $0
GLOBL q8didx<>(SB), RODATA|NOPTR, $64

#define VCONSTS_Q4 \
	VMOVDQU64 q4idx<>(SB), Z30; \
	VMOVDQU64 q4shift<>(SB), Z31; \
	VMOVDQU64 q4didx<>(SB), Z27; \
	MOVQ      $0xFFFFFFFFF, AX; \
	KMOVQ     AX, K2

#define VCONSTS_Q8 \
	VMOVDQU64 q8didx<>(SB), Z27

// ROW adds the block pair of weights ZW (scales ZD) times one activation
// row (quants q, biases b, scales s) to ACC, using temporaries T and D.
#define ROW(q, b, s, ZW, ZD, ACC, T, D) \
	VMOVDQU32 b, T; \
	VPDPBUSD  q, ZW, T; \
	VCVTDQ2PS T, T; \
	VMULPS    s, ZD, D; \
	VMULPS    D, T, T; \
	VADDPS    T, ACC, ACC

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

// GEMM4 computes one weight row (w) against 4 packed activation rows (x,
// x+xstride, x+2*xstride, x+3*xstride) over nb2 block pairs; res gets the
// 4 results.
#define GEMM4(UNPACK, WSTEP) \
	MOVQ   w+0(FP), SI; \
	MOVQ   x+8(FP), DI; \
	MOVQ   xstride+16(FP), R11; \
	LEAQ   (R11)(R11*2), R12; \
	MOVQ   nb2+24(FP), CX; \
	MOVQ   res+32(FP), DX; \
	CONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z3, Z3, Z3; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	UNPACK(SI, Z4, Y4, X4, Z5, Y5, X5, Y8, X8); \
	ROW(0(DI), 64(DI), 128(DI), Z4, Z5, Z0, Z10, Z11); \
	ROW(0(DI)(R11*1), 64(DI)(R11*1), 128(DI)(R11*1), Z4, Z5, Z2, Z12, Z13); \
	ROW(0(DI)(R11*2), 64(DI)(R11*2), 128(DI)(R11*2), Z4, Z5, Z15, Z18, Z19); \
	ROW(0(DI)(R12*1), 64(DI)(R12*1), 128(DI)(R12*1), Z4, Z5, Z3, Z16, Z17); \
	ADDQ   $WSTEP, SI; \
	ADDQ   $192, DI; \
	DECQ   CX; \
	JNZ    loop; \
done: \
	RED16(Z0, Y0, X0, 0(DX)); \
	RED16(Z2, Y2, X2, 4(DX)); \
	RED16(Z15, Y15, X15, 8(DX)); \
	RED16(Z3, Y3, X3, 12(DX)); \
	VZEROUPPER; \
	RET

// GEMV4 computes 4 weight rows (w, w+wstride, ...) against one packed
// activation row x over nb2 block pairs; res gets the 4 results.
#define GEMV4(UNPACK, WSTEP) \
	MOVQ   w+0(FP), SI; \
	MOVQ   wstride+8(FP), R11; \
	LEAQ   (SI)(R11*1), R8; \
	LEAQ   (R8)(R11*1), R9; \
	LEAQ   (R9)(R11*1), R10; \
	MOVQ   x+16(FP), DI; \
	MOVQ   nb2+24(FP), CX; \
	MOVQ   res+32(FP), DX; \
	CONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z3, Z3, Z3; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	VMOVDQU32 0(DI), Z24; \
	VMOVDQU32 64(DI), Z25; \
	VMOVUPS   128(DI), Z26; \
	UNPACK(SI, Z4, Y4, X4, Z5, Y5, X5, Y8, X8); \
	UNPACK(R8, Z6, Y6, X6, Z7, Y7, X7, Y9, X9); \
	ROW(Z24, Z25, Z26, Z4, Z5, Z0, Z10, Z11); \
	ROW(Z24, Z25, Z26, Z6, Z7, Z2, Z12, Z13); \
	UNPACK(R9, Z4, Y4, X4, Z5, Y5, X5, Y8, X8); \
	UNPACK(R10, Z6, Y6, X6, Z7, Y7, X7, Y9, X9); \
	ROW(Z24, Z25, Z26, Z4, Z5, Z15, Z18, Z19); \
	ROW(Z24, Z25, Z26, Z6, Z7, Z3, Z16, Z17); \
	ADDQ   $WSTEP, SI; \
	ADDQ   $WSTEP, R8; \
	ADDQ   $WSTEP, R9; \
	ADDQ   $WSTEP, R10; \
	ADDQ   $192, DI; \
	DECQ   CX; \
	JNZ    loop; \
done: \
	RED16(Z0, Y0, X0, 0(DX)); \
	RED16(Z2, Y2, X2, 4(DX)); \
	RED16(Z15, Y15, X15, 8(DX)); \
	RED16(Z3, Y3, X3, 12(DX)); \
	VZEROUPPER; \
	RET

// GEMM4V and GEMV4V are GEMM4 and GEMV4 for the VBMI unpacks.
#define GEMM4V(UNPACK, VCONSTS, WSTEP) \
	MOVQ   w+0(FP), SI; \
	MOVQ   x+8(FP), DI; \
	MOVQ   xstride+16(FP), R11; \
	LEAQ   (R11)(R11*2), R12; \
	MOVQ   nb2+24(FP), CX; \
	MOVQ   res+32(FP), DX; \
	CONSTS; \
	VCONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z3, Z3, Z3; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	UNPACK(SI, Z4, Z5, Y5, Z8); \
	ROW(0(DI), 64(DI), 128(DI), Z4, Z5, Z0, Z10, Z11); \
	ROW(0(DI)(R11*1), 64(DI)(R11*1), 128(DI)(R11*1), Z4, Z5, Z2, Z12, Z13); \
	ROW(0(DI)(R11*2), 64(DI)(R11*2), 128(DI)(R11*2), Z4, Z5, Z15, Z18, Z19); \
	ROW(0(DI)(R12*1), 64(DI)(R12*1), 128(DI)(R12*1), Z4, Z5, Z3, Z16, Z17); \
	ADDQ   $WSTEP, SI; \
	ADDQ   $192, DI; \
	DECQ   CX; \
	JNZ    loop; \
done: \
	RED16(Z0, Y0, X0, 0(DX)); \
	RED16(Z2, Y2, X2, 4(DX)); \
	RED16(Z15, Y15, X15, 8(DX)); \
	RED16(Z3, Y3, X3, 12(DX)); \
	VZEROUPPER; \
	RET

#define GEMV4V(UNPACK, VCONSTS, WSTEP) \
	MOVQ   w+0(FP), SI; \
	MOVQ   wstride+8(FP), R11; \
	LEAQ   (SI)(R11*1), R8; \
	LEAQ   (R8)(R11*1), R9; \
	LEAQ   (R9)(R11*1), R10; \
	MOVQ   x+16(FP), DI; \
	MOVQ   nb2+24(FP), CX; \
	MOVQ   res+32(FP), DX; \
	CONSTS; \
	VCONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z3, Z3, Z3; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	VMOVDQU32 0(DI), Z24; \
	VMOVDQU32 64(DI), Z25; \
	VMOVUPS   128(DI), Z26; \
	UNPACK(SI, Z4, Z5, Y5, Z8); \
	UNPACK(R8, Z6, Z7, Y7, Z9); \
	ROW(Z24, Z25, Z26, Z4, Z5, Z0, Z10, Z11); \
	ROW(Z24, Z25, Z26, Z6, Z7, Z2, Z12, Z13); \
	UNPACK(R9, Z4, Z5, Y5, Z8); \
	UNPACK(R10, Z6, Z7, Y7, Z9); \
	ROW(Z24, Z25, Z26, Z4, Z5, Z15, Z18, Z19); \
	ROW(Z24, Z25, Z26, Z6, Z7, Z3, Z16, Z17); \
	ADDQ   $WSTEP, SI; \
	ADDQ   $WSTEP, R8; \
	ADDQ   $WSTEP, R9; \
	ADDQ   $WSTEP, R10; \
	ADDQ   $192, DI; \
	DECQ   CX; \
	JNZ    loop; \
done: \
	RED16(Z0, Y0, X0, 0(DX)); \
	RED16(Z2, Y2, X2, 4(DX)); \
	RED16(Z15, Y15, X15, 8(DX)); \
	RED16(Z3, Y3, X3, 12(DX)); \
	VZEROUPPER; \
	RET

// func gemmQ4_0x4(w, x *byte, xstride, nb2 int, res *[4]float32)
TEXT ·gemmQ4_0x4(SB), NOSPLIT, $0-40
	GEMM4(UNPACK_Q4_0, 36)

// func gemmQ8_0x4(w, x *byte, xstride, nb2 int, res *[4]float32)
TEXT ·gemmQ8_0x4(SB), NOSPLIT, $0-40
	GEMM4(UNPACK_Q8_0, 68)

// func gemvQ4_0x4(w *byte, wstride int, x *byte, nb2 int, res *[4]float32)
TEXT ·gemvQ4_0x4(SB), NOSPLIT, $0-40
	GEMV4(UNPACK_Q4_0, 36)

// func gemvQ8_0x4(w *byte, wstride int, x *byte, nb2 int, res *[4]float32)
TEXT ·gemvQ8_0x4(SB), NOSPLIT, $0-40
	GEMV4(UNPACK_Q8_0, 68)

// func gemmQ4_0x4V(w, x *byte, xstride, nb2 int, res *[4]float32)
TEXT ·gemmQ4_0x4V(SB), NOSPLIT, $0-40
	GEMM4V(UNPACK_Q4_0V, VCONSTS_Q4, 36)

// func gemmQ8_0x4V(w, x *byte, xstride, nb2 int, res *[4]float32)
TEXT ·gemmQ8_0x4V(SB), NOSPLIT, $0-40
	GEMM4V(UNPACK_Q8_0V, VCONSTS_Q8, 68)

// func gemvQ4_0x4V(w *byte, wstride int, x *byte, nb2 int, res *[4]float32)
TEXT ·gemvQ4_0x4V(SB), NOSPLIT, $0-40
	GEMV4V(UNPACK_Q4_0V, VCONSTS_Q4, 36)

// func gemvQ8_0x4V(w *byte, wstride int, x *byte, nb2 int, res *[4]float32)
TEXT ·gemvQ8_0x4V(SB), NOSPLIT, $0-40
	GEMV4V(UNPACK_Q8_0V, VCONSTS_Q8, 68)

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

// func f16Gemv4(w *byte, wstride int, x *float32, n16 int, res *[4]float32)
// Four f16 weight rows (wstride bytes apart) times one activation row: four
// independent FMA chains hide the FMA latency that bounds f16DotZ.
TEXT ·f16Gemv4(SB), NOSPLIT, $0-40
	MOVQ   w+0(FP), SI
	MOVQ   wstride+8(FP), R8
	LEAQ   (R8)(R8*2), R9
	MOVQ   x+16(FP), DI
	MOVQ   n16+24(FP), CX
	MOVQ   res+32(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	TESTQ  CX, CX
	JLE    vdone

vloop:
	VMOVUPS     0(DI), Z10
	VCVTPH2PS   0(SI), Z5
	VCVTPH2PS   0(SI)(R8*1), Z6
	VCVTPH2PS   0(SI)(R8*2), Z7
	VCVTPH2PS   0(SI)(R9*1), Z8
	VFMADD231PS Z10, Z5, Z0
	VFMADD231PS Z10, Z6, Z2
	VFMADD231PS Z10, Z7, Z3
	VFMADD231PS Z10, Z8, Z4
	ADDQ        $32, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         vloop

vdone:
	RED16(Z0, Y0, X0, 0(DX))
	RED16(Z2, Y2, X2, 4(DX))
	RED16(Z3, Y3, X3, 8(DX))
	RED16(Z4, Y4, X4, 12(DX))
	VZEROUPPER
	RET
