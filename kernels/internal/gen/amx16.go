package main

import "fmt"

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
	a.l(`// Tile configuration (palette 1): tmm0-3 = C, 16 rows of 16 int32, one`)
	a.l(`// per pair (activation group a, weight group w) at tmm 2a+w; tmm4/tmm5 =`)
	a.l(`// A, 16 activation rows of one block's 32 q8_0 quants (activation group`)
	a.l(`// 0/1); tmm6/tmm7 = B, one 16-row weight block (8 slices of 64 bytes,`)
	a.l(`// gemm16.go) of weight group 0/1.`)
	a.l(`DATA amxcfg16<>+0(SB)/1, $1`)
	for t, cols := range []int{64, 64, 64, 64, 32, 32, 64, 64} {
		a.l(`DATA amxcfg16<>+%d(SB)/2, $%d`, 16+2*t, cols)
	}
	for t, rows := range []int{16, 16, 16, 16, 16, 16, 8, 8} {
		a.l(`DATA amxcfg16<>+%d(SB)/1, $%d`, 48+t, rows)
	}
	a.l(`GLOBL amxcfg16<>(SB), RODATA|NOPTR, $64`)
	for _, v := range []amx16Variant{amx16Decoded, amx16Rows16Q8} {
		for _, wg := range []int{2, 1} {
			a.l(``)
			amx16Kernel(&a, v, wg)
		}
	}
	return a.b.Bytes()
}

// amx16Variant says where a kernel's weight blocks come from.
type amx16Variant struct {
	name   string
	block  int    // bytes from one weight block to the next
	bOff   int    // offset of the B tile (8 rows of 64 bytes) in a block
	unbias bool   // make the groups signed in place first (u - c = q)
	dwOp   string // loads a block's 16 d_w as float32 from dwDisp bytes after the next block's B tile
	dwDisp int
	doc    []string
}

// amx16Decoded runs groups decode16/decR16* made (gemm16.go: 8 slices of
// 64 bytes, u = q + c, then 16 float32 d_w). amx16Rows16Q8 reads q8_0
// Rows16 groups in place (rows16.go: 16 f16 d_w, then 8 chunks of 64 bytes
// that are exactly the B tile of signed q), so they need no decode.
var (
	amx16Decoded = amx16Variant{name: "gemm16AMX", block: 576, unbias: true, dwOp: "VMOVUPS", dwDisp: -64, doc: []string{
		`// First the decoded 16-row weight groups (nb blocks each) are made signed`,
		`// in place (u - c = q), so the tiles multiply q·x directly (TDPBSSD) and`,
		`// the fold needs no bias.`,
	}}
	amx16Rows16Q8 = amx16Variant{name: "gemm16AMXR16Q8", block: 544, bOff: 32, dwOp: "VCVTPH2PS", dwDisp: -576, doc: []string{
		`// The groups are q8_0 Rows16 groups as Repack made them (nb tiles of 544`,
		`// bytes: 16 f16 d_w, then the 8×64-byte B tile of signed q), read in`,
		`// place with no decode; c is unused.`,
	}}
)

