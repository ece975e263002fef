package main

import "fmt"

// qx1 writes qx1_amd64.s: the q4_1/q5_1 multi-row kernels (layouts,
// float order and pure-Go twins in kernels/qx1.go), each in ggml's
// vec_dot_q{4,5}_1_q8_1 order per output:
//
//   - qx1Gemv4<T>x<c>: 4 GGUF rows × c = 1..4 activation rows, decoding
//     each block in registers (decode: few activation rows);
//   - qx1Dec8<T>: 8 GGUF rows into the decoded pair layout (qx1DecBlock
//     bytes per block: the quants of both 4-row groups, d_w spread, m_w);
//   - qx1Gemm8<T>x<c>: a decoded 8-row pair × c = 1..4 activation rows
//     (prefill).
func qx1() []byte {
	var a asm
	a.text(qx1Head)
	dw := func(name string, v func(i int) int) {
		for i := 0; i < 16; i++ {
			a.l("DATA %s<>+%d(SB)/4, $%d", name, 4*i, v(i))
		}
		a.l("GLOBL %s<>(SB), RODATA|NOPTR, $64", name)
	}
	a.text("// qx1D: VPERMPS indexes spreading d_w of row r (header lane 4r) over\n// the row's 4 lanes.")
	dw("qx1D", func(i int) int { return i &^ 3 })
	a.text("// qx1M: VPERMPS indexes of lanes 0, 4, 8, 12 (row sums, d_w) and\n// 1, 5, 9, 13 (m_w) into lanes 0..3 and 4..7.")
	dw("qx1M", func(i int) int { return 4*(i%4) + i/4%2 })
	for _, five := range []bool{false, true} {
		for c := 1; c <= 4; c++ {
			a.l("")
			qx1Gemv(&a, five, c)
		}
	}
	for _, five := range []bool{false, true} {
		a.l("")
		qx1Dec(&a, five)
	}
	for _, five := range []bool{false, true} {
		for c := 1; c <= 4; c++ {
			a.l("")
			qx1Gemm(&a, five, c)
		}
	}
	a.text(qx1Avx2Head)
	a.text("// qx1Shuf: ggml's bytes_from_bits_32 shuffle (byte i/8 of qh to byte i).")
	for i := 0; i < 4; i++ {
		a.l("DATA qx1Shuf<>+%d(SB)/8, $0x%016x", 8*i, uint64(0x0101010101010101)*uint64(i))
	}
	a.l("GLOBL qx1Shuf<>(SB), RODATA|NOPTR, $32")
	a.text("// qx1DM: the 4 rows' f16 d_w, m_w pairs reordered to d_w x4, m_w x4.")
	a.l("DATA qx1DM<>+0(SB)/8, $0x0d0c090805040100")
	a.l("DATA qx1DM<>+8(SB)/8, $0x0f0e0b0a07060302")
	a.l("GLOBL qx1DM<>(SB), RODATA|NOPTR, $16")
	for _, five := range []bool{false, true} {
		a.l("")
		qx1Avx2Dec(&a, five)
	}
	for _, five := range []bool{false, true} {
		for c := 1; c <= 2; c++ {
			a.l("")
			qx1Avx2Gemm(&a, five, c)
		}
	}
	for _, five := range []bool{false, true} {
		a.l("")
		qx1Avx2Gemv(&a, five)
	}
	return a.bytes()
}

const qx1Head = `#include "textflag.h"

// q4_1/q5_1 multi-row kernels (kernels/qx1.go has the layouts, the float
// order and the pure-Go twins, which these equal bit for bit). AVX-512
// F/BW/VL + VNNI, then AVX2 kernels for hosts without them.
//
// A register of quants holds 4 rows of one block: 128-bit lane r is row r,
// its int32 lane l elements 4l..4l+3 of the row's low (elements 0..15) or
// high (16..31) half, i.e. lane l or l+4 of ggml's 8 float lanes. One
// VPDPBUSD against the activation half broadcast to all four 128-bit lanes
// makes the 16 lane sums, one FMA adds them times d_w·d_x (exact: two f16
// values), in the block order of ggml_vec_dot_q{4,5}_1_q8_1.
`

