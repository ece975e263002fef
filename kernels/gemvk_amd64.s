#include "textflag.h"
#include "ksc_amd64.h"

// AVX-512 VNNI q4_K gemv: 4 weight rows (w + r*wstride) times one q8_K
// activation row over nb super-blocks. Per row and super-block the integer
// sums are dot.go's dotK (exact): isum = sum_j sc_j * sum(q*x over
// sub-block j), imin = sum_j min_j * (bsums[2j] + bsums[2j+1]); the nibbles
// go through VPMADDUBSW (pairs, no saturation: 2*15*127 < 2^15) and
// VPDPWSSD against the sub-block scales. The float part of the 4 rows runs
// in the 4 lanes of X15 with dotK's roundings and order:
// acc += float32(isum)*float32(d_w*d_x); acc -= float32(imin)*float32(dmin_w*d_x).

// k6idx: 4 VPERMW indexes for q6_K, one per 64-element chunk (half h, part
// p = 2h+p): word w of the VPMADDUBSW pairs belongs to scale group
// 8h + 4p + w/8.
DATA k6idx<>+0(SB)/8, $0x0000000000000000
DATA k6idx<>+8(SB)/8, $0x0000000000000000
DATA k6idx<>+16(SB)/8, $0x0001000100010001
DATA k6idx<>+24(SB)/8, $0x0001000100010001
DATA k6idx<>+32(SB)/8, $0x0002000200020002
DATA k6idx<>+40(SB)/8, $0x0002000200020002
DATA k6idx<>+48(SB)/8, $0x0003000300030003
DATA k6idx<>+56(SB)/8, $0x0003000300030003
DATA k6idx<>+64(SB)/8, $0x0004000400040004
DATA k6idx<>+72(SB)/8, $0x0004000400040004
DATA k6idx<>+80(SB)/8, $0x0005000500050005
DATA k6idx<>+88(SB)/8, $0x0005000500050005
DATA k6idx<>+96(SB)/8, $0x0006000600060006
DATA k6idx<>+104(SB)/8, $0x0006000600060006
DATA k6idx<>+112(SB)/8, $0x0007000700070007
DATA k6idx<>+120(SB)/8, $0x0007000700070007
DATA k6idx<>+128(SB)/8, $0x0008000800080008
DATA k6idx<>+136(SB)/8, $0x0008000800080008
DATA k6idx<>+144(SB)/8, $0x0009000900090009
DATA k6idx<>+152(SB)/8, $0x0009000900090009
DATA k6idx<>+160(SB)/8, $0x000a000a000a000a
DATA k6idx<>+168(SB)/8, $0x000a000a000a000a
DATA k6idx<>+176(SB)/8, $0x000b000b000b000b
DATA k6idx<>+184(SB)/8, $0x000b000b000b000b
DATA k6idx<>+192(SB)/8, $0x000c000c000c000c
DATA k6idx<>+200(SB)/8, $0x000c000c000c000c
DATA k6idx<>+208(SB)/8, $0x000d000d000d000d
DATA k6idx<>+216(SB)/8, $0x000d000d000d000d
DATA k6idx<>+224(SB)/8, $0x000e000e000e000e
DATA k6idx<>+232(SB)/8, $0x000e000e000e000e
DATA k6idx<>+240(SB)/8, $0x000f000f000f000f
DATA k6idx<>+248(SB)/8, $0x000f000f000f000f
GLOBL k6idx<>(SB), RODATA|NOPTR, $256

// K6HALF: elements 128h..128h+127 of row R. Per byte of the broadcast qh
// (upper 256 bits shifted right by 2), bits 0-1 are the high bits of
// chunk a (ql low nibbles: elements 0..63 of the half) and bits 4-5 those
// of chunk b (ql high nibbles: 64..127); u = 6-bit quant (q + 32).
// Z2: the 16 scales as words; Z28: 0x30 bytes.
#define K6HALF(R, h, IA, IB, ACC) \
	VMOVDQU64       64*h(R), Z3; \
	VBROADCASTI64X4 128+32*h(R), Z4; \
	VPSRLW          $2, Z4, K1, Z4; \
	VPSLLW          $4, Z4, Z5; \
	VPANDD          Z28, Z5, Z5; \
	VPANDD          Z28, Z4, Z4; \
	VPSRLW          $4, Z3, Z6; \
	VPTERNLOGD      $0xEC, Z29, Z5, Z3; \
	VPTERNLOGD      $0xEC, Z29, Z4, Z6; \
	VPMADDUBSW      4+128*h(DI), Z3, Z3; \
	VPMADDUBSW      4+128*h+64(DI), Z6, Z6; \
	VPERMW          Z2, IA, Z4; \
	VPDPWSSD        Z4, Z3, ACC; \
	VPERMW          Z2, IB, Z5; \
	VPDPWSSD        Z5, Z6, ACC