// amx16Kernel writes the kernel of variant v for wg (1 or 2) weight groups.
func amx16Kernel(a *asm, v amx16Variant, wg int) {
	name := fmt.Sprintf("%sW%d", v.name, wg)
	a.l(`// func %s(w *byte, wgstride int, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)`, name)
	a.l(`//`)
	a.l(`// %d weight group(s) of 16 rows, the first at w (the next wgstride bytes on).`, wg)
	for _, d := range v.doc {
		a.l(`%s`, d)
	}
	a.l(`// Then for each pair of groups of 16 packed activation rows (x, 16*xstride`)
	a.l(`// bytes apart; a last odd group alone): per block, C = A·B on the tiles,`)
	a.l(`// one C tile per activation group and weight group (exact int32 Σ q·x),`)
	a.l(`// stored to cbuf; per activation row i and weight group, acc_i =`)
	a.l(`// fma(float(C[i]), d_w·d_x_i, acc_i), gemm16Go's order and value (its`)
	a.l(`// s = bias + Σ u·x is the same integer), the accumulators in cbuf`)
	a.l(`// (zeroed first, copied to out at the end): row i's 16 results of weight`)
	a.l(`// group g go to out + i*ostride + 16*g floats. cbuf holds two sets of`)
	a.l(`// the 4 C tiles (8 KiB) and the accumulators (4 KiB):`)
	a.l(`// the tiles of block b+1 are computed and stored while block b's are`)
	a.l(`// folded. All C tiles of a block are issued before any is stored, as`)
	a.l(`// a tile store holds back the loads after it until the product it`)
	a.l(`// stores is done: one store per tile product serialised the tile work.`)
	a.l(`//`)
	a.l(`// Registers: SI, DI: x and the B tile of weight group 0 of the next block`)
	a.l(`// to issue (the pending block's are SI-40, DI-%d); DX: xstride; CX: 64;`, v.block)
	a.l(`// BX: cbuf; R8: blocks left to issue; R9: the folded rows' d_x; R10: out`)
	a.l(`// of the activation groups at hand; R11: ostride in bytes; R12: activation`)
	a.l(`// groups left; R13: their x; AX: scratch (tile bases, out rows).`)
	a.l(`TEXT ·%s(SB), NOSPLIT, $0-80`, name)
	if v.unbias {
		a.l(`	MOVQ c+72(FP), R9`)
		a.l(`	VPBROADCASTB R9, Z19`)
		for g := 0; g < wg; g++ {
			a.l(`	MOVQ w+0(FP), DI`)
			if g == 1 {
				a.l(`	ADDQ wgstride+8(FP), DI`)
			}
			a.l(`	MOVQ nb+32(FP), R8`)
			a.l(`unbias%d:`, g)
			for s := 0; s < 8; s++ {
				a.l(`	VMOVDQU64 %d(DI), Z17`, 64*s)
				a.l(`	VPSUBB Z19, Z17, Z17`)
				a.l(`	VMOVDQU64 Z17, %d(DI)`, 64*s)
			}
			a.l(`	ADDQ $%d, DI`, v.block)
			a.l(`	DECQ R8`)
			a.l(`	JNZ unbias%d`, g)
		}
	}
	amxProlog(a, "amxcfg16", 16)
	a.l(`	VPXORD Z20, Z20, Z20`)
	a.l(`	CMPQ R12, $2`)
	a.l(`	JLT tail`)
	amx16Groups(a, v, wg, 2, "two")
	a.l(`	SUBQ $2, R12`)
	a.l(`	CMPQ R12, $2`)
	a.l(`	JGE two`)
	a.l(`tail:`)
	a.l(`	TESTQ R12, R12`)
	a.l(`	JZ done`)
	amx16Groups(a, v, wg, 1, "one")
	a.l(`done:`)
	amxReturn(a)
}

// amx16Groups writes, at label, the whole k loop for ag activation groups
// (at R13, out at R10) against the wg weight groups, and moves R13 and R10
// on by ag groups.
func amx16Groups(a *asm, v amx16Variant, wg, ag int, label string) {
	a.l(`%s:`, label)
	// zero the accumulators: the fold adds every block, the first too
	for i := 0; i < 16*ag; i++ {
		for g := 0; g < wg; g++ {
			a.l(`	VMOVUPS Z20, %d(BX)`, amxAcc(i, g))
		}
	}
	a.l(`	MOVQ w+0(FP), DI`)
	if v.bOff != 0 {
		a.l(`	ADDQ $%d, DI`, v.bOff)
	}
	a.l(`	MOVQ R13, SI`)
	a.l(`	MOVQ nb+32(FP), R8`)
	next := func() {
		a.l(`	ADDQ $40, SI`)
		a.l(`	ADDQ $%d, DI`, v.block)
	}
	l := func(s string) string { return s + label }
	amx16Issue(a, wg, ag)
	amx16Store(a, wg, ag, 0)
	next()
	a.l(`%s:`, l("loop"))
	a.l(`	DECQ R8`)
	a.l(`	JZ %s`, l("last0"))
	amx16Issue(a, wg, ag)
	amx16Fold(a, v, wg, ag, 0)
	amx16Store(a, wg, ag, 1)
	next()
	a.l(`	DECQ R8`)
	a.l(`	JZ %s`, l("last1"))
	amx16Issue(a, wg, ag)
	amx16Fold(a, v, wg, ag, 1)
	amx16Store(a, wg, ag, 0)
	next()
	a.l(`	JMP %s`, l("loop"))
	a.l(`%s:`, l("last0"))
	amx16Fold(a, v, wg, ag, 0)
	a.l(`	JMP %s`, l("end"))
	a.l(`%s:`, l("last1"))
	amx16Fold(a, v, wg, ag, 1)
	a.l(`%s:`, l("end"))
	a.l(`	MOVQ R10, AX`)
	for i := 0; i < 16*ag; i++ {
		for g := 0; g < wg; g++ {
			a.l(`	VMOVUPS %d(BX), Z%d`, amxAcc(i, g), 21+g)
			a.l(`	VMOVUPS Z%d, %d(AX)`, 21+g, 64*g)
		}
		if i < 16*ag-1 {
			a.l(`	ADDQ R11, AX`)
		}
	}
	a.l(`	MOVQ DX, AX`)
	a.l(`	SHLQ $%d, AX`, 3+ag)
	a.l(`	ADDQ AX, R13`)
	a.l(`	MOVQ R11, AX`)
	a.l(`	SHLQ $%d, AX`, 3+ag)
	a.l(`	ADDQ AX, R10`)
}

