package main

// amxk writes gemmk16amx_amd64.s: the q4_K 16-row prefill on AMX-INT8
// tiles (kernels/amx.go has the reasoning, gemmk16.go the layouts and the
// twin gemmK16Go).
//
// The tile instructions come from the encoder in amxenc.go.
func amxk() []byte {
	var a asm
	a.b.WriteString(header)
	a.l(`#include "textflag.h"`)
	a.l(``)
	a.l(`// Tile configuration (palette 1). Two tile sets, used by even and odd`)
	a.l(`// 64-value chunks: C tiles tmm0, tmm3 (set 0) and tmm4, tmm5 (set 1), 16`)
	a.l(`// rows of 16 int32; A tiles tmm1, tmm6, 16 activation rows of one`)
	a.l(`// 32-value sub-block's q8_K quants; B tiles tmm2, tmm7, one decoded`)
	a.l(`// sub-block of the 16 weight rows (8 slices of 64 bytes).`)
	a.l(`DATA amxcfgk<>+0(SB)/1, $1`)
	cols := []int{64, 32, 64, 64, 64, 64, 32, 64}
	rows := []int{16, 16, 8, 16, 16, 16, 16, 8}
	for t := range cols {
		a.l(`DATA amxcfgk<>+%d(SB)/2, $%d`, 16+2*t, cols[t])
	}
	for t := range rows {
		a.l(`DATA amxcfgk<>+%d(SB)/1, $%d`, 48+t, rows[t])
	}
	a.l(`GLOBL amxcfgk<>(SB), RODATA|NOPTR, $64`)
	a.l(``)
	a.l(`// func gemmK16AMXQ4K(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte)`)
	a.l(`//`)
	a.l(`// For each of groups groups of 16 packed q8_K activation rows (x, 16*xstride`)
	a.l(`// bytes apart; packK16 layout) and the decoded 16-row q4_K group w (nb`)
	a.l(`// super-blocks; decodeK16 layout): per 32-value sub-block s, C_s = A·B on`)
	a.l(`// the tiles (TDPBSUD: signed x, unsigned nibbles; exact Σq·x), stored to`)
	a.l(`// cbuf; per 64-value chunk (sub-blocks s0, s1) and activation row i, in`)
	a.l(`// gemmK16Go's order:`)
	a.l(`//`)
	a.l(`//	isum = C_s0[i]·sc_s0 + C_s1[i]·sc_s1   (in float: every product and the`)
	a.l(`//	                                       sum are integers below 2^24, exact)`)
	a.l(`//	imin = m_s0·(bsum pair s0) + m_s1·(bsum pair s1)   (VPDPWSSD)`)
	a.l(`//	acc_i = fma(isum, d_w·d_x, acc_i); accm_i = fma(float(imin), dmin_w·d_x, accm_i)`)
	a.l(`//`)
	a.l(`// and out row i = acc_i - accm_i. acc lives in Z0-Z15, accm in cbuf+4096.`)
	a.l(`// Chunk k's tiles are computed, the previous chunk folded, then chunk k's`)
	a.l(`// tiles stored (loads younger than a tile store wait for it; amx.go).`)
	a.l(`//`)
	a.l(`// Registers: SI, DI: the next sub-block's x and w; DX: xstride; CX: 64;`)
	a.l(`// BX: cbuf; AX: the super-block's x; R14: the super-block's w; R8:`)
	a.l(`// super-blocks left; R9: the fold's row walker; R10, R11: out and its`)
	a.l(`// stride; R12: groups left; R13: the group's x.`)
	a.l(`TEXT ·gemmK16AMXQ4K(SB), NOSPLIT, $0-64`)
	amxProlog(&a, "amxcfgk", 8)
	a.l(`kgroup:`)
	a.l(`	VPXORD Z27, Z27, Z27`)
	for i := 0; i < 16; i++ {
		a.l(`	VPXORD Z%d, Z%d, Z%d`, i, i, i)
		a.l(`	VMOVUPS Z27, %d(BX)`, 4096+64*i)
	}
	a.l(`	MOVQ w+0(FP), R14`)
	a.l(`	MOVQ R13, AX`)
	a.l(`	MOVQ nb+24(FP), R8`)
	a.l(`ksuper:`)
	a.l(`	MOVQ AX, SI`)
	a.l(`	MOVQ R14, DI`)
	a.l(`	VMOVUPS %d(R14), Z20 // d_w`, 5632)
	a.l(`	VMOVUPS %d(R14), Z21 // dmin_w`, 5696)
	for k := 0; k < 4; k++ {
		amxkTiles(&a, k%2)
		if k > 0 {
			amxkFold(&a, k-1)
		}
		amxkStore(&a, k%2)
	}
	amxkFold(&a, 3)
	a.l(`	ADDQ $384, AX`)
	a.l(`	ADDQ $5760, R14`)
	a.l(`	DECQ R8`)
	a.l(`	JNZ ksuper`)
	for i := 0; i < 16; i++ {
		a.l(`	VSUBPS %d(BX), Z%d, Z%d`, 4096+64*i, i, i)
	}
	amxEpilog(&a, "kgroup")
	return a.b.Bytes()
}

