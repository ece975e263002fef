#include "textflag.h"

// func geluF16Row16(v *float32, n int, t *float32)
//
// 16 values at a time: f16(x) by VCVTPS2PH (rounding immediate 0: to
// nearest even), its 16 bit patterns widened to dword indices, the table
// entries gathered, then x where x >= 10 and 0 where x <= -10 (the
// ordered compares LE_OS/GE_OS are false for NaN, as C's <= and >= are).
TEXT ·geluF16Row16(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), R8
	MOVL $0xc1200000, AX // -10.0
	VPBROADCASTD AX, Z30
	MOVL $0x41200000, AX // 10.0
	VPBROADCASTD AX, Z31
	VPXORD Z29, Z29, Z29
	SHRQ $4, CX
loop:
	VMOVUPS (DI), Z0
	VCVTPS2PH $0, Z0, Y1
	VPMOVZXWD Y1, Z1
	KXNORW K1, K1, K1
	VGATHERDPS (R8)(Z1*4), K1, Z2
	VCMPPS $0x0d, Z31, Z0, K3 // x >= 10
	VCMPPS $0x02, Z30, Z0, K2 // x <= -10
	VBLENDMPS Z0, Z2, K3, Z2
	VBLENDMPS Z29, Z2, K2, Z2
	VMOVUPS Z2, (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET

// func geluF16Row8(v *float32, n int, t *float32)
//
// geluF16Row16 in AVX2 for CPUs without AVX-512: 8 values at a time, the
// gather under an all-ones vector mask (which it clears), the clamps by
// VCMPPS masks (GE_OS, LE_OS: false for NaN) and a blend.
TEXT ·geluF16Row8(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), R8
	MOVL $0xc1200000, AX // -10.0
	VMOVD AX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x41200000, AX // 10.0
	VMOVD AX, X15
	VBROADCASTSS X15, Y15
	SHRQ $3, CX
loop8:
	VMOVUPS (DI), Y0
	VCVTPS2PH $0, Y0, X1
	VPMOVZXWD X1, Y1
	VPCMPEQD Y3, Y3, Y3
	VGATHERDPS Y3, (R8)(Y1*4), Y2
	VCMPPS $0x0d, Y15, Y0, Y4 // x >= 10
	VCMPPS $0x02, Y14, Y0, Y5 // x <= -10
	VBLENDVPS Y4, Y0, Y2, Y2
	VANDNPS Y2, Y5, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ loop8
	VZEROUPPER
	RET
