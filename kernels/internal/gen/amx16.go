package main

// amx16 writes gemm16amx_amd64.s: the q4_0/q5_0/q8_0 16-row prefill on
// AMX-INT8 tiles (kernels/amx.go has the layouts and the reasoning).
//
// The Go assembler has no AMX mnemonics, so the six tile instructions are
// emitted as bytes with fixed registers; the encodings are Intel's (SDM
// vol. 2, "LDTILECFG", "TILELOADD", "TDPBSSD", ...) and were checked
// against GNU as:
//
//	ldtilecfg (%rax)                  c4 e2 78 49 00
//	tilezero %tmm0                    c4 e2 7b 49 c0
//	tileloadd (%rsi,%rdx,1), %tmm1    c4 e2 7b 4b 0c 16
//	tileloadd (%rdi,%rcx,1), %tmm2    c4 e2 7b 4b 14 0f
//	tdpbssd %tmm2, %tmm1, %tmm0       c4 e2 6b 5e c1
//	tilestored %tmm0, (%rbx,%rcx,1)   c4 e2 7a 4b 04 0b
//	tilerelease                       c4 e2 78 49 c0
//
// and for the second tile set (tmm3 = C, tmm4 = A, tmm5 = B, stored to (%rax)):
//
//	tilezero %tmm3                    c4 e2 7b 49 d8
//	tileloadd (%rsi,%rdx,1), %tmm4    c4 e2 7b 4b 24 16
//	tileloadd (%rdi,%rcx,1), %tmm5    c4 e2 7b 4b 2c 0f
//	tdpbssd %tmm5, %tmm4, %tmm3       c4 e2 53 5e dc
//	tilestored %tmm3, (%rax,%rcx,1)   c4 e2 7a 4b 1c 08
func amx16() []byte {
	var a asm
	a.b.WriteString(header)
	a.l(`#include "textflag.h"`)
	a.l(``)
	a.l(`// Tile configuration (palette 1), two sets used alternately by even and`)
	a.l(`// odd blocks: tmm0/tmm3 = C, 16 rows of 16 int32; tmm1/tmm4 = A, 16`)
	a.l(`// activation rows of one block's 32 q8_0 quants; tmm2/tmm5 = B, one`)
	a.l(`// decoded 16-row weight block (8 slices of 64 bytes, gemm16.go).`)
	a.l(`DATA amxcfg16<>+0(SB)/1, $1`)
	for t, cols := range []int{64, 32, 64, 64, 32, 64} {
		a.l(`DATA amxcfg16<>+%d(SB)/2, $%d`, 16+2*t, cols)
	}
	for t, rows := range []int{16, 16, 8, 16, 16, 8} {
		a.l(`DATA amxcfg16<>+%d(SB)/1, $%d`, 48+t, rows)
	}
	a.l(`GLOBL amxcfg16<>(SB), RODATA|NOPTR, $64`)
	a.l(``)
	a.l(`// func gemm16AMX(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)`)
	a.l(`//`)
	a.l(`// First the decoded 16-row weight group w (nb blocks) is made signed in`)
	a.l(`// place (u - c = q), so the tiles multiply q·x directly (TDPBSSD) and`)
	a.l(`// the fold needs no bias. Then for each of groups groups of 16 packed`)
	a.l(`// activation rows (x, 16*xstride bytes apart): per block, C = A·B on the`)
	a.l(`// tiles (exact int32 Σ q·x), stored to cbuf; per activation row i,`)
	a.l(`// acc_i = fma(float(C[i]), d_w·d_x_i, acc_i), gemm16Go's order and`)
	a.l(`// value (its s = bias + Σ u·x is the same integer). Row i's 16 results go to`)
	a.l(`// out + i*ostride floats. cbuf holds two C tiles (2 KiB): the tiles of`)
	a.l(`// block b+1 are computed and stored while block b's are folded, so the`)
	a.l(`// folding never waits for the tile store it reads.`)
	a.l(`//`)
	a.l(`// Registers: SI, DI: x and w of the next block to issue (the pending`)
	a.l(`// block's are SI-40, DI-576); DX: xstride; CX: 64; BX, AX: the two C`)
	a.l(`// buffers; R8: blocks left to issue; R9: the pending block's per-row`)
	a.l(`// d_x; R10, R11: out and its stride; R12: groups left; R13:`)
	a.l(`// the group's x; Z0-Z15: the 16×16 accumulators.`)
	a.l(`TEXT ·gemm16AMX(SB), NOSPLIT, $0-72`)
	a.l(`	MOVQ w+0(FP), DI`)
	a.l(`	MOVQ nb+24(FP), R8`)
	a.l(`	MOVQ c+64(FP), R9`)
	a.l(`	VPBROADCASTB R9, Z19`)
	a.l(`unbias:`)
	for g := 0; g < 8; g++ {
		a.l(`	VMOVDQU64 %d(DI), Z17`, 64*g)
		a.l(`	VPSUBB Z19, Z17, Z17`)
		a.l(`	VMOVDQU64 Z17, %d(DI)`, 64*g)
	}
	a.l(`	ADDQ $576, DI`)
	a.l(`	DECQ R8`)
	a.l(`	JNZ unbias`)
	a.l(`	LEAQ amxcfg16<>(SB), AX`)
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x00 // LDTILECFG (AX)`)
	a.l(`	MOVQ x+8(FP), R13`)
	a.l(`	MOVQ xstride+16(FP), DX`)
	a.l(`	MOVQ groups+32(FP), R12`)
	a.l(`	MOVQ out+40(FP), R10`)
	a.l(`	MOVQ ostride+48(FP), R11`)
	a.l(`	SHLQ $2, R11`)
	a.l(`	MOVQ cbuf+56(FP), BX`)
	a.l(`	LEAQ 1024(BX), AX`)
	a.l(`	MOVQ $64, CX`)
	a.l(`group:`)
	for i := 0; i < 16; i++ {
		a.l(`	VPXORD Z%d, Z%d, Z%d`, i, i, i)
	}
	a.l(`	MOVQ w+0(FP), DI`)
	a.l(`	MOVQ R13, SI`)
	a.l(`	MOVQ nb+24(FP), R8`)
	amxTiles(&a, 0)
	amxStore(&a, 0)
	a.l(`	ADDQ $40, SI`)
	a.l(`	ADDQ $576, DI`)
	a.l(`loop:`)
	a.l(`	DECQ R8`)
	a.l(`	JZ last0`)
	amxTiles(&a, 1)
	amxFold(&a, "BX")
	amxStore(&a, 1)
	a.l(`	ADDQ $40, SI`)
	a.l(`	ADDQ $576, DI`)
	a.l(`	DECQ R8`)
	a.l(`	JZ last1`)
	amxTiles(&a, 0)
	amxFold(&a, "AX")
	amxStore(&a, 0)
	a.l(`	ADDQ $40, SI`)
	a.l(`	ADDQ $576, DI`)
	a.l(`	JMP loop`)
	a.l(`last0:`)
	amxFold(&a, "BX")
	a.l(`	JMP store`)
	a.l(`last1:`)
	amxFold(&a, "AX")
	a.l(`store:`)
	for i := 0; i < 16; i++ {
		a.l(`	VMOVUPS Z%d, (R10)`, i)
		a.l(`	ADDQ R11, R10`)
	}
	a.l(`	MOVQ DX, R9`)
	a.l(`	SHLQ $4, R9`)
	a.l(`	ADDQ R9, R13`)
	a.l(`	DECQ R12`)
	a.l(`	JNZ group`)
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0 // TILERELEASE`)
	a.l(`	VZEROUPPER`)
	a.l(`	RET`)
	return a.b.Bytes()
}