const qx1Avx2Head = `
// AVX2 kernels (hosts without AVX-512 VNNI): a decoded group of 4 rows
// (qx1Dec4<T>AVX2: per block the rows' 32 quants in element order, then
// d_w x4 and m_w x4 as float32) against 1 or 2 activation rows, one row's
// 8 lanes per YMM register: VPMADDUBSW + VPMADDWD make ggml's lane sums
// (mul_sum_us8_pairs_float's integer part), then the same convert and FMA.
`

// qx1Type names the type in the kernel names.
func qx1Type(five bool) string {
	if five {
		return "Q5_1"
	}
	return "Q4_1"
}

// qx1Consts loads the constants every kernel uses: Z15 = 0x0F bytes,
// Z13 = qx1D; for q5_1 Z14 = 0x10 bytes.
func qx1Consts(a *asm, five bool) {
	a.l("\tMOVL         $0x0F0F0F0F, AX")
	a.l("\tVPBROADCASTD AX, Z15")
	a.l("\tVMOVDQU32    qx1D<>(SB), Z13")
	if five {
		a.l("\tMOVL         $0x10101010, AX")
		a.l("\tVPBROADCASTD AX, Z14")
	}
}

// qx1Decode4 decodes the current block of the 4 rows at B, B+R8, B+2·R8,
// B+R9 (R9 = 3·R8): Z2 = the rows' 8-byte headers as floats (lane 4r =
// d_w, 4r+1 = m_w of row r, the other lanes unused), Z3 = d_w spread over
// each row's 4 lanes, Z5/Z6 = the low/high quants (u = q, 0..31). q5_1's
// fifth bits of the low (high) halves are gathered in general registers
// (the 16-bit halves of the 4 rows' qh side by side, through T and U) into
// the byte mask K1 (K2) of a masked add of 16. Against a VPERMD and two
// VPSHUFBITQMB per block this ran 4-12 % faster (alternating runs of both
// gemv kernels, q5_1 m=1, 896x4864 and 4864x896, one thread) and needs
// no AVX512_BITALG. Uses Z0, Z1, K1, K2, T, U.
func qx1Decode4(a *asm, five bool, b, t, u string) {
	qs := 4
	if five {
		qs = 8
	}
	a.l("\tVMOVQ          (%s), X0", b)
	a.l("\tVPINSRQ        $1, (%s)(R8*1), X0, X0", b)
	a.l("\tVMOVQ          (%s)(R8*2), X1", b)
	a.l("\tVPINSRQ        $1, (%s)(R9*1), X1, X1", b)
	a.l("\tVINSERTI128    $1, X1, Y0, Y0")
	a.l("\tVCVTPH2PS      Y0, Z2")
	a.l("\tVPERMPS        Z2, Z13, Z3")
	a.l("\tVMOVDQU        %d(%s), X5", qs, b)
	a.l("\tVINSERTI32X4   $1, %d(%s)(R8*1), Z5, Z5", qs, b)
	a.l("\tVINSERTI32X4   $2, %d(%s)(R8*2), Z5, Z5", qs, b)
	a.l("\tVINSERTI32X4   $3, %d(%s)(R9*1), Z5, Z5", qs, b)
	a.l("\tVPSRLW         $4, Z5, Z6")
	a.l("\tVPANDD         Z15, Z5, Z5")
	a.l("\tVPANDD         Z15, Z6, Z6")
	if !five {
		return
	}
	for h, k := range []string{"K1", "K2"} {
		off := 4 + 2*h
		a.l("\tMOVWQZX        %d(%s), %s", off, b, t)
		for r, ix := range []string{"(R8*1)", "(R8*2)", "(R9*1)"} {
			a.l("\tMOVWQZX        %d(%s)%s, %s", off, b, ix, u)
			a.l("\tSHLQ           $%d, %s", 16*(r+1), u)
			a.l("\tORQ            %s, %s", u, t)
		}
		a.l("\tKMOVQ          %s, %s", t, k)
	}
	a.l("\tVPADDB         Z14, Z5, K1, Z5")
	a.l("\tVPADDB         Z14, Z6, K2, Z6")
}

// qx1X is activation row c's operand at byte offset off of its block: row
// c is DI + c·R10 (R11 = 3·R10).
func qx1X(c, off int) string {
	return [4]string{fmt.Sprintf("%d(DI)", off), fmt.Sprintf("%d(DI)(R10*1)", off),
		fmt.Sprintf("%d(DI)(R10*2)", off), fmt.Sprintf("%d(DI)(R11*1)", off)}[c]
}

