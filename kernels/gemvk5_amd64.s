#include "textflag.h"
#include "ksc_amd64.h"

// AVX-512 VNNI q5_K gemv: q4_KGemv4 (gemvk_amd64.s) for q5_K blocks (d,
// dmin, the same 12 scale bytes, qh[32], qs[128]: 176 bytes). The quants
// are the nibbles plus a fifth bit from qh (bit 2c of qh[i] for element
// 64c+i, bit 2c+1 for element 64c+32+i: dequantize_row_q5_K's order), u =
// 0..31, so VPMADDUBSW's pairs stay below 2*31*127 < 2^15. Integer sums
// and dotK's float steps are q4_KGemv4's, so res[r] equals dotK of row r
// bit for bit.

// K5CHUNK: elements 64c..64c+63 of row R times the activations,
// scale-weighted into ACC: the nibbles of qs bytes 32c.. (low: elements
// 64c..64c+31, high: 64c+32..) ORed with the qh bits shifted to bit 4.
// Z2: the row's 8 scales as words; IDX: VPERMW index [2c x16 | 2c+1 x16];
// Z29: 0x0F bytes; Z30: 0x01 bytes; K1: the upper 16 words.
#define K5CHUNK(R, c, IDX, ACC) \
	VBROADCASTI64X4 48+32*c(R), Z3; \
	VPSRLW          $4, Z3, K1, Z3; \
	VPANDD          Z29, Z3, Z3; \
	VBROADCASTI64X4 16(R), Z5; \
	VPSRLW          $(2*c), Z5, Z5; \
	VPSRLW          $1, Z5, K1, Z5; \
	VPANDD          Z30, Z5, Z5; \
	VPSLLW          $4, Z5, Z5; \
	VPORD           Z5, Z3, Z3; \
	VPMADDUBSW      4+64*c(DI), Z3, Z3; \
	VPERMW          Z2, IDX, Z4; \
	VPDPWSSD        Z4, Z3, ACC

// K5ROW: one row's super-block: isum lanes into ACC (zeroed here), the
// 4 imin partials into XM (KROW of gemvk_amd64.s).
#define K5ROW(R, ACC, XM) \
	KSC(R); \
	VMOVQ     AX, X2; \
	VPMOVZXBW Y2, Z2; \
	VPXORD    ACC, ACC, ACC; \
	K5CHUNK(R, 0, Z24, ACC); \
	K5CHUNK(R, 1, Z25, ACC); \
	K5CHUNK(R, 2, Z26, ACC); \
	K5CHUNK(R, 3, Z27, ACC); \
	VMOVQ     R13, XM; \
	VPMOVZXBW XM, XM; \
	VPMADDWD  X8, XM, XM

// func q5_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32)
TEXT ·q5_KGemv4(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R11
	LEAQ (SI)(R11*1), R8
	LEAQ (R8)(R11*1), R9
	LEAQ (R9)(R11*1), R10
	LEAQ (R10)(R11*1), R14 // linear prefetch through the next 4 rows (see gemm_amd64.s GEMV4)
	MOVQ x+16(FP), DI
	MOVQ nb+24(FP), CX
	MOVL         $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x01010101, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x00010001, AX
	VPBROADCASTD AX, Y13
	MOVL         $0xFFFF0000, AX
	KMOVD        AX, K1
	MOVL         $0, AX
	VPBROADCASTW AX, Z24
	MOVL         $1, AX
	VPBROADCASTW AX, K1, Z24
	MOVL         $2, AX
	VPBROADCASTW AX, Z25
	MOVL         $3, AX
	VPBROADCASTW AX, K1, Z25
	MOVL         $4, AX
	VPBROADCASTW AX, Z26
	MOVL         $5, AX
	VPBROADCASTW AX, K1, Z26
	MOVL         $6, AX
	VPBROADCASTW AX, Z27
	MOVL         $7, AX
	VPBROADCASTW AX, K1, Z27
	VXORPS       X15, X15, X15
	TESTQ        CX, CX
	JLE          k5done

k5loop:
	// bsums[2j] + bsums[2j+1] as 8 words (|sum| <= 2*16*127 fits).
	VMOVDQU  260(DI), Y8
	VPMADDWD Y13, Y8, Y8
	VPMOVDW  Y8, X8

	PREFETCHT0 0(R14)
	PREFETCHT0 64(R14)
	PREFETCHT0 128(R14)
	PREFETCHT0 192(R14)
	PREFETCHT0 256(R14)
	PREFETCHT0 320(R14)
	PREFETCHT0 384(R14)
	PREFETCHT0 448(R14)
	PREFETCHT0 512(R14)
	PREFETCHT0 576(R14)
	PREFETCHT0 640(R14)
	ADDQ       $704, R14
	K5ROW(SI, Z16, X9)
	K5ROW(R8, Z17, X10)
	K5ROW(R9, Z18, X11)
	K5ROW(R10, Z19, X12)

	// isum of the 4 rows into lanes 0..3 of X0 (VPHADDD: registers < 16).
	VEXTRACTI64X4 $1, Z16, Y5
	VPADDD        Y5, Y16, Y0
	VEXTRACTI64X4 $1, Z17, Y5
	VPADDD        Y5, Y17, Y1
	VEXTRACTI64X4 $1, Z18, Y5
	VPADDD        Y5, Y18, Y2
	VEXTRACTI64X4 $1, Z19, Y5
	VPADDD        Y5, Y19, Y3
	VPHADDD       Y1, Y0, Y0
	VPHADDD       Y3, Y2, Y2
	VPHADDD       Y2, Y0, Y0
	VEXTRACTI128  $1, Y0, X5
	VPADDD        X5, X0, X0

	// imin of the 4 rows into lanes 0..3 of X9.
	VPHADDD X10, X9, X9
	VPHADDD X12, X11, X11
	VPHADDD X11, X9, X9

	// d_w, dmin_w of the 4 rows times d_x; dd in X6, dm in X7.
	MOVL         0(SI), AX
	MOVL         0(R8), BX
	SHLQ         $32, BX
	ORQ          BX, AX
	MOVL         0(R9), BX
	MOVL         0(R10), DX
	SHLQ         $32, DX
	ORQ          DX, BX
	VMOVQ        AX, X6
	VPINSRQ      $1, BX, X6, X6
	VCVTPH2PS    X6, Y6
	VBROADCASTSS 0(DI), Y5
	VMULPS       Y5, Y6, Y6
	VEXTRACTF128 $1, Y6, X5
	VSHUFPS      $0xDD, X5, X6, X7
	VSHUFPS      $0x88, X5, X6, X6

	VCVTDQ2PS X0, X0
	VMULPS    X6, X0, X0
	VADDPS    X0, X15, X15
	VCVTDQ2PS X9, X9
	VMULPS    X7, X9, X9
	VSUBPS    X9, X15, X15

	ADDQ $176, SI
	ADDQ $176, R8
	ADDQ $176, R9
	ADDQ $176, R10
	ADDQ $292, DI
	DECQ CX
	JNZ  k5loop

k5done:
	MOVQ    res+32(FP), DX
	VMOVUPS X15, 0(DX)
	VZEROUPPER
	RET
