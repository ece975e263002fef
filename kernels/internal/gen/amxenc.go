package main

import "fmt"

// An encoder for the AMX instructions the kernels use, emitted as BYTE
// lines because Go's assembler has no AMX mnemonics. Registers without REX
// bits only. The encodings are Intel's (SDM vol. 2: VEX.128.0F38.W0,
// LDTILECFG/TILERELEASE/TILEZERO 49, TILELOADD/TILESTORED 4B with a SIB
// operand, TDPB*D 5E with the B tile in vvvv), checked against GNU as:
//
//	ldtilecfg (%rax)                        c4 e2 78 49 00
//	tilerelease                             c4 e2 78 49 c0
//	tilezero %tmm5                          c4 e2 7b 49 e8
//	tileloadd (%rsi,%rdx,1), %tmm6          c4 e2 7b 4b 34 16
//	tileloadd (%rdi,%rcx,1), %tmm2          c4 e2 7b 4b 14 0f
//	tdpbsud %tmm7, %tmm6, %tmm5             c4 e2 42 5e ee
//	tdpbssd %tmm5, %tmm4, %tmm3             c4 e2 53 5e dc
//	tilestored %tmm5, 0xc00(%rbx,%rcx,1)    c4 e2 7a 4b ac 0b 00 0c 00 00

// gpr is the 3-bit number of the low general registers the encoder takes.
var gpr = map[string]int{"AX": 0, "CX": 1, "DX": 2, "BX": 3, "SI": 6, "DI": 7}

// bytesLine writes b as one BYTE line with a comment.
func bytesLine(a *asm, b []byte, comment string) {
	s := ""
	for i, x := range b {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("BYTE $0x%02x", x)
	}
	a.l("\t%s // %s", s, comment)
}

func tileZero(a *asm, t int) {
	bytesLine(a, []byte{0xc4, 0xe2, 0x7b, 0x49, byte(0xc0 | t<<3)}, fmt.Sprintf("TILEZERO tmm%d", t))
}

// tileLoad is TILELOADD tmm t, (base)(index*1).
func tileLoad(a *asm, t int, base, index string) {
	bytesLine(a, []byte{0xc4, 0xe2, 0x7b, 0x4b, byte(0x04 | t<<3), byte(gpr[index]<<3 | gpr[base])},
		fmt.Sprintf("TILELOADD (%s)(%s*1), tmm%d", base, index, t))
}

// tileStore is TILESTORED tmm t, disp(BX)(CX*1).
func tileStore(a *asm, t, disp int) {
	bytesLine(a, []byte{0xc4, 0xe2, 0x7a, 0x4b, byte(0x84 | t<<3), byte(gpr["CX"]<<3 | gpr["BX"]),
		byte(disp), byte(disp >> 8), byte(disp >> 16), byte(disp >> 24)},
		fmt.Sprintf("TILESTORED tmm%d, %d(BX)(CX*1)", t, disp))
}

// tdpbsud is TDPBSUD: C (tmm c) += A (tmm at, signed) · B (tmm bt, unsigned).
func tdpbsud(a *asm, c, at, bt int) { tdp(a, "TDPBSUD", 2, c, at, bt) }

// tdpbssd is TDPBSSD: C (tmm c) += A (tmm at, signed) · B (tmm bt, signed).
func tdpbssd(a *asm, c, at, bt int) { tdp(a, "TDPBSSD", 3, c, at, bt) }

// tdp encodes the TDPB*D family: VEX.128.pp.0F38.W0 5E /r, vvvv = B.
func tdp(a *asm, name string, pp, c, at, bt int) {
	bytesLine(a, []byte{0xc4, 0xe2, byte((^bt&15)<<3 | pp), 0x5e, byte(0xc0 | c<<3 | at)},
		fmt.Sprintf("%s tmm%d, tmm%d, tmm%d", name, bt, at, c))
}

// amxProlog loads the tile configuration cfg and the arguments the AMX
// kernels share into R13 (x), DX (xstride), R12 (groups), R10 (out), R11
// (ostride, in bytes) and BX (cbuf), and 64 into CX. The arguments stand at
// the same distances in every kernel's frame, x at frame offset x: xstride
// after it, nb, then groups, out, ostride and cbuf.
func amxProlog(a *asm, cfg string, x int) {
	a.l(`	LEAQ %s<>(SB), AX`, cfg)
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x00 // LDTILECFG (AX)`)
	a.l(`	MOVQ x+%d(FP), R13`, x)
	a.l(`	MOVQ xstride+%d(FP), DX`, x+8)
	a.l(`	MOVQ groups+%d(FP), R12`, x+24)
	a.l(`	MOVQ out+%d(FP), R10`, x+32)
	a.l(`	MOVQ ostride+%d(FP), R11`, x+40)
	a.l(`	SHLQ $2, R11`)
	a.l(`	MOVQ cbuf+%d(FP), BX`, x+48)
	a.l(`	MOVQ $64, CX`)
}

// amxEpilog stores the 16 accumulator rows Z0-Z15 to out (R10, stride
// R11), moves R13 to the next group of 16 activation rows, loops to label
// while groups are left, then releases the tiles and returns.
func amxEpilog(a *asm, label string) {
	for i := 0; i < 16; i++ {
		a.l(`	VMOVUPS Z%d, (R10)`, i)
		a.l(`	ADDQ R11, R10`)
	}
	a.l(`	MOVQ DX, R9`)
	a.l(`	SHLQ $4, R9`)
	a.l(`	ADDQ R9, R13`)
	a.l(`	DECQ R12`)
	a.l(`	JNZ %s`, label)
	amxReturn(a)
}

// amxReturn releases the tiles and returns.
func amxReturn(a *asm) {
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0 // TILERELEASE`)
	a.l(`	VZEROUPPER`)
	a.l(`	RET`)
}
