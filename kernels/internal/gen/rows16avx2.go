package main

import "fmt"

// rows16avx2 writes rows16avx2_amd64.s: q4_0 and q8_0 (and, below,
// q5_0: r16a2Q5Kernel) matmuls straight on Rows16 tiles for CPUs with AVX2
// but without AVX-512 VNNI (Zen 2/3 EPYCs, Haswell to Skylake client
// parts, and the AVX-512 hosts when the features are masked). gemmR16A2<T>x<c> multiplies one 16-row group by
// c = 1..4 packed activation rows (pack40) and writes 16 outputs per
// column. The float order per output is gemm16Go's, acc = fma(float(isum_b),
// d_w·d_x, acc) over blocks in order, so decode, prefill and the AVX-512
// paths agree bit for bit; the integer block sums are exact:
//
//   - q4_0: each tile chunk holds 8 rows' 4 quant bytes per 256-bit half;
//     its low nibbles are slice c (elements 4c..4c+3, u = q + 8) and its
//     high nibbles slice c+4. VPMADDUBSW(u, broadcast x dword) gives each
//     row two int16 pair sums, and all 8 slices add up in int16 without
//     overflow (16 products of |u·x| ≤ 15·127: ≤ 30480), so a block costs
//     one VPMADDWD per row half, plus the activations' -8·Σx from pack40;
//   - q8_0: the tiles hold the quants q as the file does, and the biased
//     u = q xor 0x80 of the AVX-512 kernels would not fit VPMADDUBSW's
//     pair sums (255·127·2 saturates), so the kernel uses ggml's sign
//     trick, |q| · (x·sign(q)), whose pair sums stay ≤ 2·128·127; each
//     slice is widened to int32 at once and pack40's bias is not used.
//
// One or two columns run both 8-row halves of the group in one pass over
// its tiles (decode streams the weights once); three or four columns take
// the halves in turn, the second pass reading the group from cache.
func rows16avx2(p params) []byte {
	var a asm
	a.text(`#include "textflag.h"

// Rows16 q4_0/q8_0 kernels for AVX2 without AVX-512 VNNI (layout, float
// order and the Go twins in rows16.go and gemm16.go; the generator's
// comment in internal/gen/rows16avx2.go says how the int16 sums stay exact).`)
	for _, q8 := range []bool{false, true} {
		for c := 1; c <= 4; c++ {
			a.l("")
			r16a2Kernel(&a, p, q8, c)
		}
	}
	a.text(`
// q5rep<b>: VPSHUFB controls copying byte b of each dword into its 4
// bytes; q5bit<k>: byte j of each dword = 1 << (4k+j).`)
	for b := 0; b < 4; b++ {
		for q := 0; q < 4; q++ {
			v := uint64(0)
			for d := 0; d < 2; d++ {
				v |= uint64(0x01010101*uint32(4*(2*(q%2)+d)+b)) << (32 * d)
			}
			a.l("DATA q5rep%d<>+%d(SB)/8, $0x%016x", b, 8*q, v)
		}
		a.l("GLOBL q5rep%d<>(SB), RODATA|NOPTR, $32", b)
	}
	for k := 0; k < 2; k++ {
		for q := 0; q < 4; q++ {
			a.l("DATA q5bit%d<>+%d(SB)/8, $0x%016x", k, 8*q, uint64(0x08040201)<<(4*k)*0x0000000100000001)
		}
		a.l("GLOBL q5bit%d<>(SB), RODATA|NOPTR, $32", k)
	}
	for c := 1; c <= 2; c++ {
		a.l("")
		r16a2Q5Kernel(&a, p, c)
	}
	// The one-column (decode) kernels again without software prefetch,
	// for the CPUs where the hardware prefetchers stream faster alone
	// (kernels/stream_amd64.go).
	hp := p
	hp.hw = true
	for _, q8 := range []bool{false, true} {
		a.l("")
		r16a2Kernel(&a, hp, q8, 1)
	}
	a.l("")
	r16a2Q5Kernel(&a, hp, 1)
	return a.bytes()
}

