#include "textflag.h"

// Constants of expNegAbsGo (elementwise.go), four copies each for 256-bit
// memory operands. The float64 values are the bit patterns of Go's
// constants: 1/2, 1/6, 1/24, 1/120 and the ln2/256 split.
DATA expC2<>+0(SB)/8, $0x3fe0000000000000
DATA expC2<>+8(SB)/8, $0x3fe0000000000000
DATA expC2<>+16(SB)/8, $0x3fe0000000000000
DATA expC2<>+24(SB)/8, $0x3fe0000000000000
GLOBL expC2<>(SB), RODATA|NOPTR, $32

DATA expC3<>+0(SB)/8, $0x3fc5555555555555
DATA expC3<>+8(SB)/8, $0x3fc5555555555555
DATA expC3<>+16(SB)/8, $0x3fc5555555555555
DATA expC3<>+24(SB)/8, $0x3fc5555555555555
GLOBL expC3<>(SB), RODATA|NOPTR, $32

DATA expC4<>+0(SB)/8, $0x3fa5555555555555
DATA expC4<>+8(SB)/8, $0x3fa5555555555555
DATA expC4<>+16(SB)/8, $0x3fa5555555555555
DATA expC4<>+24(SB)/8, $0x3fa5555555555555
GLOBL expC4<>(SB), RODATA|NOPTR, $32

DATA expC5<>+0(SB)/8, $0x3f81111111111111
DATA expC5<>+8(SB)/8, $0x3f81111111111111
DATA expC5<>+16(SB)/8, $0x3f81111111111111
DATA expC5<>+24(SB)/8, $0x3f81111111111111
GLOBL expC5<>(SB), RODATA|NOPTR, $32

DATA expHi<>+0(SB)/8, $0x3f662e42ff000000
DATA expHi<>+8(SB)/8, $0x3f662e42ff000000
DATA expHi<>+16(SB)/8, $0x3f662e42ff000000
DATA expHi<>+24(SB)/8, $0x3f662e42ff000000
GLOBL expHi<>(SB), RODATA|NOPTR, $32

DATA expLo<>+0(SB)/8, $0xbd4718432a1b0e26
DATA expLo<>+8(SB)/8, $0xbd4718432a1b0e26
DATA expLo<>+16(SB)/8, $0xbd4718432a1b0e26
DATA expLo<>+24(SB)/8, $0xbd4718432a1b0e26
GLOBL expLo<>(SB), RODATA|NOPTR, $32

DATA expIdx<>+0(SB)/8, $0xff
DATA expIdx<>+8(SB)/8, $0xff
DATA expIdx<>+16(SB)/8, $0xff
DATA expIdx<>+24(SB)/8, $0xff
GLOBL expIdx<>(SB), RODATA|NOPTR, $32

DATA expHigh<>+0(SB)/8, $0xffffffffffffff00
DATA expHigh<>+8(SB)/8, $0xffffffffffffff00
DATA expHigh<>+16(SB)/8, $0xffffffffffffff00
DATA expHigh<>+24(SB)/8, $0xffffffffffffff00
GLOBL expHigh<>(SB), RODATA|NOPTR, $32

DATA expAbs<>+0(SB)/4, $0x7fffffff
GLOBL expAbs<>(SB), RODATA|NOPTR, $4
DATA expMaxAbs<>+0(SB)/4, $0x42ae0000
GLOBL expMaxAbs<>(SB), RODATA|NOPTR, $4
// 1<<63 | (1023-127)<<52: added to ab<<29 it gives the bits of -|x|.
DATA expYOff<>+0(SB)/8, $0xb800000000000000
GLOBL expYOff<>(SB), RODATA|NOPTR, $8
DATA expInvLn2N<>+0(SB)/8, $0x40771547652b82fe
GLOBL expInvLn2N<>(SB), RODATA|NOPTR, $8
DATA expShifter<>+0(SB)/8, $0x4338000000000000
GLOBL expShifter<>(SB), RODATA|NOPTR, $8

// func expNegAbsAVX2(x *float32, e *float64, n int)
TEXT ·expNegAbsAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ e+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JZ   done
	LEAQ ·expTab(SB), R8
	VPBROADCASTD expAbs<>(SB), X10
	VPBROADCASTD expMaxAbs<>(SB), X11
	VPBROADCASTQ expYOff<>(SB), Y12
	VBROADCASTSD expInvLn2N<>(SB), Y13
	VBROADCASTSD expShifter<>(SB), Y14

loop:
	// y = -|x| (bits): ab = min(bits &^ sign, 87), y = ab<<29 + yoff.
	VMOVDQU    (SI), X0
	VPAND      X10, X0, X0
	VPMINUD    X11, X0, X0
	VPMOVZXDQ  X0, Y0
	VPSLLQ     $29, Y0, Y0
	VPADDQ     Y12, Y0, Y0
	// kf = (y*invLn2N + shifter) - shifter; k = bits(t) - bits(shifter).
	VMULPD     Y13, Y0, Y1
	VADDPD     Y14, Y1, Y1
	VSUBPD     Y14, Y1, Y2
	VPSUBQ     Y14, Y1, Y3
	// r = (y - kf*hi) - kf*lo
	VMULPD     expHi<>(SB), Y2, Y4
	VSUBPD     Y4, Y0, Y4
	VMULPD     expLo<>(SB), Y2, Y5
	VSUBPD     Y5, Y4, Y4
	// p = (r + r2*(c2 + r*c3)) + (r2*r2)*(c4 + r*c5)
	VMULPD     Y4, Y4, Y5
	VMULPD     expC3<>(SB), Y4, Y6
	VADDPD     expC2<>(SB), Y6, Y6
	VMULPD     Y6, Y5, Y6
	VMULPD     expC5<>(SB), Y4, Y7
	VADDPD     expC4<>(SB), Y7, Y7
	VMULPD     Y5, Y5, Y8
	VMULPD     Y7, Y8, Y7
	VADDPD     Y6, Y4, Y6
	VADDPD     Y7, Y6, Y6
	// t = expTab[k & 255]
	VPAND      expIdx<>(SB), Y3, Y9
	VPCMPEQQ   Y15, Y15, Y15
	VGATHERQPD Y15, (R8)(Y9*8), Y8
	// e = bits(t + t*p) + (k &^ 255)<<44  (= (k>>8)<<52 mod 2^64)
	VMULPD     Y6, Y8, Y7
	VADDPD     Y7, Y8, Y7
	VPAND      expHigh<>(SB), Y3, Y3
	VPSLLQ     $44, Y3, Y3
	VPADDQ     Y3, Y7, Y7
	VMOVUPD    Y7, (DI)
	ADDQ       $16, SI
	ADDQ       $32, DI
	DECQ       CX
	JNZ        loop
	VZEROUPPER

done:
	RET
