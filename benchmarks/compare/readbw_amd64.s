#include "textflag.h"

// Read-bandwidth loops (bandwidth.go explains the measurement): add every
// 64-bit word of the buffer into four independent vector accumulators,
// the loads folded into VPADDQ, so that the loop issues loads as fast as
// the core can and the memory system, not the arithmetic, sets the pace.
// The *PF variants also prefetch 2 KiB ahead (as the kernels' gemv loops
// prefetch their next rows): on some hosts that keeps more lines in flight
// than the hardware prefetcher alone, on others it only costs load slots,
// so ReadBandwidth tries both. The result is the wrapping sum of all
// words (sumGo recomputes it exactly), which keeps the loads alive.

#define PF256 \
	PREFETCHT0 2048(SI); \
	PREFETCHT0 2112(SI); \
	PREFETCHT0 2176(SI); \
	PREFETCHT0 2240(SI)

#define PF512 \
	PF256; \
	PREFETCHT0 2304(SI); \
	PREFETCHT0 2368(SI); \
	PREFETCHT0 2432(SI); \
	PREFETCHT0 2496(SI)

#define NOPF

// SUM256 sums p[:n], n a multiple of 256, with 32-byte loads.
#define SUM256(PF) \
	MOVQ  p+0(FP), SI; \
	MOVQ  n+8(FP), CX; \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3; \
	SHRQ  $8, CX; \
	JZ    done; \
loop: \
	PF; \
	VPADDQ 0(SI), Y0, Y0; \
	VPADDQ 32(SI), Y1, Y1; \
	VPADDQ 64(SI), Y2, Y2; \
	VPADDQ 96(SI), Y3, Y3; \
	VPADDQ 128(SI), Y0, Y0; \
	VPADDQ 160(SI), Y1, Y1; \
	VPADDQ 192(SI), Y2, Y2; \
	VPADDQ 224(SI), Y3, Y3; \
	ADDQ   $256, SI; \
	DECQ   CX; \
	JNZ    loop; \
done: \
	VPADDQ       Y1, Y0, Y0; \
	VPADDQ       Y3, Y2, Y2; \
	VPADDQ       Y2, Y0, Y0; \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDQ       X1, X0, X0; \
	VPSHUFD      $0x4E, X0, X1; \
	VPADDQ       X1, X0, X0; \
	VMOVQ        X0, AX; \
	MOVQ         AX, ret+16(FP); \
	VZEROUPPER; \
	RET

// SUM512 sums p[:n], n a multiple of 512, with 64-byte loads.
#define SUM512(PF) \
	MOVQ   p+0(FP), SI; \
	MOVQ   n+8(FP), CX; \
	VPXORQ Z0, Z0, Z0; \
	VPXORQ Z1, Z1, Z1; \
	VPXORQ Z2, Z2, Z2; \
	VPXORQ Z3, Z3, Z3; \
	SHRQ   $9, CX; \
	JZ     done; \
loop: \
	PF; \
	VPADDQ 0(SI), Z0, Z0; \
	VPADDQ 64(SI), Z1, Z1; \
	VPADDQ 128(SI), Z2, Z2; \
	VPADDQ 192(SI), Z3, Z3; \
	VPADDQ 256(SI), Z0, Z0; \
	VPADDQ 320(SI), Z1, Z1; \
	VPADDQ 384(SI), Z2, Z2; \
	VPADDQ 448(SI), Z3, Z3; \
	ADDQ   $512, SI; \
	DECQ   CX; \
	JNZ    loop; \
done: \
	VPADDQ        Z1, Z0, Z0; \
	VPADDQ        Z3, Z2, Z2; \
	VPADDQ        Z2, Z0, Z0; \
	VEXTRACTI64X4 $1, Z0, Y1; \
	VPADDQ        Y1, Y0, Y0; \
	VEXTRACTI128  $1, Y0, X1; \
	VPADDQ        X1, X0, X0; \
	VPSHUFD       $0x4E, X0, X1; \
	VPADDQ        X1, X0, X0; \
	VMOVQ         X0, AX; \
	MOVQ          AX, ret+16(FP); \
	VZEROUPPER; \
	RET

// func sumAVX2(p *byte, n int) uint64
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	SUM256(NOPF)

// func sumAVX2PF(p *byte, n int) uint64
TEXT ·sumAVX2PF(SB), NOSPLIT, $0-24
	SUM256(PF256)

// func sumAVX512(p *byte, n int) uint64
TEXT ·sumAVX512(SB), NOSPLIT, $0-24
	SUM512(NOPF)

// func sumAVX512PF(p *byte, n int) uint64
TEXT ·sumAVX512PF(SB), NOSPLIT, $0-24
	SUM512(PF512)