// qx1PF is how far ahead (bytes) qx1Gemv prefetches each of its 4 weight
// rows into L1 (and twice as far into L2). Without a far prefetch the 4
// interleaved row streams ran at 5-6 GB/s from memory on one thread (a
// decode of gemma3-1b q5_k_m spent 59 % in this kernel); BenchmarkQx1Stream
// (Intel Xeon VM, 240 MB of q5_1): 768 bytes 5.8, 4096 9.5–10.8, 8192
// 9.1–11.4, 4096 with the L2 prefetch at 8192 11.5–12.1 GB/s (two threads
// 11.7 -> 20.3–24.6).
const qx1PF = 4096

// qx1Gemv writes qx1Gemv4<T>x<c>. Activation row i keeps its low/high
// lane accumulators in Z16+3i, Z17+3i and its m_w·s_x sums (lanes 4r+1)
// in Z18+3i.
func qx1Gemv(a *asm, five bool, c int) {
	t := qx1Type(five)
	bs := qx1BlockBytes(five)
	lbl := fmt.Sprintf("g%sx%d", t[1:2], c)
	a.l("// func qx1Gemv4%sx%d(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)", t, c)
	a.l("TEXT ·qx1Gemv4%sx%d(SB), NOSPLIT, $0-80", t, c)
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ wstride+8(FP), R8")
	a.l("\tMOVQ x+16(FP), DI")
	a.l("\tMOVQ xstride+24(FP), R10")
	a.l("\tMOVQ s4+32(FP), BX")
	a.l("\tMOVQ dx+40(FP), DX")
	a.l("\tMOVQ sstride+48(FP), R12")
	a.l("\tMOVQ nb+56(FP), CX")
	a.l("\tLEAQ (R8)(R8*2), R9")
	a.l("\tLEAQ (R10)(R10*2), R11")
	qx1Consts(a, five)
	for i := 0; i < c; i++ {
		for j := 0; j < 3; j++ {
			r := 16 + 3*i + j
			a.l("\tVPXORD Z%d, Z%d, Z%d", r, r, r)
		}
	}
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", lbl)
	a.l("")
	a.l("%sloop:", lbl)
	qx1Prefetch4(a)
	qx1Decode4(a, five, "SI", "AX", "R13")
	for i := 0; i < c; i++ {
		a.l("\tVMULPS.BCST      %d(DX), Z3, Z7", 4*i)
		a.l("\tVBROADCASTI32X4  %s, Z8", qx1X(i, 4))
		a.l("\tVBROADCASTI32X4  %s, Z9", qx1X(i, 20))
		a.l("\tVPXORD           Z10, Z10, Z10")
		a.l("\tVPDPBUSD         Z8, Z5, Z10")
		a.l("\tVPXORD           Z11, Z11, Z11")
		a.l("\tVPDPBUSD         Z9, Z6, Z11")
		a.l("\tVCVTDQ2PS        Z10, Z10")
		a.l("\tVCVTDQ2PS        Z11, Z11")
		a.l("\tVFMADD231PS      Z7, Z10, Z%d", 16+3*i)
		a.l("\tVFMADD231PS      Z7, Z11, Z%d", 17+3*i)
		a.l("\tVFMADD231PS.BCST %d(BX), Z2, Z%d", 16*i, 18+3*i)
	}
	a.l("\tADDQ $%d, SI", bs)
	a.l("\tADDQ $36, DI")
	a.l("\tADDQ R12, BX")
	a.l("\tADDQ R12, DX")
	qx1LoopEnd(a, lbl)
	a.l("\tMOVQ      out+64(FP), AX")
	a.l("\tMOVQ      ostride+72(FP), R8")
	a.l("\tSHLQ      $2, R8")
	a.l("\tVMOVDQU32 qx1M<>(SB), Z12")
	for i := 0; i < c; i++ {
		qx1Reduce(a, 16+3*i, 17+3*i)
		a.l("\tVPERMPS   Z%d, Z12, Z1", 18+3*i)
		a.l("\tVEXTRACTF32X4 $1, Z1, X1")
		a.l("\tVADDPS    X1, X0, X0")
		a.l("\tVMOVUPS   X0, (AX)")
		if i < c-1 {
			a.l("\tADDQ      R8, AX")
		}
	}
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// qx1Reduce leaves in X0 hsum_float_8 of the 4 rows whose low and high
// lane accumulators are Zlo, Zhi: t_l = lo_l + hi_l, then
// (t0 + t2) + (t1 + t3) within each 128-bit lane, then lanes 0, 4, 8, 12
// gathered by Z12 (qx1M). Uses Z1.
func qx1Reduce(a *asm, lo, hi int) {
	a.l("\tVADDPS    Z%d, Z%d, Z0", hi, lo)
	a.l("\tVPERMILPS $0x4e, Z0, Z1")
	a.l("\tVADDPS    Z1, Z0, Z0")
	a.l("\tVPERMILPS $0xb1, Z0, Z1")
	a.l("\tVADDPS    Z1, Z0, Z0")
	a.l("\tVPERMPS   Z0, Z12, Z0")
}

// qx1Dec writes qx1Dec8<T>: nb blocks of the 8 rows at w + r·wstride into
// the pair layout (qx1DecBlock bytes per block).
func qx1Dec(a *asm, five bool) {
	t := qx1Type(five)
	bs := qx1BlockBytes(five)
	lbl := "d" + t[1:2]
	a.l("// func qx1Dec8%s(w *byte, wstride, nb int, dst *byte)", t)
	a.l("TEXT ·qx1Dec8%s(SB), NOSPLIT, $0-32", t)
	qx1DecArgs(a)
	a.l("\tLEAQ (SI)(R8*4), R13")
	qx1Consts(a, five)
	a.l("\tVMOVDQU32 qx1M<>(SB), Z11")
	a.l("\tVPXORD    Z10, Z10, Z10")
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", lbl)
	a.l("")
	a.l("%sloop:", lbl)
	for g, b := range []string{"SI", "R13"} {
		qx1Decode4(a, five, b, "AX", "BX")
		a.l("\tVMOVDQU64      Z5, %d(DI)", 128*g)
		a.l("\tVMOVDQU64      Z6, %d(DI)", 128*g+64)
		a.l("\tVMOVDQU64      Z3, %d(DI)", 256+64*g)
		a.l("\tVPERMPS        Z2, Z11, Z4")
		a.l("\tVEXTRACTF32X4  $1, Z4, X4")
		a.l("\tVMOVDQU        X4, %d(DI)", 384+16*g)
	}
	a.l("\tVMOVDQU Y10, 416(DI)")
	a.l("\tADDQ $%d, SI", bs)
	a.l("\tADDQ $%d, R13", bs)
	a.l("\tADDQ $448, DI")
	qx1LoopEnd(a, lbl)
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// qx1Gemm writes qx1Gemm8<T>x<c>. Group g (rows 4g..4g+3) and activation
// row i keep their low/high lane accumulators in Z16+8g+2i, Z17+8g+2i;
// the m_w·s_x sums of group g (lane 4i+r) are in Z14+g.
func qx1Gemm(a *asm, five bool, c int) {
	t := qx1Type(five)
	lbl := fmt.Sprintf("m%sx%d", t[1:2], c)
	a.l("// func qx1Gemm8%sx%d(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)", t, c)
	a.l("TEXT ·qx1Gemm8%sx%d(SB), NOSPLIT, $0-72", t, c)
	qx1GemmArgs(a)
	a.l("\tLEAQ (R10)(R10*2), R11")
	a.l("\tVPXORD Z14, Z14, Z14")
	a.l("\tVPXORD Z15, Z15, Z15")
	for g := 0; g < 2; g++ {
		for i := 0; i < c; i++ {
			for h := 0; h < 2; h++ {
				r := 16 + 8*g + 2*i + h
				a.l("\tVPXORD Z%d, Z%d, Z%d", r, r, r)
			}
		}
	}
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", lbl)
	a.l("")
	a.l("%sloop:", lbl)
	for i := 0; i < 6; i++ {
		a.l("\tVMOVDQU64        %d(SI), Z%d", 64*i, i)
	}
	a.l("\tVBROADCASTF32X4  384(SI), Z8")
	a.l("\tVFMADD231PS      (BX), Z8, Z14")
	a.l("\tVBROADCASTF32X4  400(SI), Z9")
	a.l("\tVFMADD231PS      (BX), Z9, Z15")
	for i := 0; i < c; i++ {
		a.l("\tVBROADCASTI32X4  %s, Z6", qx1X(i, 4))
		a.l("\tVBROADCASTI32X4  %s, Z7", qx1X(i, 20))
		a.l("\tVMULPS.BCST      %d(DX), Z4, Z8", 4*i)
		a.l("\tVMULPS.BCST      %d(DX), Z5, Z9", 4*i)
		for j := 0; j < 4; j++ {
			a.l("\tVPXORD           Z%d, Z%d, Z%d", 10+j, 10+j, 10+j)
			a.l("\tVPDPBUSD         Z%d, Z%d, Z%d", 6+j%2, j, 10+j)
		}
		for j := 0; j < 4; j++ {
			a.l("\tVCVTDQ2PS        Z%d, Z%d", 10+j, 10+j)
		}
		for j := 0; j < 4; j++ {
			a.l("\tVFMADD231PS      Z%d, Z%d, Z%d", 8+j/2, 10+j, 16+8*(j/2)+2*i+j%2)
		}
	}
	a.l("\tADDQ $448, SI")
	a.l("\tADDQ $36, DI")
	a.l("\tADDQ R12, BX")
	a.l("\tADDQ R12, DX")
	qx1LoopEnd(a, lbl)
	a.l("\tMOVQ      out+56(FP), AX")
	a.l("\tMOVQ      ostride+64(FP), R8")
	a.l("\tSHLQ      $2, R8")
	a.l("\tVMOVDQU32 qx1M<>(SB), Z12")
	for i := 0; i < c; i++ {
		for g := 0; g < 2; g++ {
			qx1Reduce(a, 16+8*g+2*i, 17+8*g+2*i)
			a.l("\tVEXTRACTF32X4 $%d, Z%d, X1", i, 14+g)
			a.l("\tVADDPS    X1, X0, X0")
			a.l("\tVMOVUPS   X0, %d(AX)", 16*g)
		}
		if i < c-1 {
			a.l("\tADDQ      R8, AX")
		}
	}
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// qx1Avx2Decode leaves row r's block (at B + r·R8, r < 3, or B + R9) in
// Y2 as 32 quants in element order (u = q, 0..31): the nibbles split by a
// shift and a mask, q5_1's fifth bits expanded as ggml's
// bytes_from_bits_32 does (Y9 bit-select mask, Y10 byte shuffle, Y11 all
// ones, Y13 0x10 bytes). Y12 = 0x0F bytes. Uses Y3, Y4.
func qx1Avx2Decode(a *asm, five bool, b string, r int) {
	qo := 4
	if five {
		qo = 8
	}
	addr := func(off int) string {
		return [4]string{fmt.Sprintf("%d(%s)", off, b), fmt.Sprintf("%d(%s)(R8*1)", off, b),
			fmt.Sprintf("%d(%s)(R8*2)", off, b), fmt.Sprintf("%d(%s)(R9*1)", off, b)}[r]
	}
	a.l("\tVMOVDQU      %s, X2", addr(qo))
	a.l("\tVPSRLW       $4, X2, X3")
	a.l("\tVINSERTI128  $1, X3, Y2, Y2")
	a.l("\tVPAND        Y12, Y2, Y2")
	if five {
		a.l("\tVPBROADCASTD %s, Y4", addr(4))
		a.l("\tVPSHUFB      Y10, Y4, Y4")
		a.l("\tVPOR         Y9, Y4, Y4")
		a.l("\tVPCMPEQB     Y11, Y4, Y4")
		a.l("\tVPAND        Y13, Y4, Y4")
		a.l("\tVPOR         Y4, Y2, Y2")
	}
}

// qx1Avx2Dec writes qx1Dec4<T>AVX2: nb blocks of the 4 rows at w +
// r·wstride into the AVX2 group layout (qx1DecBlock2 bytes per block).
func qx1Avx2Dec(a *asm, five bool) {
	t := qx1Type(five)
	bs := qx1BlockBytes(five)
	lbl := "a" + t[1:2]
	a.l("// func qx1Dec4%sAVX2(w *byte, wstride, nb int, dst *byte)", t)
	a.l("TEXT ·qx1Dec4%sAVX2(SB), NOSPLIT, $0-32", t)
	qx1DecArgs(a)
	qx1Avx2Consts(a, five)
	a.l("\tVMOVDQU      qx1DM<>(SB), X14")
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", lbl)
	a.l("")
	a.l("%sloop:", lbl)
	// The decode streams the 4 rows from memory: qx1Gemv's prefetches.
	qx1Prefetch4(a)
	for r := 0; r < 4; r++ {
		qx1Avx2Decode(a, five, "SI", r)
		a.l("\tVMOVDQU      Y2, %d(DI)", 32*r)
	}
	a.l("\tVMOVD        (SI), X5")
	a.l("\tVPINSRD      $1, (SI)(R8*1), X5, X5")
	a.l("\tVPINSRD      $2, (SI)(R8*2), X5, X5")
	a.l("\tVPINSRD      $3, (SI)(R9*1), X5, X5")
	a.l("\tVPSHUFB      X14, X5, X5")
	a.l("\tVCVTPH2PS    X5, Y5")
	a.l("\tVMOVUPS      Y5, 128(DI)")
	a.l("\tADDQ $%d, SI", bs)
	a.l("\tADDQ $160, DI")
	qx1LoopEnd(a, lbl)
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// qx1Avx2Gemm writes qx1Gemm4<T>AVX2x<c> (c = 1, 2): a decoded 4-row group
// × c activation rows. Row r and activation row i accumulate their 8 lanes
// in Y6+2r+i; Y14 holds m_w·s_x (lane 4i+r); Y15 = 0x0001 words.
func qx1Avx2Gemm(a *asm, five bool, c int) {
	t := qx1Type(five)
	lbl := fmt.Sprintf("b%sx%d", t[1:2], c)
	a.l("// func qx1Gemm4%sAVX2x%d(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)", t, c)
	a.l("TEXT ·qx1Gemm4%sAVX2x%d(SB), NOSPLIT, $0-72", t, c)
	qx1GemmArgs(a)
	a.l("\tMOVL         $0x00010001, AX")
	a.l("\tVMOVD        AX, X15")
	a.l("\tVPBROADCASTD X15, Y15")
	a.l("\tVPXOR        Y14, Y14, Y14")
	for r := 0; r < 4; r++ {
		for i := 0; i < c; i++ {
			a.l("\tVPXOR        Y%d, Y%d, Y%d", 6+2*r+i, 6+2*r+i, 6+2*r+i)
		}
	}
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", lbl)
	a.l("")
	a.l("%sloop:", lbl)
	a.l("\tVBROADCASTF128 144(SI), Y4")
	a.l("\tVFMADD231PS    (BX), Y4, Y14")
	for i := 0; i < c; i++ {
		a.l("\tVBROADCASTSS   %d(DX), Y%d", 4*i, i)
	}
	xs := [2]string{"4(DI)", "4(DI)(R10*1)"}
	for r := 0; r < 4; r++ {
		a.l("\tVMOVDQU        %d(SI), Y2", 32*r)
		a.l("\tVBROADCASTSS   %d(SI), Y3", 128+4*r)
		for i := 0; i < c; i++ {
			a.l("\tVPMADDUBSW     %s, Y2, Y4", xs[i])
			a.l("\tVPMADDWD       Y15, Y4, Y4")
			a.l("\tVCVTDQ2PS      Y4, Y4")
			a.l("\tVMULPS         Y%d, Y3, Y5", i)
			a.l("\tVFMADD231PS    Y5, Y4, Y%d", 6+2*r+i)
		}
	}
	a.l("\tADDQ $160, SI")
	a.l("\tADDQ $36, DI")
	a.l("\tADDQ R12, BX")
	a.l("\tADDQ R12, DX")
	qx1LoopEnd(a, lbl)
	a.l("\tMOVQ out+56(FP), AX")
	a.l("\tMOVQ ostride+64(FP), R8")
	a.l("\tSHLQ $2, R8")
	for i := 0; i < c; i++ {
		a.l("\tVEXTRACTF128 $%d, Y14, X2", i)
		for r := 0; r < 4; r++ {
			qx1Avx2Fold(a, 6+2*r+i, r, "X1", "X0")
		}
		if i < c-1 {
			a.l("\tADDQ R8, AX")
		}
	}
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// qx1GemmArgs loads the arguments every qx1 GEMM kernel shares (w, x,
// xstride, s4, dx, sstride, nb) into SI, DI, R10, BX, DX, R12, CX.
func qx1GemmArgs(a *asm) {
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ x+8(FP), DI")
	a.l("\tMOVQ xstride+16(FP), R10")
	a.l("\tMOVQ s4+24(FP), BX")
	a.l("\tMOVQ dx+32(FP), DX")
	a.l("\tMOVQ sstride+40(FP), R12")
	a.l("\tMOVQ nb+48(FP), CX")
}

// qx1LoopEnd closes a kernel's block loop (CX counts blocks) and opens its
// done label.
func qx1LoopEnd(a *asm, lbl string) {
	a.l("\tDECQ CX")
	a.l("\tJNZ  %sloop", lbl)
	a.l("")
	a.l("%sdone:", lbl)
}

// qx1BlockBytes is the size of one q4_1 (20) or q5_1 (24) block.
func qx1BlockBytes(five bool) int {
	if five {
		return 24
	}
	return 20
}

// qx1DecArgs loads the arguments the qx1 decoders share (w, wstride, nb,
// dst) into SI, R8, CX, DI, and 3·wstride into R9.
func qx1DecArgs(a *asm) {
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ wstride+8(FP), R8")
	a.l("\tMOVQ nb+16(FP), CX")
	a.l("\tMOVQ dst+24(FP), DI")
	a.l("\tLEAQ (R8)(R8*2), R9")
}

// qx1Avx2Gemv writes qx1Gemv4<T>AVX2x1, the decode step's (m = 1) kernel
// on AVX2 hosts: qx1Dec4<T>AVX2 and qx1Gemm4<T>AVX2x1 fused, so the 4
// rows' blocks go from the raw GGUF rows into the dot product without
// the decoded copy and its second pass (same operations per block in the
// same order, so the same bits). Registers: Y0 d_x, Y5 the rows' d_w·d_x
// (lanes 0-3), accumulators Y6, Y7, Y8, Y1 for rows 0-3, Y14 m_w·s_x,
// Y15 0x0001 words, Y2-Y4 qx1Avx2Decode's, Y9-Y13 its constants.
func qx1Avx2Gemv(a *asm, five bool) {
	t := qx1Type(five)
	bs := qx1BlockBytes(five)
	lbl := "g" + t[1:2]
	accs := [4]int{6, 7, 8, 1}
	a.l("// func qx1Gemv4%sAVX2x1(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)", t)
	a.l("TEXT ·qx1Gemv4%sAVX2x1(SB), NOSPLIT, $0-80", t)
	a.l("\tMOVQ w+0(FP), SI")
	a.l("\tMOVQ wstride+8(FP), R8")
	a.l("\tLEAQ (R8)(R8*2), R9")
	a.l("\tMOVQ x+16(FP), DI")
	a.l("\tMOVQ s4+32(FP), BX")
	a.l("\tMOVQ dx+40(FP), DX")
	a.l("\tMOVQ sstride+48(FP), R12")
	a.l("\tMOVQ nb+56(FP), CX")
	qx1Avx2Consts(a, five)
	a.l("\tMOVL         $0x00010001, AX")
	a.l("\tVMOVD        AX, X15")
	a.l("\tVPBROADCASTD X15, Y15")
	a.l("\tVPXOR        Y14, Y14, Y14")
	for _, r := range accs {
		a.l("\tVPXOR        Y%d, Y%d, Y%d", r, r, r)
	}
	a.l("\tTESTQ CX, CX")
	a.l("\tJLE   %sdone", lbl)
	a.l("")
	a.l("%sloop:", lbl)
	qx1Prefetch4(a)
	// d_w and m_w of the 4 rows, as the decoder lays them out.
	a.l("\tVMOVD        (SI), X5")
	a.l("\tVPINSRD      $1, (SI)(R8*1), X5, X5")
	a.l("\tVPINSRD      $2, (SI)(R8*2), X5, X5")
	a.l("\tVPINSRD      $3, (SI)(R9*1), X5, X5")
	a.l("\tVPSHUFB      qx1DM<>(SB), X5, X5")
	a.l("\tVCVTPH2PS    X5, Y5")
	a.l("\tVPERM2F128   $0x11, Y5, Y5, Y4 // m_w x4, both lanes")
	a.l("\tVFMADD231PS  (BX), Y4, Y14")
	a.l("\tVBROADCASTSS (DX), Y0")
	a.l("\tVMULPS       Y0, Y5, Y5 // d_w·d_x")
	for r := 0; r < 4; r++ {
		qx1Avx2Decode(a, five, "SI", r)
		a.l("\tVPMADDUBSW   4(DI), Y2, Y4")
		a.l("\tVPMADDWD     Y15, Y4, Y4")
		a.l("\tVCVTDQ2PS    Y4, Y4")
		a.l("\tVPERMILPS    $0x%02x, X5, X3", 0x55*r)
		a.l("\tVBROADCASTSS X3, Y3")
		a.l("\tVFMADD231PS  Y3, Y4, Y%d", accs[r])
	}
	a.l("\tADDQ $%d, SI", bs)
	a.l("\tADDQ $36, DI")
	a.l("\tADDQ R12, BX")
	a.l("\tADDQ R12, DX")
	qx1LoopEnd(a, lbl)
	// qx1Avx2Gemm's epilogue for one activation row.
	a.l("\tMOVQ out+64(FP), AX")
	a.l("\tVEXTRACTF128 $0, Y14, X2")
	for r, acc := range accs {
		qx1Avx2Fold(a, acc, r, "X3", "X4")
	}
	a.l("\tVZEROUPPER")
	a.l("\tRET")
}

// qx1Avx2Consts loads qx1Avx2Decode's constants: Y12 = 0x0F bytes and,
// for q5_1, Y9..Y11 and Y13 (bytes_from_bits_32's mask, shuffle, ones and
// 0x10 bytes).
func qx1Avx2Consts(a *asm, five bool) {
	a.l("\tMOVL         $0x0F0F0F0F, AX")
	a.l("\tVMOVD        AX, X12")
	a.l("\tVPBROADCASTD X12, Y12")
	if five {
		a.l("\tMOVQ         $0x7fbfdfeff7fbfdfe, AX")
		a.l("\tVMOVQ        AX, X9")
		a.l("\tVPBROADCASTQ X9, Y9")
		a.l("\tVMOVDQU      qx1Shuf<>(SB), Y10")
		a.l("\tVPCMPEQB     Y11, Y11, Y11")
		a.l("\tMOVL         $0x10101010, AX")
		a.l("\tVMOVD        AX, X13")
		a.l("\tVPBROADCASTD X13, Y13")
	}
}

// qx1Prefetch4 prefetches the 4 rows at SI, SI+R8, SI+2·R8 and SI+R9
// qx1PF bytes ahead into L1 and twice that into L2.
func qx1Prefetch4(a *asm) {
	for _, ix := range []string{"", "(R8*1)", "(R8*2)", "(R9*1)"} {
		a.l("\tPREFETCHT0     %d(SI)%s", qx1PF, ix)
	}
	for _, ix := range []string{"", "(R8*1)", "(R8*2)", "(R9*1)"} {
		a.l("\tPREFETCHT2     %d(SI)%s", 2*qx1PF, ix)
	}
}

// qx1Avx2Fold stores row r's dot product: the 8 lanes of Y<acc> summed
// (halves, then pairs, then the two left) plus lane r of X2 (m_w·s_x),
// with tmp and sum as scratch XMM registers, to 4r(AX).
func qx1Avx2Fold(a *asm, acc, r int, tmp, sum string) {
	a.l("\tVEXTRACTF128 $1, Y%d, %s", acc, tmp)
	a.l("\tVADDPS       %s, X%d, %s", tmp, acc, sum)
	a.l("\tVMOVHLPS     %s, %s, %s", sum, sum, tmp)
	a.l("\tVADDPS       %s, %s, %s", tmp, sum, sum)
	a.l("\tVMOVSHDUP    %s, %s", sum, tmp)
	a.l("\tVADDSS       %s, %s, %s", tmp, sum, sum)
	a.l("\tVPERMILPS    $%d, X2, %s", r, tmp)
	a.l("\tVADDSS       %s, %s, %s", tmp, sum, sum)
	a.l("\tVMOVSS       %s, %d(AX)", sum, 4*r)
}
