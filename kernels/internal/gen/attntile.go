package main

import "fmt"

// attntile writes attntile_amd64.s: the AVX-512 multi-query attention tiles
// of a prefill step (layouts, reasoning and pure-Go twins in
// kernels/attn_tile.go). scoresTile4 scores 4 queries against 4 keys per
// pass, 16 zmm accumulators of tinyBLAS's 16 lanes, folded together by one
// transposed reduce16; pvTile4 (pvTile4L64) adds p·V for 4 queries per V
// row it converts, one 16-lane (64-lane) class of positions at a time,
// and pvTile4A2 (pvTile4A2L64) is its AVX2 form.
func attntile() []byte {
	var a asm
	a.text(tileHead)
	scoresTile4(&a)
	a.l("")
	pvTile4(&a, 16, pvZ)
	a.l("")
	pvTile4(&a, 64, pvZ)
	a.l("")
	pvTile4(&a, 16, pvA2)
	a.l("")
	pvTile4(&a, 64, pvA2)
	return a.bytes()
}

const tileHead = `#include "textflag.h"

// Products of two f16 values are exact in float32, so each fused
// multiply-add below rounds like the twins' separate multiply and add.
`

// scoresTile4 writes the score tile. Registers: DI scores, R8 their row
// stride (bytes), R10 = 3*R8; SI key j, R11..R13 keys j+1..j+3, R9 the key
// stride (bytes); DX the interleaved queries; AX the byte offset into a key
// row (the query offset is 8*AX); BX = 2*d; CX keys left. Accumulator
// Z(4*key+query); keys in Z16..Z19, queries in Z20..Z23, scale in Z31.
func scoresTile4(a *asm) {
	a.text(`// func scoresTile4(s *float32, sstride int, k *uint16, kstride, n int, q *float32, d int, scale float32)
// For j < n (a positive multiple of 4) and r < 4: s[r*sstride+j] =
// reduce16 of the 16 lane sums over e of k_j[e]*q_r[e], lane e%16, times
// scale, where k_j = k[j*kstride:] and q_r[e] = q[(e/16*4+r)*16+e%16]
// (scoresTile4Go). d is a positive multiple of 16.
TEXT ·scoresTile4(SB), NOSPLIT, $0-60
	MOVQ         s+0(FP), DI
	MOVQ         sstride+8(FP), R8
	SHLQ         $2, R8
	LEAQ         (R8)(R8*2), R10
	MOVQ         k+16(FP), SI
	MOVQ         kstride+24(FP), R9
	SHLQ         $1, R9
	MOVQ         n+32(FP), CX
	MOVQ         q+40(FP), DX
	MOVQ         d+48(FP), BX
	SHLQ         $1, BX
	VBROADCASTSS scale+56(FP), Z31

quad:`)
	for m := 0; m < 16; m++ {
		a.l("\tVPXORD       Z%d, Z%d, Z%d", m, m, m)
	}
	a.text(`	LEAQ         (SI)(R9*1), R11
	LEAQ         (SI)(R9*2), R12
	LEAQ         (R11)(R9*2), R13
	XORQ         AX, AX

chunk:`)
	for r := 0; r < 4; r++ {
		a.l("\tVMOVUPS      %d(DX)(AX*8), Z%d", 64*r, 20+r)
	}
	for kk, reg := range []string{"SI", "R11", "R12", "R13"} {
		a.l("\tVCVTPH2PS    (%s)(AX*1), Z%d", reg, 16+kk)
	}
	for kk := 0; kk < 4; kk++ {
		for r := 0; r < 4; r++ {
			a.l("\tVFMADD231PS  Z%d, Z%d, Z%d", 20+r, 16+kk, 4*kk+r)
		}
	}
	a.text(`	ADDQ         $32, AX
	CMPQ         AX, BX
	JLT          chunk`)
	// Transposed reduce16 (dot.go): h_l = a_l + a_{l+8} pairs accumulators
	// 2p, 2p+1 into Z(p) (block-halves of each); t_l = h_l + h_{l+4} pairs
	// those into Z0..Z3 (one accumulator per 128-bit block); then
	// (t0+t2) + (t1+t3) within blocks. Block r of Z0 ends up holding
	// accumulators r, 4+r, 8+r, 12+r: query r against keys 0..3.
	a.l("\t// reduce16 of all 16 accumulators at once; block r of Z0 = query r")
	for p := 0; p < 8; p++ {
		a.l("\tVSHUFF32X4   $0x44, Z%d, Z%d, Z16", 2*p+1, 2*p)
		a.l("\tVSHUFF32X4   $0xee, Z%d, Z%d, Z17", 2*p+1, 2*p)
		a.l("\tVADDPS       Z17, Z16, Z%d", p)
	}
	for p := 0; p < 4; p++ {
		a.l("\tVSHUFF32X4   $0x88, Z%d, Z%d, Z16", 2*p+1, 2*p)
		a.l("\tVSHUFF32X4   $0xdd, Z%d, Z%d, Z17", 2*p+1, 2*p)
		a.l("\tVADDPS       Z17, Z16, Z%d", p)
	}
	for p := 0; p < 2; p++ {
		a.l("\tVSHUFPS      $0x44, Z%d, Z%d, Z16", 2*p+1, 2*p)
		a.l("\tVSHUFPS      $0xee, Z%d, Z%d, Z17", 2*p+1, 2*p)
		a.l("\tVADDPS       Z17, Z16, Z%d", p)
	}
	a.text(`	VSHUFPS      $0x88, Z1, Z0, Z16
	VSHUFPS      $0xdd, Z1, Z0, Z17
	VADDPS       Z17, Z16, Z0
	VMULPS       Z31, Z0, Z0
	VMOVUPS      X0, (DI)
	VEXTRACTF32X4 $1, Z0, (DI)(R8*1)
	VEXTRACTF32X4 $2, Z0, (DI)(R8*2)
	VEXTRACTF32X4 $3, Z0, (DI)(R10*1)
	ADDQ         $16, DI
	LEAQ         (SI)(R9*4), SI
	SUBQ         $4, CX
	JG           quad
	VZEROUPPER
	RET`)
}

