package main

// amx16 writes gemm16amx_amd64.s: the q4_0/q5_0/q8_0 16-row prefill on
// AMX-INT8 tiles (kernels/amx.go has the layouts and the reasoning).
//
// The tile instructions come from the encoder in amxenc.go (Go's
// assembler has no AMX mnemonics).
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
	amx16Kernel(&a, amx16Decoded)
	a.l(``)
	amx16Kernel(&a, amx16Rows16Q8)
	return a.b.Bytes()
}

// amx16Variant says where a kernel's weight blocks come from.
type amx16Variant struct {
	name   string
	block  int    // bytes from one weight block to the next
	bOff   int    // offset of the B tile (8 rows of 64 bytes) in a block
	unbias bool   // make the group signed in place first (u - c = q)
	dw     string // loads the pending block's 16 d_w into Z16 (DI at the next block's B tile)
	doc    []string
}

// amx16Decoded runs a group decode16/decR16* made (gemm16.go: 8 slices of
// 64 bytes, u = q + c, then 16 float32 d_w). amx16Rows16Q8 reads a q8_0
// Rows16 group in place (rows16.go: 16 f16 d_w, then 8 chunks of 64 bytes
// that are exactly the B tile of signed q), so the group needs no decode.
var (
	amx16Decoded = amx16Variant{name: "gemm16AMX", block: 576, unbias: true, dw: "VMOVUPS -64(DI), Z16", doc: []string{
		`// First the decoded 16-row weight group w (nb blocks) is made signed in`,
		`// place (u - c = q), so the tiles multiply q·x directly (TDPBSSD) and`,
		`// the fold needs no bias.`,
	}}
	amx16Rows16Q8 = amx16Variant{name: "gemm16AMXR16Q8", block: 544, bOff: 32, dw: "VCVTPH2PS -576(DI), Z16", doc: []string{
		`// w is a q8_0 Rows16 group as Repack made it (nb tiles of 544 bytes: 16`,
		`// f16 d_w, then the 8×64-byte B tile of signed q), read in place with no`,
		`// decode; c is unused.`,
	}}
)

// amx16Kernel writes one 16-row AMX kernel of variant v.
func amx16Kernel(a *asm, v amx16Variant) {
	a.l(`// func %s(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)`, v.name)
	a.l(`//`)
	for _, d := range v.doc {
		a.l(`%s`, d)
	}
	a.l(`// Then for each of groups groups of 16 packed`)
	a.l(`// activation rows (x, 16*xstride bytes apart): per block, C = A·B on the`)
	a.l(`// tiles (exact int32 Σ q·x), stored to cbuf; per activation row i,`)
	a.l(`// acc_i = fma(float(C[i]), d_w·d_x_i, acc_i), gemm16Go's order and`)
	a.l(`// value (its s = bias + Σ u·x is the same integer). Row i's 16 results go to`)
	a.l(`// out + i*ostride floats. cbuf holds two C tiles (2 KiB): the tiles of`)
	a.l(`// block b+1 are computed and stored while block b's are folded, so the`)
	a.l(`// folding never waits for the tile store it reads.`)
	a.l(`//`)
	a.l(`// Registers: SI, DI: x and the B tile of the next block to issue (the`)
	a.l(`// pending block's are SI-40, DI-%d); DX: xstride; CX: 64; BX: the two C`, v.block)
	a.l(`// tiles' buffer (+0, +1024); R8: blocks left to issue; R9: the pending block's per-row`)
	a.l(`// d_x; R10, R11: out and its stride; R12: groups left; R13:`)
	a.l(`// the group's x; Z0-Z15: the 16×16 accumulators.`)
	a.l(`TEXT ·%s(SB), NOSPLIT, $0-72`, v.name)
	if v.unbias {
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
		a.l(`	ADDQ $%d, DI`, v.block)
		a.l(`	DECQ R8`)
		a.l(`	JNZ unbias`)
	}
	amxProlog(a, "amxcfg16")
	a.l(`group:`)
	for i := 0; i < 16; i++ {
		a.l(`	VPXORD Z%d, Z%d, Z%d`, i, i, i)
	}
	a.l(`	MOVQ w+0(FP), DI`)
	if v.bOff != 0 {
		a.l(`	ADDQ $%d, DI`, v.bOff)
	}
	a.l(`	MOVQ R13, SI`)
	a.l(`	MOVQ nb+24(FP), R8`)
	next := func() {
		a.l(`	ADDQ $40, SI`)
		a.l(`	ADDQ $%d, DI`, v.block)
	}
	fold := func(off int) { amxFold(a, off, v.dw) }
	amxTiles(a, 0)
	amxStore(a, 0)
	next()
	a.l(`loop:`)
	a.l(`	DECQ R8`)
	a.l(`	JZ last0`)
	amxTiles(a, 1)
	fold(0)
	amxStore(a, 1)
	next()
	a.l(`	DECQ R8`)
	a.l(`	JZ last1`)
	amxTiles(a, 0)
	fold(1024)
	amxStore(a, 0)
	next()
	a.l(`	JMP loop`)
	a.l(`last0:`)
	fold(0)
	a.l(`	JMP store`)
	a.l(`last1:`)
	fold(1024)
	a.l(`store:`)
	amxEpilog(a, "group")
}

// amxTiles issues the tile product of the block at SI/DI into tile set s
// (0: C tmm0, A tmm1, B tmm2; 1: tmm3, tmm4, tmm5).
func amxTiles(a *asm, s int) {
	c := 3 * s
	tileZero(a, c)
	tileLoad(a, c+1, "SI", "DX")
	tileLoad(a, c+2, "DI", "CX")
	tdpbssd(a, c, c+1, c+2)
}

// amxStore stores tile set s's C to cbuf + 1024*s. It comes after the fold
// of the previous block in program order: loads younger than a tile store
// wait for it (measured: with the store first, the tile work and the fold
// ran one after the other), so the fold goes first and overlaps the tile
// product.
func amxStore(a *asm, s int) { tileStore(a, 3*s, 1024*s) }

// amxFold folds the pending block (x at SI-40; its d_w loaded into Z16 by
// dw) from the C tile stored at cbuf + off into the accumulators.
func amxFold(a *asm, off int, dw string) {
	a.l(`	%s`, dw)
	a.l(`	LEAQ -4(SI), R9`)
	for i := 0; i < 16; i++ {
		a.l(`	VCVTDQ2PS %d(BX), Z17`, off+64*i)
		a.l(`	VMULPS.BCST (R9), Z16, Z18`)
		a.l(`	VFMADD231PS Z18, Z17, Z%d`, i)
		if i < 15 {
			a.l(`	ADDQ DX, R9`)
		}
	}
}
