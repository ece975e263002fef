#include "textflag.h"

// AVX2 k-quant dot products. Per super-block they compute dot.go's exact
// integer sums (isum, and imin for q4_K) with VPMADDUBSW/VPMADDWD, then do the
// float part with scalar SSE in dotK's order:
//   acc += float32(isum)*float32(d_w*d_x); acc -= float32(imin)*float32(dmin_w*d_x).

// Word-broadcast shuffles: k4shuf+32j broadcasts int16 j of a 128-bit lane;
// k6shuf+32i puts int16 2i in the low lane and 2i+1 in the high lane.
DATA k4shuf<>+0(SB)/8, $0x0100010001000100
DATA k4shuf<>+8(SB)/8, $0x0100010001000100
DATA k4shuf<>+16(SB)/8, $0x0100010001000100
DATA k4shuf<>+24(SB)/8, $0x0100010001000100
DATA k4shuf<>+32(SB)/8, $0x0302030203020302
DATA k4shuf<>+40(SB)/8, $0x0302030203020302
DATA k4shuf<>+48(SB)/8, $0x0302030203020302
DATA k4shuf<>+56(SB)/8, $0x0302030203020302
DATA k4shuf<>+64(SB)/8, $0x0504050405040504
DATA k4shuf<>+72(SB)/8, $0x0504050405040504
DATA k4shuf<>+80(SB)/8, $0x0504050405040504
DATA k4shuf<>+88(SB)/8, $0x0504050405040504
DATA k4shuf<>+96(SB)/8, $0x0706070607060706
DATA k4shuf<>+104(SB)/8, $0x0706070607060706
DATA k4shuf<>+112(SB)/8, $0x0706070607060706
DATA k4shuf<>+120(SB)/8, $0x0706070607060706
DATA k4shuf<>+128(SB)/8, $0x0908090809080908
DATA k4shuf<>+136(SB)/8, $0x0908090809080908
DATA k4shuf<>+144(SB)/8, $0x0908090809080908
DATA k4shuf<>+152(SB)/8, $0x0908090809080908
DATA k4shuf<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4shuf<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4shuf<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4shuf<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4shuf<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4shuf<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4shuf<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4shuf<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4shuf<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4shuf<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4shuf<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4shuf<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL k4shuf<>(SB), RODATA|NOPTR, $256
DATA k6shuf<>+0(SB)/8, $0x0100010001000100
DATA k6shuf<>+8(SB)/8, $0x0100010001000100
DATA k6shuf<>+16(SB)/8, $0x0302030203020302
DATA k6shuf<>+24(SB)/8, $0x0302030203020302
DATA k6shuf<>+32(SB)/8, $0x0504050405040504
DATA k6shuf<>+40(SB)/8, $0x0504050405040504
DATA k6shuf<>+48(SB)/8, $0x0706070607060706
DATA k6shuf<>+56(SB)/8, $0x0706070607060706
DATA k6shuf<>+64(SB)/8, $0x0908090809080908
DATA k6shuf<>+72(SB)/8, $0x0908090809080908
DATA k6shuf<>+80(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k6shuf<>+88(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k6shuf<>+96(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k6shuf<>+104(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k6shuf<>+112(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k6shuf<>+120(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL k6shuf<>(SB), RODATA|NOPTR, $128

// HSUMD reduces the 8 int32 lanes of Y (clobbering X1) into R.
#define HSUMD(Y, X, R) \
	VEXTRACTI128 $1, Y, X1; \
	VPADDD       X1, X, X; \
	VPSHUFD      $0x4E, X, X1; \
	VPADDD       X1, X, X; \
	VPSHUFD      $0xB1, X, X1; \
	VPADDD       X1, X, X; \
	VMOVD        X, R

// Q4K_CHUNK handles 64 elements (qs bytes 32c.., sub-blocks 2c and 2c+1).
#define Q4K_CHUNK(c) \
	VMOVDQU    16+32*c(SI), Y2; \
	VPAND      Y12, Y2, Y3; \
	VPSRLW     $4, Y2, Y2; \
	VPAND      Y12, Y2, Y2; \
	VPMADDUBSW 4+64*c(DI), Y3, Y3; \
	VPMADDUBSW 4+64*c+32(DI), Y2, Y2; \
	VPSHUFB    k4shuf<>+64*c(SB), Y10, Y6; \
	VPMADDWD   Y6, Y3, Y3; \
	VPSHUFB    k4shuf<>+64*c+32(SB), Y10, Y7; \
	VPMADDWD   Y7, Y2, Y2; \
	VPADDD     Y3, Y0, Y0; \
	VPADDD     Y2, Y0, Y0

// K4PF is K6PF for q4_K's 144-byte blocks (three lines each), ~14 and
// ~28 blocks ahead: BenchmarkDecodeVsBandwidth q4_K (GGUF layout) with
// AVX-512 masked, alternating, 3.9-4.6 -> 8.6-9.2 GB/s on one thread,
// 7.1-8.8 -> 17.0-17.4 on two (this VM's read: 7.5-9.5 and 14.5-18.8).
#define K4PF \
	PREFETCHT0 2048(SI); PREFETCHT0 2112(SI); PREFETCHT0 2176(SI); \
	PREFETCHT2 4096(SI); PREFETCHT2 4160(SI); PREFETCHT2 4224(SI)

// func q4_KDotAVX2(w, x *byte, nb int) float32
TEXT ·q4_KDotAVX2(SB), NOSPLIT, $0-28
	MOVQ  w+0(FP), SI
	MOVQ  x+8(FP), DI
	MOVQ  nb+16(FP), CX
	VXORPS X15, X15, X15
	MOVL  $0x0F0F0F0F, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL  $0x00010001, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	TESTQ CX, CX
	JLE   k4done

k4loop:
	K4PF
	// 6-bit scales and mins (ggml's utmp/kmask unpacking of scales[12]).
	MOVL 4(SI), R8  // u0
	MOVL 8(SI), R9  // u1
	MOVL 12(SI), R10 // u2
	MOVL R10, R11
	SHRL $4, R11
	ANDL $0x0f0f0f0f, R11
	MOVL R9, AX
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	ORL  AX, R11 // u3' = mins 4..7
	MOVL R9, R12
	ANDL $0x3f3f3f3f, R12 // u2' = mins 0..3
	MOVL R10, R9
	ANDL $0x0f0f0f0f, R9
	MOVL R8, AX
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	ORL  AX, R9 // u1' = scales 4..7
	ANDL $0x3f3f3f3f, R8 // u0' = scales 0..3
	SHLQ $32, R9
	ORQ  R9, R8 // scales 0..7
	SHLQ $32, R11
	ORQ  R11, R12 // mins 0..7

	VMOVQ     R8, X10
	VPMOVZXBW X10, X10
	VINSERTI128 $1, X10, Y10, Y10

	VPXOR Y0, Y0, Y0
	Q4K_CHUNK(0)
	Q4K_CHUNK(1)
	Q4K_CHUNK(2)
	Q4K_CHUNK(3)
	HSUMD(Y0, X0, BX) // isum

	// imin = sum_j min_j * (bsums[2j] + bsums[2j+1])
	VMOVDQU   260(DI), Y8
	VPMADDWD  Y13, Y8, Y8
	VMOVQ     R12, X9
	VPMOVZXBD X9, Y9
	VPMULLD   Y9, Y8, Y8
	HSUMD(Y8, X8, DX) // imin

	MOVL         0(SI), AX
	VMOVD        AX, X4
	VCVTPH2PS    X4, X4 // d_w, dmin_w
	VBROADCASTSS 0(DI), X5
	VMULPS       X5, X4, X4 // d_w*d_x, dmin_w*d_x
	VCVTSI2SSL   BX, X3, X3
	VMULSS       X4, X3, X3
	VADDSS       X3, X15, X15
	VMOVSHDUP    X4, X5
	VCVTSI2SSL   DX, X3, X3
	VMULSS       X5, X3, X3
	VSUBSS       X3, X15, X15

	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  k4loop

k4done:
	VZEROUPPER
	MOVSS X15, ret+24(FP)
	RET

// Q6K_QUAD multiplies the 32 quants in Q (u = q + 32, 0..63) with the
// activations at yoff and adds scale-weighted int32 sums to Y0; i picks the
// scale pair. Y10 holds the half's 8 scales (int16, both lanes). The bias
// 32 is taken out once per super-block (K6BIAS) instead of per quad, as
// -32·Σ_g sc_g·bsum_g: the same integer.
#define Q6K_QUAD(Q, yoff, i) \
	VPMADDUBSW yoff(DI), Q, Q; \
	VPSHUFB    k6shuf<>+32*i(SB), Y10, Y8; \
	VPMADDWD   Y8, Q, Q; \
	VPADDD     Q, Y0, Y0

// K6BIAS sets Y0 to -32·Σ_g sc_g·bsum_g in 8 int32 lanes: the 16 group
// scales widened to int16 against the q8_K row's 16 bsums.
#define K6BIAS \
	VPMOVSXBW 192(SI), Y13; \
	VPMADDWD  260(DI), Y13, Y13; \
	VPSLLD    $5, Y13, Y13; \
	VPXOR     Y0, Y0, Y0; \
	VPSUBD    Y13, Y0, Y0

// Q6K_HALF handles elements 128h..128h+127: from ql chunks A, B and qh
// chunk H, u = A&15 | (H&3)<<4, B&15 | (H>>2&3)<<4, A>>4 | (H>>4&3)<<4 and
// B>>4 | (H>>6&3)<<4 (dequantize_row_q6_K), each high part shifted (as
// words) straight onto bits 4-5 and masked there (Y14 = 0x30, Y12 = 0x0F).
#define Q6K_HALF(h) \
	VPMOVSXBW   192+8*h(SI), X10; \
	VINSERTI128 $1, X10, Y10, Y10; \
	VMOVDQU     64*h(SI), Y2; \
	VMOVDQU     64*h+32(SI), Y3; \
	VMOVDQU     128+32*h(SI), Y4; \
	VPAND       Y12, Y2, Y6; \
	VPSLLW      $4, Y4, Y5; \
	VPAND       Y14, Y5, Y5; \
	VPOR        Y5, Y6, Y6; \
	VPAND       Y12, Y3, Y7; \
	VPSLLW      $2, Y4, Y5; \
	VPAND       Y14, Y5, Y5; \
	VPOR        Y5, Y7, Y7; \
	VPSRLW      $4, Y2, Y2; \
	VPAND       Y12, Y2, Y2; \
	VPAND       Y14, Y4, Y5; \
	VPOR        Y5, Y2, Y2; \
	VPSRLW      $4, Y3, Y3; \
	VPAND       Y12, Y3, Y3; \
	VPSRLW      $2, Y4, Y5; \
	VPAND       Y14, Y5, Y5; \
	VPOR        Y5, Y3, Y3; \
	Q6K_QUAD(Y6, 4+128*h, 0); \
	Q6K_QUAD(Y7, 4+128*h+32, 1); \
	Q6K_QUAD(Y2, 4+128*h+64, 2); \
	Q6K_QUAD(Y3, 4+128*h+96, 3)

// K6PF prefetches the q6_K row ~10 super-blocks ahead into L1 and ~20
// into L2: the kernel runs at ~23 GB/s on blocks in L2, yet streamed from
// memory it read at 0.7 of a plain read's rate, the loads not overlapping
// the arithmetic. BenchmarkDecodeVsBandwidth q6_K with AVX-512 masked,
// alternating variants (GB/s at 1/2 threads, this VM's read 8-11/15-22
// that day): none 5.5-7.0/9.5-12.1, T0 at 0.5 KB 8.2-9.4/15.5-18.0, T0
// at 1 KB 7.5/14.0, T0 2 KB + T2 4 KB 10.5-11.3/19.9-21.2 (kept), T0 1 KB
// + T2 2 or 4 KB, T0 2 KB + T2 8 KB, T0 4 KB + T2 8 KB, T2 alone: less or
// level. Four lines per 210-byte block keep up with the stream.
#define K6PF \
	PREFETCHT0 2048(SI); PREFETCHT0 2112(SI); PREFETCHT0 2176(SI); PREFETCHT0 2240(SI); \
	PREFETCHT2 4096(SI); PREFETCHT2 4160(SI); PREFETCHT2 4224(SI); PREFETCHT2 4288(SI)

// func q6_KDotAVX2(w, x *byte, nb int) float32
TEXT ·q6_KDotAVX2(SB), NOSPLIT, $0-28
	MOVQ  w+0(FP), SI
	MOVQ  x+8(FP), DI
	MOVQ  nb+16(FP), CX
	VXORPS X15, X15, X15
	MOVL  $0x0F0F0F0F, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL  $0x30303030, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JLE   k6done

k6loop:
	K6PF
	K6BIAS
	Q6K_HALF(0)
	Q6K_HALF(1)
	HSUMD(Y0, X0, BX)

	MOVWLZX    208(SI), AX
	VMOVD      AX, X4
	VCVTPH2PS  X4, X4
	VMULSS     0(DI), X4, X4
	VCVTSI2SSL BX, X3, X3
	VMULSS     X4, X3, X3
	VADDSS     X3, X15, X15

	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  k6loop

k6done:
	VZEROUPPER
	MOVSS X15, ret+24(FP)
	RET