// amxTiles issues the tile product of the block at SI/DI into tile set s
// (0: tmm0-2; 1: tmm3-5).
func amxTiles(a *asm, s int) {
	if s == 0 {
		a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0 // TILEZERO tmm0`)
		a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x0c; BYTE $0x16 // TILELOADD (SI)(DX*1), tmm1`)
		a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x0f // TILELOADD (DI)(CX*1), tmm2`)
		a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x6b; BYTE $0x5e; BYTE $0xc1 // TDPBSSD tmm2, tmm1, tmm0`)
		return
	}
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd8 // TILEZERO tmm3`)
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x24; BYTE $0x16 // TILELOADD (SI)(DX*1), tmm4`)
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x2c; BYTE $0x0f // TILELOADD (DI)(CX*1), tmm5`)
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x53; BYTE $0x5e; BYTE $0xdc // TDPBSSD tmm5, tmm4, tmm3`)
}

// amxStore stores tile set s's C (tmm0 to (BX), tmm3 to (AX)). It comes
// after the fold of the previous block in program order: loads younger
// than a tile store wait for it (measured: with the store first, the tile
// work and the fold ran one after the other), so the fold goes first and
// overlaps the tile product.
func amxStore(a *asm, s int) {
	if s == 0 {
		a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x0b // TILESTORED tmm0, (BX)(CX*1)`)
		return
	}
	a.l(`	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x1c; BYTE $0x08 // TILESTORED tmm3, (AX)(CX*1)`)
}

// amxFold folds the pending block (x at SI-40, w at DI-576) from the C
// buffer at register cb into the accumulators.
func amxFold(a *asm, cb string) {
	a.l(`	VMOVUPS -64(DI), Z16`)
	a.l(`	LEAQ -4(SI), R9`)
	for i := 0; i < 16; i++ {
		a.l(`	VCVTDQ2PS %d(%s), Z17`, 64*i, cb)
		a.l(`	VMULPS.BCST (R9), Z16, Z18`)
		a.l(`	VFMADD231PS Z18, Z17, Z%d`, i)
		if i < 15 {
			a.l(`	ADDQ DX, R9`)
		}
	}
}