// amxAcc is the offset in cbuf of the float accumulators of activation
// row i (of the two groups at hand) and weight group g: 32 rows of two
// groups' 16 floats after the two sets of C tiles, contiguous. In out the
// rows are ostride apart, and a stride of a multiple of 4 KiB (n = 2048)
// put all 64 accumulator lines in the same two L1 sets.
func amxAcc(i, g int) int { return 8192 + 128*i + 64*g }

// amxC is the C tile of activation group ai and weight group wi.
func amxC(ai, wi int) int { return 2*ai + wi }

// amx16Issue issues the tile products of the block at SI/DI: every C tile
// zeroed, then the A and B tiles loaded, then the products.
func amx16Issue(a *asm, wg, ag int) {
	for ai := 0; ai < ag; ai++ {
		for wi := 0; wi < wg; wi++ {
			tileZero(a, amxC(ai, wi))
		}
	}
	tileLoad(a, 4, "SI", "DX")
	if ag == 2 {
		a.l(`	MOVQ DX, AX`)
		a.l(`	SHLQ $4, AX`)
		a.l(`	ADDQ SI, AX`)
		tileLoad(a, 5, "AX", "DX")
	}
	tileLoad(a, 6, "DI", "CX")
	if wg == 2 {
		a.l(`	MOVQ wgstride+8(FP), AX`)
		a.l(`	ADDQ DI, AX`)
		tileLoad(a, 7, "AX", "CX")
	}
	for ai := 0; ai < ag; ai++ {
		for wi := 0; wi < wg; wi++ {
			tdpbssd(a, amxC(ai, wi), 4+ai, 6+wi)
		}
	}
}

// amx16Store stores the block's C tiles to cbuf set s (4 KiB each, tile c
// at +1024c). It comes after the fold of the previous block in program
// order: the fold's loads would otherwise wait for these stores.
func amx16Store(a *asm, wg, ag, s int) {
	for ai := 0; ai < ag; ai++ {
		for wi := 0; wi < wg; wi++ {
			c := amxC(ai, wi)
			tileStore(a, c, 4096*s+1024*c)
		}
	}
}

// amx16Fold folds the pending block (x at SI-40, weight blocks before DI)
// from the C tiles in cbuf set s into the accumulators in cbuf (amxAcc):
// Z16/Z17 hold the d_w of weight group 0/1.
func amx16Fold(a *asm, v amx16Variant, wg, ag, s int) {
	a.l(`	%s %d(DI), Z16`, v.dwOp, v.dwDisp)
	if wg == 2 {
		a.l(`	MOVQ wgstride+8(FP), AX`)
		a.l(`	%s %d(DI)(AX*1), Z17`, v.dwOp, v.dwDisp)
	}
	a.l(`	LEAQ -4(SI), R9`)
	for ai := 0; ai < ag; ai++ {
		for i := 0; i < 16; i++ {
			for wi := 0; wi < wg; wi++ {
				c, acc := amxC(ai, wi), amxAcc(16*ai+i, wi)
				t, p := 21+2*wi, 22+2*wi
				a.l(`	VCVTDQ2PS %d(BX), Z%d`, 4096*s+1024*c+64*i, t)
				a.l(`	VMULPS.BCST (R9), Z%d, Z%d`, 16+wi, p)
				a.l(`	VFMADD213PS %d(BX), Z%d, Z%d`, acc, p, t)
				a.l(`	VMOVUPS Z%d, %d(BX)`, t, acc)
			}
			if ai < ag-1 || i < 15 {
				a.l(`	ADDQ DX, R9`)
			}
		}
	}
}