// pvForm is a vector width of pvTile4: the AVX-512 kernels (pvZ) hold
// 4 chunks of 16 columns per query in zmm registers, the AVX2 ones (pvA2)
// 2 chunks of 8 in ymm registers, since AVX2 has 16 of them.
type pvForm struct {
	suffix, reg, zero string // name suffix, register prefix, zeroing op
	chunks, width     int    // chunks per pass, floats per chunk
	vBase, pBase      int    // first register of the V chunks, of the probabilities
	laneOuter         bool   // lanes as the outer loop (see pvA2)
}

// pvA2 takes lanes as the outer loop: a pass reads half of each V line it
// touches and the next pass the other half, which for one lane's positions
// is still in L1 (columns outer, the other half came from L2 again, and
// gemma's 256-wide heads ran 15 % slower than the two-query kernel this
// replaced, pvTile2A2, which added each position into lane rows in memory,
// a load and a store per multiply-add). BenchmarkAttentionPrefill tiles
// with AVX-512 masked, ms at 1/2 threads, old/new alternating twice:
// llama1b-256@1792 106/52 -> 81-84/40-43, llama1b-128@3904 111-115/53-56
// -> 93-95/46-48, gemma4b-256@1792 85-86/42-43 -> 83-85/40-42.
var (
	pvZ  = pvForm{suffix: "", reg: "Z", zero: "VPXORD      ", chunks: 4, width: 16, vBase: 16, pBase: 20}
	pvA2 = pvForm{suffix: "A2", reg: "Y", zero: "VXORPS      ", chunks: 2, width: 8, vBase: 8, pBase: 10, laneOuter: true}
)