// amxkSet names tile set s's C, A and B tiles.
func amxkSet(s int) (c0, c1, at, bt int) {
	if s == 0 {
		return 0, 3, 1, 2
	}
	return 4, 5, 6, 7
}

// amxkTiles computes the two sub-blocks at SI/DI into tile set s and
// advances SI and DI past them.
func amxkTiles(a *asm, s int) {
	c0, c1, at, bt := amxkSet(s)
	for _, c := range []int{c0, c1} {
		tileZero(a, c)
		tileLoad(a, at, "SI", "DX")
		tileLoad(a, bt, "DI", "CX")
		tdpbsud(a, c, at, bt)
		a.l(`	ADDQ $32, SI`)
		a.l(`	ADDQ $512, DI`)
	}
}

// amxkStore stores tile set s's C tiles to cbuf + 2048*s and + 1024.
func amxkStore(a *asm, s int) {
	c0, c1, _, _ := amxkSet(s)
	tileStore(a, c0, 2048*s)
	tileStore(a, c1, 2048*s+1024)
}

// amxkFold folds chunk k (sub-blocks 2k, 2k+1 of the super-block at R14/AX)
// from cbuf + 2048*(k%2).
func amxkFold(a *asm, k int) {
	s0, s1 := 2*k, 2*k+1
	cb := 2048 * (k % 2)
	a.l(`	VCVTDQ2PS %d(R14), Z16 // sc_s0`, 4096+128*s0)
	a.l(`	VCVTDQ2PS %d(R14), Z17 // sc_s1`, 4096+128*s1)
	a.l(`	VMOVDQU32 %d(R14), Z18 // (m_s0, m_s0)`, 5120+64*s0)
	a.l(`	VMOVDQU32 %d(R14), Z19 // (m_s1, m_s1)`, 5120+64*s1)
	a.l(`	MOVQ AX, R9`)
	for i := 0; i < 16; i++ {
		a.l(`	VCVTDQ2PS %d(BX), Z22`, cb+64*i)
		a.l(`	VCVTDQ2PS %d(BX), Z23`, cb+1024+64*i)
		a.l(`	VMULPS Z16, Z22, Z22`)
		a.l(`	VFMADD231PS Z17, Z23, Z22`)
		a.l(`	VMULPS.BCST 352(R9), Z20, Z24`)
		a.l(`	VFMADD231PS Z24, Z22, Z%d`, i)
		a.l(`	VPXORD Z25, Z25, Z25`)
		a.l(`	VPDPWSSD.BCST %d(R9), Z18, Z25`, 320+4*s0)
		a.l(`	VPDPWSSD.BCST %d(R9), Z19, Z25`, 320+4*s1)
		a.l(`	VCVTDQ2PS Z25, Z25`)
		a.l(`	VMULPS.BCST 352(R9), Z21, Z26`)
		a.l(`	VMOVUPS %d(BX), Z27`, 4096+64*i)
		a.l(`	VFMADD231PS Z26, Z25, Z27`)
		a.l(`	VMOVUPS Z27, %d(BX)`, 4096+64*i)
		if i < 15 {
			a.l(`	ADDQ DX, R9`)
		}
	}
}