// K6ROW: one q6_K row's isum lanes into ACC: scale-weighted sums of u*x,
// plus sum_g (32*sc_g) * (-bsums_g) (Z9) for the -32 of every quant.
#define K6ROW(R, ACC) \
	VPMOVSXBW 192(R), Y2; \
	VPSLLW    $5, Y2, Y7; \
	VPXORD    ACC, ACC, ACC; \
	VPDPWSSD  Z9, Z7, ACC; \
	K6HALF(R, 0, Z24, Z25, ACC); \
	K6HALF(R, 1, Z26, Z27, ACC)


// KCHUNK: elements 64c..64c+63 of row R (qs bytes 32c.., low nibbles =
// sub-block 2c, high = 2c+1) times the activations, scale-weighted into ACC.
// Z2: the row's 8 scales as words; IDX: VPERMW index [2c x16 | 2c+1 x16].
#define KCHUNK(R, c, IDX, ACC) \
	VBROADCASTI64X4 16+32*c(R), Z3; \
	VPSRLW          $4, Z3, K1, Z3; \
	VPANDD          Z29, Z3, Z3; \
	VPMADDUBSW      4+64*c(DI), Z3, Z3; \
	VPERMW          Z2, IDX, Z4; \
	VPDPWSSD        Z4, Z3, ACC

// KROW: one row's super-block: isum lanes into ACC (zeroed here), the
// 4 imin partials into XM.
#define KROW(R, ACC, XM) \
	KSC(R); \
	VMOVQ     AX, X2; \
	VPMOVZXBW Y2, Z2; \
	VPXORD    ACC, ACC, ACC; \
	KCHUNK(R, 0, Z24, ACC); \
	KCHUNK(R, 1, Z25, ACC); \
	KCHUNK(R, 2, Z26, ACC); \
	KCHUNK(R, 3, Z27, ACC); \
	VMOVQ     R13, XM; \
	VPMOVZXBW XM, XM; \
	VPMADDWD  X8, XM, XM

// func q4_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32)
TEXT ·q4_KGemv4(SB), NOSPLIT, $0-40
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
	JLE          done

loop:
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
	ADDQ       $576, R14
	KROW(SI, Z16, X9)
	KROW(R8, Z17, X10)
	KROW(R9, Z18, X11)
	KROW(R10, Z19, X12)

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

	ADDQ $144, SI
	ADDQ $144, R8
	ADDQ $144, R9
	ADDQ $144, R10
	ADDQ $292, DI
	DECQ CX
	JNZ  loop

done:
	MOVQ    res+32(FP), DX
	VMOVUPS X15, 0(DX)
	VZEROUPPER
	RET

// func q6_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32)
// q4_KGemv4 for q6_K: acc += float32(isum)*float32(d_w*d_x) per row lane.
TEXT ·q6_KGemv4(SB), NOSPLIT, $0-40
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
	MOVL         $0x30303030, AX
	VPBROADCASTD AX, Z28
	MOVL         $0xFFFF0000, AX
	KMOVD        AX, K1
	VMOVDQU64    k6idx<>+0(SB), Z24
	VMOVDQU64    k6idx<>+64(SB), Z25
	VMOVDQU64    k6idx<>+128(SB), Z26
	VMOVDQU64    k6idx<>+192(SB), Z27
	VXORPS       X15, X15, X15
	VPXORD       Z8, Z8, Z8
	TESTQ        CX, CX
	JLE          done6

loop6:
	// -bsums as 16 words (upper half of Z9 zero).
	VMOVDQU Y8, Y9
	VPSUBW  260(DI), Y9, Y9

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
	PREFETCHT0 704(R14)
	PREFETCHT0 768(R14)
	PREFETCHT0 832(R14)
	ADDQ       $840, R14
	K6ROW(SI, Z16)
	K6ROW(R8, Z17)
	K6ROW(R9, Z18)
	K6ROW(R10, Z19)

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

	MOVWLZX   208(SI), AX
	MOVWLZX   208(R8), BX
	SHLL      $16, BX
	ORL       BX, AX
	MOVWLZX   208(R9), BX
	MOVWLZX   208(R10), DX
	SHLL      $16, DX
	ORL       DX, BX
	SHLQ      $32, BX
	ORQ       BX, AX
	VMOVQ     AX, X6
	VCVTPH2PS X6, X6
	VBROADCASTSS 0(DI), X5
	VMULPS    X5, X6, X6

	VCVTDQ2PS X0, X0
	VMULPS    X6, X0, X0
	VADDPS    X0, X15, X15

	ADDQ $210, SI
	ADDQ $210, R8
	ADDQ $210, R9
	ADDQ $210, R10
	ADDQ $292, DI
	DECQ CX
	JNZ  loop6

done6:
	MOVQ    res+32(FP), DX
	VMOVUPS X15, 0(DX)
	VZEROUPPER
	RET