// r16a2Q5Kernel writes gemmR16A2Q5_0x<ncols>: q5_0 tiles (rows16q5.go)
// hold each row's 32 fifth bits as one dword, so per chunk the byte with
// bits 4c..4c+3 (16+4c.. for the high nibbles) is copied into all 4 bytes
// of the row's dword, masked to bit 4(c%2)+j in byte j and compared, and
// 0x10 where set joins the nibble: u = q + 16 reaches 31, so the int16
// sums stop after two chunks (8 products of 31·128: <= 31744) and are
// widened by VPMADDWD; pack40's -16·Σx completes the block sum. Rows are
// taken 8 at a time, one or two activation rows per call.
func r16a2Q5Kernel(a *asm, p params, ncols int) {
	const tile = 16 * 22
	cols := []string{"R10", "R11"}[:ncols]
	a.l("// func gemmR16A2Q5_0x%d%s(w, x *byte, xstride, nb int, out *float32, ostride int)", ncols, hwSuffix(p))
	a.l("TEXT ·gemmR16A2Q5_0x%d%s(SB), NOSPLIT, $0-48", ncols, hwSuffix(p))
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ x+8(FP), DI")
	a.l("\tMOVQ xstride+16(FP), R8")
	a.l("\tMOVQ nb+24(FP), CX")
	a.l("\tMOVQ out+32(FP), DX")
	a.l("\tMOVQ ostride+40(FP), R9")
	a.l("\tSHLQ $2, R9")
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE done")
	for _, c := range []struct {
		v uint32
		r int
	}{{0x00010001, 13}, {0x10101010, 14}, {0x0F0F0F0F, 15}} {
		a.l("\tMOVL $0x%08X, AX", c.v)
		a.l("\tVMOVD AX, X%d", c.r)
		a.l("\tVPBROADCASTD X%d, Y%d", c.r, c.r)
	}
	// Y0.. acc (float) per column, Y2.. int16 partial sums, Y4.. int32
	// sums, Y6/Y7 slices, Y8 fifth bits, Y9 broadcast activations, Y10
	// d_w, Y12 the 8 rows' qh, Y13 int16 ones, Y14 0x10, Y15 0x0F.
	acc := func(j int) string { return fmt.Sprintf("Y%d", j) }
	part := func(j int) string { return fmt.Sprintf("Y%d", 2+j) }
	sum := func(j int) string { return fmt.Sprintf("Y%d", 4+j) }
	for h := 0; h < 2; h++ {
		a.l("\t// rows %d..%d", 8*h, 8*h+7)
		a.l("\tMOVQ SI, R14")
		a.l("\tMOVQ CX, BX")
		a.l("\tMOVQ DI, R10")
		if ncols > 1 {
			a.l("\tLEAQ (DI)(R8*1), R11")
		}
		for j := range cols {
			a.l("\tVXORPS %s, %s, %s", acc(j), acc(j), acc(j))
		}
		a.l("block%d:", h)
		if h == 0 && ncols == 1 {
			a.prefetchA2(p, "R14", tile)
		}
		a.l("\tVMOVDQU %d(R14), Y12", 32+32*h)
		for c := 0; c < 4; c++ {
			a.l("\tVMOVDQU %d(R14), Y6", 96+64*c+32*h)
			a.l("\tVPSRLW $4, Y6, Y7")
			a.l("\tVPAND Y15, Y6, Y6")
			a.l("\tVPAND Y15, Y7, Y7")
			for k, w := range []string{"Y6", "Y7"} {
				a.l("\tVPSHUFB q5rep%d<>(SB), Y12, Y8", 2*k+c/2)
				a.l("\tVPAND q5bit%d<>(SB), Y8, Y8", c%2)
				a.l("\tVPCMPEQB q5bit%d<>(SB), Y8, Y8", c%2)
				a.l("\tVPAND Y14, Y8, Y8")
				a.l("\tVPOR Y8, %s, %s", w, w)
			}
			for j, col := range cols {
				for k, w := range []string{"Y6", "Y7"} {
					a.l("\tVPBROADCASTD %d(%s), Y9", 16*k+4*c, col)
					if c%2 == 0 && k == 0 {
						a.l("\tVPMADDUBSW Y9, %s, %s", w, part(j))
					} else {
						a.l("\tVPMADDUBSW Y9, %s, Y9", w)
						a.l("\tVPADDW Y9, %s, %s", part(j), part(j))
					}
				}
				if c%2 == 1 {
					if c == 1 {
						a.l("\tVPMADDWD Y13, %s, %s", part(j), sum(j))
					} else {
						a.l("\tVPMADDWD Y13, %s, %s", part(j), part(j))
						a.l("\tVPADDD %s, %s, %s", part(j), sum(j), sum(j))
					}
				}
			}
		}
		a.l("\tVCVTPH2PS %d(R14), Y10", 16*h)
		for j, col := range cols {
			a.l("\tVPBROADCASTD 32(%s), Y9", col)
			a.l("\tVPADDD Y9, %s, %s", sum(j), sum(j))
			a.l("\tVCVTDQ2PS %s, %s", sum(j), sum(j))
			a.l("\tVBROADCASTSS 36(%s), Y9", col)
			a.l("\tVMULPS Y9, Y10, Y9")
			a.l("\tVFMADD231PS Y9, %s, %s", sum(j), acc(j))
		}
		a.l("\tADDQ $%d, R14", tile)
		for _, col := range cols {
			a.l("\tADDQ $40, %s", col)
		}
		a.l("\tDECQ BX")
		a.l("\tJNZ block%d", h)
		a.l("\tMOVQ DX, AX")
		for j := range cols {
			if j > 0 {
				a.l("\tADDQ R9, AX")
			}
			a.l("\tVMOVUPS %s, %d(AX)", acc(j), 32*h)
		}
	}
	a.l("done:")
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

func r16a2Kernel(a *asm, p params, q8 bool, ncols int) {
	name, tile, chunks := "Q4_0", 288, 4
	if q8 {
		name, tile, chunks = "Q8_0", 544, 8
	}
	halves := [][]int{{0, 1}}
	if ncols > 2 {
		halves = [][]int{{0}, {1}}
	}
	cols := []string{"R10", "R11", "R12", "R13"}[:ncols]
	a.l("// func gemmR16A2%sx%d%s(w, x *byte, xstride, nb int, out *float32, ostride int)", name, ncols, hwSuffix(p))
	a.l("TEXT ·gemmR16A2%sx%d%s(SB), NOSPLIT, $0-48", name, ncols, hwSuffix(p))
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ x+8(FP), DI")
	a.l("\tMOVQ xstride+16(FP), R8")
	a.l("\tMOVQ nb+24(FP), CX")
	a.l("\tMOVQ out+32(FP), DX")
	a.l("\tMOVQ ostride+40(FP), R9")
	a.l("\tSHLQ $2, R9")
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE done")
	// Y13: int16 ones (VPMADDWD), Y15: q4_0's nibble mask.
	a.l("\tMOVL $0x00010001, AX")
	a.l("\tVMOVD AX, X13")
	a.l("\tVPBROADCASTD X13, Y13")
	if !q8 {
		a.l("\tMOVL $0x0F0F0F0F, AX")
		a.l("\tVMOVD AX, X15")
		a.l("\tVPBROADCASTD X15, Y15")
	}
	for pass, hs := range halves {
		// Registers: acc (float) and sum (int) per half and column,
		// then w0, w1 (the chunk's two decoded slices or q, |q|), bc
		// (broadcast activations), tmp and dw.
		nh := len(hs)
		acc := func(h, j int) string { return fmt.Sprintf("Y%d", h*ncols+j) }
		sum := func(h, j int) string { return fmt.Sprintf("Y%d", nh*ncols+h*ncols+j) }
		base := 2 * nh * ncols
		w0, w1, bc, tmp, dw := fmt.Sprintf("Y%d", base), fmt.Sprintf("Y%d", base+1), fmt.Sprintf("Y%d", base+2), fmt.Sprintf("Y%d", base+3), fmt.Sprintf("Y%d", base+4)
		if base+4 >= 13 {
			panic(fmt.Sprintf("rows16avx2: %d columns × %d halves need too many registers", ncols, nh))
		}
		a.l("\t// pass %d: rows %v", pass, hs)
		a.l("\tMOVQ SI, R14")
		a.l("\tMOVQ CX, BX")
		a.l("\tMOVQ DI, R10")
		for j := 1; j < ncols; j++ {
			a.l("\tLEAQ (%s)(R8*1), %s", cols[j-1], cols[j])
		}
		for h := range hs {
			for j := range cols {
				a.l("\tVXORPS %s, %s, %s", acc(h, j), acc(h, j), acc(h, j))
			}
		}
		a.l("block%d:", pass)
		if ncols == 1 {
			a.prefetchA2(p, "R14", tile)
		}
		for c := 0; c < chunks; c++ {
			for h, half := range hs {
				off := 32 + 64*c + 32*half
				a.l("\tVMOVDQU %d(R14), %s", off, w0)
				if q8 {
					a.l("\tVPABSB %s, %s", w0, w1)
				} else {
					a.l("\tVPSRLW $4, %s, %s", w0, w1)
					a.l("\tVPAND Y15, %s, %s", w0, w0)
					a.l("\tVPAND Y15, %s, %s", w1, w1)
				}
				for j, col := range cols {
					s := sum(h, j)
					if q8 {
						a.l("\tVPBROADCASTD %d(%s), %s", 4*c, col, bc)
						a.l("\tVPSIGNB %s, %s, %s", w0, bc, bc)
						a.l("\tVPMADDUBSW %s, %s, %s", bc, w1, bc)
						if c == 0 {
							a.l("\tVPMADDWD Y13, %s, %s", bc, s)
						} else {
							a.l("\tVPMADDWD Y13, %s, %s", bc, bc)
							a.l("\tVPADDD %s, %s, %s", bc, s, s)
						}
						continue
					}
					a.l("\tVPBROADCASTD %d(%s), %s", 4*c, col, bc)
					if c == 0 {
						a.l("\tVPMADDUBSW %s, %s, %s", bc, w0, s)
					} else {
						a.l("\tVPMADDUBSW %s, %s, %s", bc, w0, tmp)
						a.l("\tVPADDW %s, %s, %s", tmp, s, s)
					}
					a.l("\tVPBROADCASTD %d(%s), %s", 4*(c+4), col, bc)
					a.l("\tVPMADDUBSW %s, %s, %s", bc, w1, tmp)
					a.l("\tVPADDW %s, %s, %s", tmp, s, s)
				}
			}
		}
		for h, half := range hs {
			a.l("\tVCVTPH2PS %d(R14), %s", 16*half, dw)
			for j, col := range cols {
				s := sum(h, j)
				if !q8 {
					a.l("\tVPMADDWD Y13, %s, %s", s, s)
					a.l("\tVPBROADCASTD 32(%s), %s", col, bc)
					a.l("\tVPADDD %s, %s, %s", bc, s, s)
				}
				a.l("\tVCVTDQ2PS %s, %s", s, s)
				a.l("\tVBROADCASTSS 36(%s), %s", col, bc)
				a.l("\tVMULPS %s, %s, %s", bc, dw, bc)
				a.l("\tVFMADD231PS %s, %s, %s", bc, s, acc(h, j))
			}
		}
		a.l("\tADDQ $%d, R14", tile)
		for _, col := range cols {
			a.l("\tADDQ $40, %s", col)
		}
		a.l("\tDECQ BX")
		a.l("\tJNZ block%d", pass)
		a.l("\tMOVQ DX, AX")
		for j := range cols {
			if j > 0 {
				a.l("\tADDQ R9, AX")
			}
			for h, half := range hs {
				a.l("\tVMOVUPS %s, %d(AX)", acc(h, j), 32*half)
			}
		}
	}
	a.l("done:")
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}