// pvTile4 writes the p·V tile of the given lane count and form (16:
// pvTile4, the tinyBLAS order of a prefill; 64: pvTile4L64,
// ggml_vec_dot_f16's 4 accumulators of 16 lanes, for decode; pvA2: the
// same as pvTile4A2, pvTile4A2L64 for CPUs without AVX-512). Per column
// pass and lane it adds the lane's positions in order into registers and
// stores them once. Registers: DI the lane rows; BX = d; SI the V rows,
// R8 their stride (bytes), R14 = lanes*R8; DX the probabilities, R9 their
// row stride (bytes); CX = n; R10 the column (floats); R11 the lane; AX
// the position; R12 the V row of the position, R13 and R15 its
// probabilities of queries 0 and 2 (R15 also serves the stores).
// Accumulator (chunks*query+chunk); V chunks from vBase, probabilities
// from pBase.
func pvTile4(a *asm, lanes int, f pvForm) {
	name, shift := "pvTile4"+f.suffix, 4
	if lanes == 64 {
		name, shift = "pvTile4"+f.suffix+"L64", 6
	}
	step := f.chunks * f.width // columns per pass
	outer, inner := "col", "lane"
	if f.laneOuter {
		outer, inner = "lane", "col"
	}
	reset := map[string]string{"col": "R10", "lane": "R11"}
	a.l(`// func %[1]s(acc *float32, d int, v *uint16, vstride int, p *float32, pstride, n, lane0 int)
// For r < 4, lane l < %[2]d and e < d: acc[(r*%[2]d+l)*d+e] = the sum over
// positions i < n with (lane0+i)%%%[2]d == l, in order i, of
// p[r*pstride+i]*v_i[e] (v_i = v[i*vstride:]), from +0 (pvTile4Go). d is a
// positive multiple of %[4]d.
TEXT ·%[1]s(SB), NOSPLIT, $0-64
	MOVQ acc+0(FP), DI
	MOVQ d+8(FP), BX
	MOVQ v+16(FP), SI
	MOVQ vstride+24(FP), R8
	SHLQ $1, R8
	MOVQ R8, R14
	SHLQ $%[3]d, R14
	MOVQ p+32(FP), DX
	MOVQ pstride+40(FP), R9
	SHLQ $2, R9
	MOVQ n+48(FP), CX
	XORQ %[5]s, %[5]s

%[6]s:
	XORQ %[7]s, %[7]s

%[8]s:`, name, lanes, shift, step, reset[outer], outer, reset[inner], inner)
	for m := 0; m < 4*f.chunks; m++ {
		a.l("\t%s %s%d, %s%d, %s%d", f.zero, f.reg, m, f.reg, m, f.reg, m)
	}
	a.l(`	MOVQ         R11, AX
	SUBQ         lane0+56(FP), AX
	ANDQ         $%d, AX // first position of lane R11
	CMPQ         AX, CX
	JGE          store
	MOVQ         AX, R12
	IMULQ        R8, R12
	ADDQ         SI, R12
	LEAQ         (R12)(R10*2), R12
	LEAQ         (DX)(AX*4), R13
	LEAQ         (R13)(R9*2), R15

pos:`, lanes-1)
	for c := 0; c < f.chunks; c++ {
		a.l("\tVCVTPH2PS    %d(R12), %s%d", 2*f.width*c, f.reg, f.vBase+c)
	}
	for r, src := range []string{"(R13)", "(R13)(R9*1)", "(R15)", "(R15)(R9*1)"} {
		a.l("\tVBROADCASTSS %s, %s%d", src, f.reg, f.pBase+r)
	}
	for r := 0; r < 4; r++ {
		for c := 0; c < f.chunks; c++ {
			a.l("\tVFMADD231PS  %s%d, %s%d, %s%d", f.reg, f.pBase+r, f.reg, f.vBase+c, f.reg, f.chunks*r+c)
		}
	}
	a.l(`	ADDQ         R14, R12
	ADDQ         $%d, R13
	ADDQ         $%d, R15
	ADDQ         $%d, AX
	CMPQ         AX, CX
	JLT          pos

store:
	MOVQ         R11, R12
	IMULQ        BX, R12
	ADDQ         R10, R12
	LEAQ         (DI)(R12*4), R12 // query 0, lane R11, column R10
	MOVQ         BX, R15
	SHLQ         $%d, R15 // one query's %d lane rows, in bytes
	LEAQ         (R12)(R15*2), R13 // query 2`, 4*lanes, 4*lanes, lanes, shift+2, lanes)
	for r := 0; r < 4; r++ {
		base := [...]string{"(R12)", "(R12)(R15*1)", "(R13)", "(R13)(R15*1)"}[r]
		for c := 0; c < f.chunks; c++ {
			a.l("\tVMOVUPS      %s%d, %d%s", f.reg, f.chunks*r+c, 4*f.width*c, base)
		}
	}
	next := map[string]string{
		"lane": fmt.Sprintf("\tINCQ         R11\n\tCMPQ         R11, $%d\n\tJLT          lane", lanes),
		"col":  fmt.Sprintf("\tADDQ         $%d, R10\n\tCMPQ         R10, BX\n\tJLT          col", step),
	}
	a.l("%s\n%s\n\tVZEROUPPER\n\tRET", next[inner], next[outer])
}
