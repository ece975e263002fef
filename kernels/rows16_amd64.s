#include "textflag.h"

// Kernels on Rows16 groups (rows16.go has the layout, the reasoning and the
// pure-Go twins, which these equal bit for bit). AVX-512 F/BW/VL + VNNI.

// R16CONSTS: Z29 = 0x0F bytes, Z28 = 0x80 bytes.
#define R16CONSTS \
	MOVL         $0x0F0F0F0F, AX; \
	VPBROADCASTD AX, Z29; \
	MOVL         $0x80808080, AX; \
	VPBROADCASTD AX, Z28

// GEMV_R16 runs nb tiles of TILE bytes: per tile Z20 = the 16 rows' d_w·d_x
// (VCVTPH2PS of the tile's f16 d, times the activation block's d_x), BODY
// leaves the 16 exact block sums in Z8 (two independent VPDPBUSD chains,
// Z8 from the bias and Z9 from zero, added), then Z31 = fma(float(Z8),
// Z20, Z31). The group is one linear stream; PFS prefetches every cache
// line of the tile ahead (PF4/PF8 below).
#define GEMV_R16(BODY, TILE, PFS) \
	MOVQ   w+0(FP), SI; \
	MOVQ   x+8(FP), DI; \
	MOVQ   nb+16(FP), CX; \
	MOVQ   out+24(FP), DX; \
	R16CONSTS; \
	VPXORD Z31, Z31, Z31; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	PFS; \
	VCVTPH2PS     0(SI), Z20; \
	VMULPS.BCST   36(DI), Z20, Z20; \
	VPBROADCASTD  32(DI), Z8; \
	VPXORD        Z9, Z9, Z9; \
	BODY; \
	VPADDD        Z9, Z8, Z8; \
	VCVTDQ2PS     Z8, Z8; \
	VFMADD231PS   Z20, Z8, Z31; \
	ADDQ          $TILE, SI; \
	ADDQ          $40, DI; \
	DECQ          CX; \
	JNZ           loop; \
done: \
	VMOVUPS Z31, 0(DX); \
	VZEROUPPER; \
	RET

// q4_0: chunk c's low nibbles against activation bytes 4c.., its high
// nibbles against 16+4c...
#define NIBDOT(OFF, XOFF, ZL, ZH) \
	VMOVDQU64     OFF(SI), ZL; \
	VPSRLW        $4, ZL, ZH; \
	VPANDD        Z29, ZL, ZL; \
	VPANDD        Z29, ZH, ZH; \
	VPDPBUSD.BCST XOFF(DI), ZL, Z8; \
	VPDPBUSD.BCST 16+XOFF(DI), ZH, Z9

#define BODY_R16_Q4_0 \
	NIBDOT(32, 0, Z0, Z4); \
	NIBDOT(96, 4, Z1, Z5); \
	NIBDOT(160, 8, Z2, Z6); \
	NIBDOT(224, 12, Z3, Z7)

// q8_0: chunk c (u = q xor 0x80) against activation bytes 4c...
#define XORDOT(OFF, XOFF, Z, ACC) \
	VPXORD        OFF(SI), Z28, Z; \
	VPDPBUSD.BCST XOFF(DI), Z, ACC

#define BODY_R16_Q8_0 \
	XORDOT(32, 0, Z0, Z8); \
	XORDOT(96, 4, Z1, Z9); \
	XORDOT(160, 8, Z2, Z8); \
	XORDOT(224, 12, Z3, Z9); \
	XORDOT(288, 16, Z4, Z8); \
	XORDOT(352, 20, Z5, Z9); \
	XORDOT(416, 24, Z6, Z8); \
	XORDOT(480, 28, Z7, Z9)

// DEC_R16 decodes nb tiles of TILE bytes into the gemm16 slice layout
// (576 bytes per block: 8 slices of 64 bytes, then the 16 d_w as float32).
#define DEC_R16(BODY, TILE) \
	MOVQ   w+0(FP), SI; \
	MOVQ   nb+16(FP), CX; \
	MOVQ   dst+24(FP), DI; \
	R16CONSTS; \
	TESTQ  CX, CX; \
	JLE    done; \
loop: \
	BODY; \
	VCVTPH2PS 0(SI), Z12; \
	VMOVUPS   Z12, 512(DI); \
	ADDQ      $TILE, SI; \
	ADDQ      $576, DI; \
	DECQ      CX; \
	JNZ       loop; \
