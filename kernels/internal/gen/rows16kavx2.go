package main

import "fmt"

// rows16kavx2 writes rows16kavx2_amd64.s: gemvR16A2Q4_K, the q4_K decode
// kernel on Rows16 tiles (layout in kernels/rows16k.go) for CPUs with AVX2
// but no AVX-512 VNNI. It computes gemvR16KGo's integers and float steps
// for the 16 rows of a group and one k16-packed activation row, one 8-row
// half per pass (the second pass reads the group from cache):
//
//   - per chunk of 4 quant bytes per row, the low nibbles times the
//     broadcast activation dword of sub-block 2c and the high nibbles that
//     of sub-block 2c+1 (VPMADDUBSW), summed over the sub-block's 8 chunks
//     in int16 (16 products of |u·x| ≤ 15·128: ≤ 30720);
//   - VPMADDWD against the sub-block scale as an int16 pair per row turns
//     the pair sums into sc_j·Σ u·x, and against the min pair times the
//     activation's bsum pair into m_j·(bsum_2j + bsum_2j+1); the 6-bit
//     scales and mins come out of the tile's three packed scale dwords with
//     one in-lane VPSHUFB per sub-block and a few masks (ggml's
//     get_scale_min_k4);
//   - per super-block acc = fma(float(isum), d_w·d_x, acc) and acc_min =
//     fma(float(imin), dmin_w·d_x, acc_min); the result is acc − acc_min,
//     llama.cpp's repacked q4_K GEMV order.
func rows16kavx2(p params) []byte {
	var a asm
	a.text(`#include "textflag.h"

// q4_K Rows16 decode kernel for AVX2 without AVX-512 VNNI (layout and twin
// in rows16k.go; how the sums stay exact: internal/gen/rows16kavx2.go).

// r16kShuf<j>: VPSHUFB controls putting byte j of each dword into bytes 0
// and 2 of that dword (zero elsewhere), for j = 0..3, both 128-bit lanes.`)
	for j := 0; j < 4; j++ {
		for q := 0; q < 4; q++ {
			var v uint64
			for d := 0; d < 2; d++ { // two dwords per 8-byte word
				dw := 2*(q%2) + d
				b := uint64(4*dw + j)
				v |= (b | 0x80<<8 | b<<16 | 0x80<<24) << (32 * d)
			}
			a.l("DATA r16kShuf%d<>+%d(SB)/8, $0x%016x", j, 8*q, v)
		}
		a.l("GLOBL r16kShuf%d<>(SB), RODATA|NOPTR, $32", j)
	}
	a.text("\n// r16kMask: int16 words 0x003F (6-bit scales), 0x000F, 0x0030, at 0, 32,\n// 64; bytes 0x10 (q5_K's fifth bit) at 96.")
	for i, w := range []uint64{0x003F, 0x000F, 0x0030, 0x1010} {
		for q := 0; q < 4; q++ {
			a.l("DATA r16kMask<>+%d(SB)/8, $0x%016x", 32*i+8*q, w*0x0001000100010001)
		}
	}
	a.l("GLOBL r16kMask<>(SB), RODATA|NOPTR, $128")
	a.l("")
	r16kA2(&a, p, false)
	a.l("")
	r16kA2(&a, p, true)
	a.l("")
	r16kA2x2(&a, false)
	a.l("")
	r16kA2x2(&a, true)
	// gemvR16A2Q4_K without software prefetch (kernels/stream_amd64.go).
	hp := p
	hp.hw = true
	a.l("")
	r16kA2(&a, hp, false)
	return a.bytes()
}