done: \
	VZEROUPPER; \
	RET

#define NIBDEC(OFF, SOFF) \
	VMOVDQU64 OFF(SI), Z0; \
	VPSRLW    $4, Z0, Z1; \
	VPANDD    Z29, Z0, Z0; \
	VPANDD    Z29, Z1, Z1; \
	VMOVDQU64 Z0, SOFF(DI); \
	VMOVDQU64 Z1, 256+SOFF(DI)

#define DECBODY_Q4_0 \
	NIBDEC(32, 0); \
	NIBDEC(96, 64); \
	NIBDEC(160, 128); \
	NIBDEC(224, 192)

#define XORDEC(OFF) \
	VPXORD    32+OFF(SI), Z28, Z0; \
	VMOVDQU64 Z0, OFF(DI)

#define DECBODY_Q8_0 \
	XORDEC(0); \
	XORDEC(64); \
	XORDEC(128); \
	XORDEC(192); \
	XORDEC(256); \
	XORDEC(320); \
	XORDEC(384); \
	XORDEC(448)

// func decR16Q4_0(w *byte, wstride, nb int, dst *byte)
TEXT ·decR16Q4_0(SB), NOSPLIT, $0-32
	DEC_R16(DECBODY_Q4_0, 288)

// func decR16Q8_0(w *byte, wstride, nb int, dst *byte)
TEXT ·decR16Q8_0(SB), NOSPLIT, $0-32
	DEC_R16(DECBODY_Q8_0, 544)

// PF4/PF8: the prefetches of one q4_0 (4.5 lines) / q8_0 (8.5 lines) tile:
// every line ~4.5 KB ahead into L1 (T0) and ~9 KB ahead into L2 (T2).
// BenchmarkRows16Layers q4_0, medians of 4 alternating runs: T0 alone at
// 2.3 KB 10.7 GB/s on one thread, 19.5 on two; with the T2 9 KB ahead
// 12.9 and 24.0 (plain vector reads: 14.5 and 27.8); T1 instead of T0 or
// other distances were no better. The far T2 stream seems to keep more
// misses in flight than the L2 streamer alone does.
#define PF4 PREFETCHT0 4608(SI); PREFETCHT0 4672(SI); PREFETCHT0 4736(SI); PREFETCHT0 4800(SI); PREFETCHT0 4864(SI); PREFETCHT2 9216(SI); PREFETCHT2 9280(SI); PREFETCHT2 9344(SI); PREFETCHT2 9408(SI); PREFETCHT2 9472(SI)
#define PF8 PREFETCHT0 4352(SI); PREFETCHT0 4416(SI); PREFETCHT0 4480(SI); PREFETCHT0 4544(SI); PREFETCHT0 4608(SI); PREFETCHT0 4672(SI); PREFETCHT0 4736(SI); PREFETCHT0 4800(SI); PREFETCHT0 4864(SI); PREFETCHT2 8704(SI); PREFETCHT2 8768(SI); PREFETCHT2 8832(SI); PREFETCHT2 8896(SI); PREFETCHT2 8960(SI); PREFETCHT2 9024(SI); PREFETCHT2 9088(SI); PREFETCHT2 9152(SI); PREFETCHT2 9216(SI)

// func gemvR16Q4_0(w, x *byte, nb int, out *float32)
TEXT ·gemvR16Q4_0(SB), NOSPLIT, $0-32
	GEMV_R16(BODY_R16_Q4_0, 288, PF4)

// func gemvR16Q8_0(w, x *byte, nb int, out *float32)
TEXT ·gemvR16Q8_0(SB), NOSPLIT, $0-32
	GEMV_R16(BODY_R16_Q8_0, 544, PF8)

// NOPF: no software prefetch, the stream left to the hardware prefetchers
// (stream_amd64.go says where that is faster).
#define NOPF

// func gemvR16Q4_0HW(w, x *byte, nb int, out *float32)
TEXT ·gemvR16Q4_0HW(SB), NOSPLIT, $0-32
	GEMV_R16(BODY_R16_Q4_0, 288, NOPF)

// func gemvR16Q8_0HW(w, x *byte, nb int, out *float32)
TEXT ·gemvR16Q8_0HW(SB), NOSPLIT, $0-32
	GEMV_R16(BODY_R16_Q8_0, 544, NOPF)