// r16kA2 writes gemvR16A2Q4_K, or with five gemvR16A2Q5_K: q5_K's tiles
// add QH chunks whose bit 2c (2c+1) becomes bit 4 of chunk 8c+t's low
// (high) nibbles (dequantize_row_q5_K), so u reaches 31 and the int16
// sums are cut after 4 chunks (8 products of 31·128: <= 31744), and the
// float steps are dotK's for q5_K, as gemvR16KGo's: acc += float(isum)·
// (d_w·d_x), then acc -= float(imin)·(dmin_w·d_x), each product rounded.
func r16kA2(a *asm, p params, five bool) {
	name, tile := "Q4_K", 16*144
	if five {
		name, tile = "Q5_K", 16*176
	}
	const xsb = 384 // k16X: packed activation bytes per super-block
	a.l("// func gemvR16A2%s%s(w, x *byte, nb int, out *float32)", name, hwSuffix(p))
	a.l("TEXT ·gemvR16A2%s%s(SB), NOSPLIT, $0-32", name, hwSuffix(p))
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ x+8(FP), DI")
	a.l("\tMOVQ nb+16(FP), CX")
	a.l("\tMOVQ out+24(FP), DX")
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE done")
	a.l("\tMOVL $0x0F0F0F0F, AX")
	a.l("\tVMOVD AX, X15")
	a.l("\tVPBROADCASTD X15, Y15")
	// Y0 acc, Y1 acc_min, Y2..Y4 S0..S2, Y5 isum, Y6 imin, Y7/Y8 the
	// int16 sums of sub-blocks 2c and 2c+1, Y9/Y10 nibbles, Y11
	// broadcast activations, Y12..Y14 scale temporaries, Y15 0x0F.
	if five {
		// Y1: 0x10 in every byte (the fifth bit), acc_min unused.
		a.l("\tMOVL $0x10101010, AX")
		a.l("\tVMOVD AX, X1")
		a.l("\tVPBROADCASTD X1, Y1")
	}
	// Y0 acc, Y1 acc_min (q5_K: the 0x10 mask), Y2..Y4 S0..S2, Y5 isum,
	// Y6 imin, Y7/Y8 the int16 sums of sub-blocks 2c and 2c+1, Y9/Y10
	// nibbles, Y11 broadcast activations, Y12..Y14 scale (and q5_K high
	// bit) temporaries, Y15 0x0F.
	runs := [][2]int{{0, 8}} // chunk ranges summed in int16
	if five {
		runs = [][2]int{{0, 4}, {4, 8}}
	}
	for h := 0; h < 2; h++ {
		a.l("\t// rows %d..%d", 8*h, 8*h+7)
		a.l("\tMOVQ SI, R14")
		a.l("\tMOVQ DI, R10")
		a.l("\tMOVQ CX, BX")
		a.l("\tVXORPS Y0, Y0, Y0")
		if !five {
			a.l("\tVXORPS Y1, Y1, Y1")
		}
		a.l("block%d:", h)
		if h == 0 {
			a.prefetchA2(p, "R14", tile)
		}
		a.l("\tVMOVDQU %d(R14), Y2", 64+32*h)
		a.l("\tVMOVDQU %d(R14), Y3", 128+32*h)
		a.l("\tVMOVDQU %d(R14), Y4", 192+32*h)
		first := true
		for c := 0; c < 4; c++ {
			for ri, run := range runs {
				for t := run[0]; t < run[1]; t++ {
					r16kNibbles(a, c, t, h, five, "Y9", "Y10", "Y1")
					a.l("\tVPBROADCASTD %d(R10), Y11", 64*c+4*t)
					if t == run[0] {
						a.l("\tVPMADDUBSW Y11, Y9, Y7")
					} else {
						a.l("\tVPMADDUBSW Y11, Y9, Y9")
						a.l("\tVPADDW Y9, Y7, Y7")
					}
					a.l("\tVPBROADCASTD %d(R10), Y11", 64*c+32+4*t)
					if t == run[0] {
						a.l("\tVPMADDUBSW Y11, Y10, Y8")
					} else {
						a.l("\tVPMADDUBSW Y11, Y10, Y10")
						a.l("\tVPADDW Y10, Y8, Y8")
					}
				}
				for k, s := range []string{"Y7", "Y8"} {
					j := 2*c + k
					r16kScale(a, j, false)
					a.l("\tVPMADDWD Y12, %s, %s", s, s)
					if first && k == 0 {
						a.l("\tVMOVDQA %s, Y5", s)
					} else {
						a.l("\tVPADDD %s, Y5, Y5", s)
					}
					if ri != len(runs)-1 {
						continue
					}
					r16kScale(a, j, true)
					a.l("\tVPBROADCASTD %d(R10), Y13", 320+4*j)
					if j == 0 {
						a.l("\tVPMADDWD Y13, Y12, Y6")
					} else {
						a.l("\tVPMADDWD Y13, Y12, Y12")
						a.l("\tVPADDD Y12, Y6, Y6")
					}
				}
				first = false
			}
		}
		a.l("\tVCVTDQ2PS Y5, Y5")
		a.l("\tVCVTDQ2PS Y6, Y6")
		a.l("\tVBROADCASTSS 352(R10), Y13")
		a.l("\tVCVTPH2PS %d(R14), Y12", 16*h)
		a.l("\tVMULPS Y13, Y12, Y12")
		if five {
			a.l("\tVMULPS Y12, Y5, Y5")
			a.l("\tVADDPS Y5, Y0, Y0")
		} else {
			a.l("\tVFMADD231PS Y12, Y5, Y0")
		}
		a.l("\tVCVTPH2PS %d(R14), Y12", 32+16*h)
		a.l("\tVMULPS Y13, Y12, Y12")
		if five {
			a.l("\tVMULPS Y12, Y6, Y6")
			a.l("\tVSUBPS Y6, Y0, Y0")
		} else {
			a.l("\tVFMADD231PS Y12, Y6, Y1")
		}
		a.l("\tADDQ $%d, R14", tile)
		a.l("\tADDQ $%d, R10", xsb)
		a.l("\tDECQ BX")
		a.l("\tJNZ block%d", h)
		if !five {
			a.l("\tVSUBPS Y1, Y0, Y0")
		}
		a.l("\tVMOVUPS Y0, %d(DX)", 32*h)
	}
	a.l("done:")
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// r16kScale leaves in Y12 sub-block j's scale (min: its min) of each row
// as the int16 pair (v, v) of the row's dword, from S0..S2 in Y2..Y4:
// j < 4: S0 (S1) byte j & 63; j >= 4: S2 byte j-4's low (high) nibble
// with bits 6-7 of S0 (S1) byte j-4 as bits 4-5 (get_scale_min_k4).
func r16kScale(a *asm, j int, min bool) {
	lo := "Y2" // S0: scales
	if min {
		lo = "Y3" // S1: mins
	}
	shuf := func(b int) string { return fmt.Sprintf("r16kShuf%d<>(SB)", b) }
	if j < 4 {
		a.l("\tVPSHUFB %s, %s, Y12", shuf(j), lo)
		a.l("\tVPAND r16kMask<>+0(SB), Y12, Y12")
		return
	}
	a.l("\tVPSHUFB %s, Y4, Y12", shuf(j-4))
	if min {
		a.l("\tVPSRLW $4, Y12, Y12")
	}
	a.l("\tVPAND r16kMask<>+32(SB), Y12, Y12")
	a.l("\tVPSHUFB %s, %s, Y14", shuf(j-4), lo)
	a.l("\tVPSRLW $2, Y14, Y14")
	a.l("\tVPAND r16kMask<>+64(SB), Y14, Y14")
	a.l("\tVPOR Y14, Y12, Y12")
}

// shiftTo4 sets dst to src shifted (as words) so that bit b of every byte
// lands on bit 4 of the same byte; the caller masks with 0x10 (the bits
// a word shift carries across bytes fall outside it).
func shiftTo4(a *asm, b int, src, dst string) {
	switch {
	case b < 4:
		a.l("\tVPSLLW $%d, %s, %s", 4-b, src, dst)
	case b > 4:
		a.l("\tVPSRLW $%d, %s, %s", b-4, src, dst)
	default:
		a.l("\tVMOVDQA %s, %s", src, dst)
	}
}

// r16kA2x2 writes gemmR16A2Q4_Kx2 (five: Q5_K): r16kA2's kernel for two
// activation rows at once, the prefill form. The nibbles of each chunk
// are split once for both rows; the registers hold each row's int16 and
// int32 sums, so the packed scales are reloaded from the tile per
// sub-block and the float accumulators live in memory: acc in out (row c
// at out + c·ostride), q4_K's acc_min in accm[16c..16c+15]. The float
// steps are gemmK16Go's, the order of llama.cpp's repacked GEMMs: q4_K
// folds every 64 values (one sub-block pair) into acc and acc_min, as
// ggml_gemm_q4_K_8x8_q8_K does (the one-row kernel folds once per
// super-block, as its GEMV does), q5_K once per super-block in dotK's
// order, as the one-row kernel.
func r16kA2x2(a *asm, five bool) {
	name, tile := "Q4_K", 16*144
	if five {
		name, tile = "Q5_K", 16*176
	}
	const xsb = 384
	a.l("// func gemmR16A2%sx2(w, x *byte, xstride, nb int, out *float32, ostride int, accm *float32)", name)
	a.l("TEXT ·gemmR16A2%sx2(SB), NOSPLIT, $0-56", name)
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ x+8(FP), DI")
	a.l("\tMOVQ xstride+16(FP), R8")
	a.l("\tMOVQ nb+24(FP), CX")
	a.l("\tMOVQ out+32(FP), DX")
	a.l("\tMOVQ ostride+40(FP), R9")
	a.l("\tMOVQ accm+48(FP), R13")
	a.l("\tSHLQ $2, R9")
	a.l("\tLEAQ (DX)(R9*1), R12") // row 1's outputs
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE done")
	a.l("\tMOVL $0x0F0F0F0F, AX")
	a.l("\tVMOVD AX, X15")
	a.l("\tVPBROADCASTD X15, Y15")
	// Y0/Y1 low/high nibbles, Y2 broadcast activations, Y3 temporary,
	// Y4/Y5 row 0's int16 sums (sub-blocks 2c, 2c+1), Y6/Y7 row 1's,
	// Y8/Y9 row 0's isum/imin, Y10/Y11 row 1's, Y12..Y14 scales and
	// floats, Y15 0x0F.
	xs := []string{"R10", "R11"}
	outs := []string{"DX", "R12"}
	runs := [][2]int{{0, 8}}
	if five {
		runs = [][2]int{{0, 4}, {4, 8}}
	}
	for h := 0; h < 2; h++ {
		a.l("\t// rows %d..%d", 8*h, 8*h+7)
		a.l("\tMOVQ SI, R14")
		a.l("\tMOVQ DI, R10")
		a.l("\tLEAQ (DI)(R8*1), R11")
		a.l("\tMOVQ CX, BX")
		a.l("\tVXORPS Y12, Y12, Y12")
		for c := range xs {
			a.l("\tVMOVUPS Y12, %d(%s)", 32*h, outs[c])
			if !five {
				a.l("\tVMOVUPS Y12, %d(R13)", 64*c+32*h)
			}
		}
		a.l("block%d:", h)
		first := true
		for c := 0; c < 4; c++ {
			for ri, run := range runs {
				for t := run[0]; t < run[1]; t++ {
					r16kNibbles(a, c, t, h, five, "Y0", "Y1", "r16kMask<>+96(SB)")
					for col, xr := range xs {
						for k, src := range []string{"Y0", "Y1"} {
							acc := fmt.Sprintf("Y%d", 4+2*col+k)
							a.l("\tVPBROADCASTD %d(%s), Y2", 64*c+32*k+4*t, xr)
							if t == run[0] {
								a.l("\tVPMADDUBSW Y2, %s, %s", src, acc)
							} else {
								a.l("\tVPMADDUBSW Y2, %s, Y3", src)
								a.l("\tVPADDW Y3, %s, %s", acc, acc)
							}
						}
					}
				}
				for k := 0; k < 2; k++ {
					j := 2*c + k
					r16kScaleMem(a, j, false, h)
					for col := range xs {
						s := fmt.Sprintf("Y%d", 4+2*col+k)
						isum := fmt.Sprintf("Y%d", 8+2*col)
						a.l("\tVPMADDWD Y12, %s, %s", s, s)
						if (first || !five && ri == 0) && k == 0 {
							a.l("\tVMOVDQA %s, %s", s, isum)
						} else {
							a.l("\tVPADDD %s, %s, %s", s, isum, isum)
						}
					}
					if ri != len(runs)-1 {
						continue
					}
					r16kScaleMem(a, j, true, h)
					for col, xr := range xs {
						imin := fmt.Sprintf("Y%d", 9+2*col)
						a.l("\tVPBROADCASTD %d(%s), Y13", 320+4*j, xr)
						if j == 0 || !five && k == 0 {
							a.l("\tVPMADDWD Y13, Y12, %s", imin)
						} else {
							a.l("\tVPMADDWD Y13, Y12, Y13")
							a.l("\tVPADDD Y13, %s, %s", imin, imin)
						}
					}
				}
				first = false
			}
			if !five {
				// q4_K folds every 64 values, as llama.cpp's repacked
				// GEMM (gemmK16Go's chunk of 4 groups).
				r16kA2x2Fold(a, xs, outs, h, false)
			}
		}
		if five {
			r16kA2x2Fold(a, xs, outs, h, true)
		}
		a.l("\tADDQ $%d, R14", tile)
		a.l("\tADDQ $%d, R10", xsb)
		a.l("\tADDQ $%d, R11", xsb)
		a.l("\tDECQ BX")
		a.l("\tJNZ block%d", h)
		if !five {
			for col := range xs {
				a.l("\tVMOVUPS %d(%s), Y0", 32*h, outs[col])
				a.l("\tVSUBPS %d(R13), Y0, Y0", 64*col+32*h)
				a.l("\tVMOVUPS Y0, %d(%s)", 32*h, outs[col])
			}
		}
	}
	a.l("done:")
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// r16kScaleMem is r16kScale with S0..S2 read from the tile (rows 8h..8h+7)
// instead of registers; it leaves the pair in Y12 and uses Y13, Y14.
func r16kScaleMem(a *asm, j int, min bool, h int) {
	lo := 64 + 32*h // S0: scales
	if min {
		lo = 128 + 32*h // S1: mins
	}
	s2 := 192 + 32*h
	shuf := func(b int) string { return fmt.Sprintf("r16kShuf%d<>(SB)", b) }
	if j < 4 {
		a.l("\tVMOVDQU %d(R14), Y12", lo)
		a.l("\tVPSHUFB %s, Y12, Y12", shuf(j))
		a.l("\tVPAND r16kMask<>+0(SB), Y12, Y12")
		return
	}
	a.l("\tVMOVDQU %d(R14), Y12", s2)
	a.l("\tVPSHUFB %s, Y12, Y12", shuf(j-4))
	if min {
		a.l("\tVPSRLW $4, Y12, Y12")
	}
	a.l("\tVPAND r16kMask<>+32(SB), Y12, Y12")
	a.l("\tVMOVDQU %d(R14), Y14", lo)
	a.l("\tVPSHUFB %s, Y14, Y14", shuf(j-4))
	a.l("\tVPSRLW $2, Y14, Y14")
	a.l("\tVPAND r16kMask<>+64(SB), Y14, Y14")
	a.l("\tVPOR Y14, Y12, Y12")
}

// r16kA2x2Fold adds each row's isum and imin (Y8/Y9 row 0, Y10/Y11 row 1)
// to its float accumulators in memory: q4_K acc = fma(float(isum),
// d_w·d_x, acc), acc_min likewise with dmin; q5_K (five) dotK's rounded
// products added to and subtracted from acc.
func r16kA2x2Fold(a *asm, xs, outs []string, h int, five bool) {
	for col, xr := range xs {
		isum, imin := fmt.Sprintf("Y%d", 8+2*col), fmt.Sprintf("Y%d", 9+2*col)
		a.l("\tVCVTDQ2PS %s, %s", isum, isum)
		a.l("\tVCVTDQ2PS %s, %s", imin, imin)
		a.l("\tVBROADCASTSS 352(%s), Y13", xr)
		a.l("\tVCVTPH2PS %d(R14), Y12", 16*h)
		a.l("\tVMULPS Y13, Y12, Y12") // d_w·d_x
		a.l("\tVMOVUPS %d(%s), Y14", 32*h, outs[col])
		if five {
			a.l("\tVMULPS Y12, %s, %s", isum, isum)
			a.l("\tVADDPS %s, Y14, Y14", isum)
		} else {
			a.l("\tVFMADD231PS Y12, %s, Y14", isum)
		}
		a.l("\tVCVTPH2PS %d(R14), Y12", 32+16*h)
		a.l("\tVMULPS Y13, Y12, Y12") // dmin_w·d_x
		if five {
			a.l("\tVMULPS Y12, %s, %s", imin, imin)
			a.l("\tVSUBPS %s, Y14, Y14", imin)
			a.l("\tVMOVUPS Y14, %d(%s)", 32*h, outs[col])
			continue
		}
		a.l("\tVMOVUPS Y14, %d(%s)", 32*h, outs[col])
		a.l("\tVMOVUPS %d(R13), Y14", 64*col+32*h)
		a.l("\tVFMADD231PS Y12, %s, Y14", imin)
		a.l("\tVMOVUPS Y14, %d(R13)", 64*col+32*h)
	}
}

// r16kNibbles loads chunk 8c+t of rows 8h..8h+7 of a q4_K/q5_K tile at
// R14 and leaves its low nibbles (elements of sub-block 2c) in lo and its
// high nibbles (sub-block 2c+1) in hi, Y15 holding 0x0F; for q5_K (five)
// it ORs in bit 2c (2c+1) of QH chunk t as bit 4, masked by the operand
// mask (0x10 in every byte), through Y12 and Y13.
func r16kNibbles(a *asm, c, t, h int, five bool, lo, hi, mask string) {
	q, qh := 256+64*(8*c+t), q5H(t) // q4_K's Q chunks; q5_K's QH
	if five {
		q = q5Q(8*c + t)
	}
	a.l("\tVMOVDQU %d(R14), %s", q+32*h, lo)
	a.l("\tVPSRLW $4, %s, %s", lo, hi)
	a.l("\tVPAND Y15, %s, %s", lo, lo)
	a.l("\tVPAND Y15, %s, %s", hi, hi)
	if !five {
		return
	}
	a.l("\tVMOVDQU %d(R14), Y12", qh+32*h)
	for k, dst := range []string{lo, hi} {
		shiftTo4(a, 2*c+k, "Y12", "Y13")
		a.l("\tVPAND %s, Y13, Y13", mask)
		a.l("\tVPOR Y13, %s, %s", dst, dst)
	}
}
