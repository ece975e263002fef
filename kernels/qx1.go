package kernels

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Multi-row q4_1 and q5_1 matmuls (paths qx1gemv and qx1gemm).
//
// Q5_K_M files of models whose rows are not multiples of 256 (qwen2-0.5b:
// 896 wide, gemma3-1b: 1152) hold most of their weights as q5_1:
// llama-quantize falls back from q5_K to q5_1 there (llama_tensor_get_type;
// weights.Quantize follows it). q4_1 (Q4_1 files) is the same block
// without the fifth bits. llama.cpp has no repacked or tinyBLAS kernel for
// these types, so every batch goes
// through ggml_vec_dot_q{4,5}_1_q8_1 (ggml-cpu arch/x86/quants.c, __AVX2__
// branch), and dayi keeps that float order exactly (dot.go's dotQx_1):
// per output, block b's 32 products are summed in 8 int32 lanes (lane l =
// elements 4l..4l+3), acc[l] = fma(d_w·d_x, float(lane_l), acc[l]) in 8
// float lanes, block after block, then hsum_float_8(acc) plus
// sum_b m_w·s_x (summed sequentially; each product of two f16 values is
// exact).
//
// That order costs a convert and an FMA per block and lane of every
// weight-row × activation-row pair; the single-row dot (q5_1DotVNNI) adds
// to it the decode of the block and two scalar f16 scale conversions per
// pair, ~8 cycles per pair and block on the Intel dev VM. The kernels here
// keep the lanes but share the rest, with 4 rows of one block per ZMM
// register (128-bit lane r = row r; its int32 lane l is elements 4l..4l+3
// of the row's low half, elements 0..15, or of its high half, 16..31): one
// VPDPBUSD of such a register against the activation half broadcast to all
// four 128-bit lanes yields 16 of the lane sums at once (the quants are
// unsigned, 0..15 or 0..31, exactly VPDPBUSD's u8 operand), one VCVTDQ2PS
// and one FMA by d_w·d_x (the 4 rows' d_w spread over their lanes, times
// the broadcast d_x: exact, two f16 values) accumulate them, and the end
// sums the 8 lanes of each row as hsum_float_8 does, lane by lane in the
// same order. So every output is, bit for bit, dotQx_1's.
//
//   - qx1gemv (decode, m < qx1GemmMinRows): qx1Gemv4<T>x<c> reads 4 GGUF
//     rows block by block and decodes each block in registers (the qs of
//     the 4 rows inserted into one register, the nibbles split by a shift
//     and a mask, q5_1's fifth bits added under byte masks gathered in
//     general registers), for c = 1..4 activation rows at a time.
//   - qx1gemm (prefill): 8 rows at a time are decoded once (qx1Dec8<T>)
//     into worker scratch, qx1DecBlock bytes per block: [0:64) and
//     [64:128) the low and high quants of rows 0..3 as above, [128:256)
//     those of rows 4..7, [256:320) and [320:384) d_w of the two groups
//     spread over their lanes (float32), [384:400) and [400:416) m_w of
//     the two groups (float32), [416:448) zero; qx1Gemm8<T>x<c> runs such
//     a decoded pair against c = 1..4 activation rows, 16 accumulators.
//
// Without AVX-512 VNNI (AVX2 hosts such as Zen 2/3 EPYCs) one path
// remains, qx1gemm with AVX2 kernels: qx1Dec4<T>AVX2 decodes
// 4 rows at a time into qx1DecBlock2 bytes per block (each row's 32 quants
// in element order at 32·r, then d_w of the 4 rows at 128 and m_w at 144,
// float32), and qx1Gemm4<T>AVX2x<c> runs such a group against c = 1, 2
// activation rows with one row's 8 lanes per YMM register (VPMADDUBSW +
// VPMADDWD give the lane sums, as ggml's AVX2 mul_sum_us8_pairs_float).
// That beats the AVX2 dots from a single activation row on
// (qx1GemmMinRows2), so there it serves decode as well.
//
// Both read the activations as quantizeQ8_1 left them (the 32 int8 of
// each block at byte 4 of its 36) plus a scale pack (qx1PackRow) that
// holds, for each quad of activation rows (the batch rounded up to 4) and
// each block, qx1ScQuad bytes: s_x of each of the 4 rows as float32 four
// times (16 bytes a row, so that 4 weight rows' m_w·s_x for the quad are
// one FMA against 64 bytes), then d_x of the 4 rows as float32. A kernel
// call thus reads its scales from one run of memory. The rows past the
// batch are zero. Weight rows beyond a multiple of 4 (gemv) or 8 (gemm)
// take the single-row dots, which compute the same values.
const (
	qx1DecBlock  = 448 // decoded bytes per block of an 8-row pair
	qx1DecBlock2 = 160 // decoded bytes per block of an AVX2 4-row group
	qx1ScBlock   = 20  // scale-pack bytes per block and activation row
	qx1ScQuad    = 4 * qx1ScBlock
)

// qx1GemmMinRows is the batch from which the 8-row pairs are decoded once
// (qx1gemm) rather than in registers for every 4 activation rows (qx1gemv):
// BenchmarkQx1Paths (q5_1 896x4864, one thread, Intel dev VM) had gemv
// 1.5x, 1.3x, 1.2x faster at m = 2, 3, 4 and gemm 1.02x, 1.08x, 1.13x
// at m = 5, 6, 8 (4864x896 alike).
const qx1GemmMinRows = 5

// qx1GemmMinRows2 is qx1GemmMinRows for the AVX2 kernels: decoding 4 rows
// once and running them against the activation rows pays from a single
// row on against the AVX2 dots (BenchmarkQx1Paths, q5_1 896x4864, one
// thread, Intel dev VM: AVX2 gemm 1.3x the AVX2 dots at m = 1, 1.9x at
// m = 2, 2.5x at m = 4), but a decode step (m = 1) takes the fused AVX2
// gemv, which skips the decoded copy (qx1Gemv4*AVX2x1). It must stay 2:
// the AVX2 set has that gemv for one activation row only, and runQx1Gemv
// would call the missing ones for more.
const qx1GemmMinRows2 = 2

// qx1GemmTile is the decoded bytes of weight rows a worker keeps (in L2)
// while every activation row runs against them.
const qx1GemmTile = 512 << 10

// qx1Kernels are the kernels of one of q4_1, q5_1 for one instruction set.
type qx1Kernels struct {
	gemv     [4]qx1GemvFunc // 4 rows × 1..4 activation rows; nil: no gemv path (AVX2)
	gemm     [4]qx1GemmFunc // decoded unit × 1..cols activation rows
	dec      qx1DecFunc     // unit GGUF rows -> decoded unit
	rows     int            // weight rows per decoded unit (8, AVX2: 4)
	cols     int            // activation rows per gemm call at most (4, AVX2: 2)
	decBlock int            // decoded bytes per block of a unit
	minRows  int            // the batch from which the gemm path runs
}

// qx1GemvFunc computes the 4 weight rows w, w+wstride, ... (GGUF blocks)
// times c activation rows x, x+xstride, ... (q8_1 blocks) whose scale-pack
// entries start at s4 (s_x) and dx (d_x), sstride bytes per block, over
// nb blocks: out[i*ostride+r] for row r and activation row i. The c rows
// lie in one quad of the pack.
type qx1GemvFunc func(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

// qx1GemmFunc is qx1GemvFunc for a decoded unit w (nb blocks), its rows'
// results at out[i*ostride+r]. The c rows start a quad of the pack (AVX2:
// a pair): the kernels read s_x of the whole quad (pair) at once.
type qx1GemmFunc func(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

// qx1DecFunc decodes nb blocks of a unit's rows w + r*wstride into dst.
type qx1DecFunc func(w *byte, wstride, nb int, dst *byte)

// qx1Geom is the byte layout of one block of type five ? q5_1 : q4_1:
// its size and the offset of its 16 qs bytes.
func qx1Geom(five bool) (bs, qs int) {
	if five {
		return 24, 8
	}
	return 20, 4
}

// qx1PackRow writes activation row i's scales (from its q8_1 blocks xq)
// into the scale pack sc of a batch of m rows, and zeroes the padding rows
// with the batch's last row.
func qx1PackRow(sc, xq []byte, nb, i, m int) {
	q, j := i/4, i%4
	for b := 0; b < nb; b++ {
		e := sc[(q*nb+b)*qx1ScQuad : (q*nb+b+1)*qx1ScQuad]
		s := math.Float32bits(f16(xq[b*q8_1Size+2:]))
		for l := 0; l < 4; l++ {
			binary.LittleEndian.PutUint32(e[16*j+4*l:], s)
		}
		binary.LittleEndian.PutUint32(e[64+4*j:], math.Float32bits(f16(xq[b*q8_1Size:])))
		if i == m-1 {
			clear(e[16*(j+1) : 64])
			clear(e[64+4*(j+1):])
		}
	}
}

// qx1ScalesAt returns the pointers to activation row i's entries in the
// scale pack sc (nb blocks) and the pack's stride from block to block.
func qx1ScalesAt(sc []byte, nb, i int) (s4, dx *byte, sstride int) {
	o := i / 4 * nb * qx1ScQuad
	return &sc[o+16*(i%4)], &sc[o+64+4*(i%4)], qx1ScQuad
}

// qx1DotPacked is one output of the kernels: weight row w (GGUF blocks)
// times activation row x (q8_1 blocks), with d_x and s_x read from the
// scale pack (the float32 entries at dx and s4, sstride bytes per block).
// It is dotQx_1 step for step; the pack holds the blocks' values.
func qx1DotPacked(w, x, s4, dx []byte, sstride, nb int, five bool) float32 {
	bs, qo := qx1Geom(five)
	var acc [8]float32
	var summ float32
	for b := 0; b < nb; b++ {
		wb := w[b*bs : (b+1)*bs]
		xq := x[b*q8_1Size+4 : (b+1)*q8_1Size]
		sx := math.Float32frombits(binary.LittleEndian.Uint32(s4[b*sstride:]))
		d := f16(wb) * math.Float32frombits(binary.LittleEndian.Uint32(dx[b*sstride:]))
		summ += float32(f16(wb[2:]) * sx)
		var qh uint32
		if five {
			qh = binary.LittleEndian.Uint32(wb[4:])
		}
		var s [8]int32
		for e := 0; e < 32; e++ {
			nib := wb[qo+(e&15)]
			if e >= 16 {
				nib >>= 4
			}
			q := int32(nib&15) | int32((qh>>uint(e))&1)<<4
			s[e/4] += q * int32(int8(xq[e]))
		}
		laneFMA(&acc, &s, d)
	}
	return hsum8(&acc) + summ
}

// qx1GemvGo is the twin of qx1Gemv4<T>x<c> (c = ncols).
func qx1GemvGo(five bool, ncols int) qx1GemvFunc {
	return func(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int) {
		bs, _ := qx1Geom(five)
		ws := unsafe.Slice(w, 3*wstride+nb*bs)
		xs := unsafe.Slice(x, (ncols-1)*xstride+nb*q8_1Size)
		ss := unsafe.Slice(s4, (nb-1)*sstride+16*ncols)
		ds := unsafe.Slice(dx, (nb-1)*sstride+4*ncols)
		os := unsafe.Slice(out, (ncols-1)*ostride+4)
		for i := 0; i < ncols; i++ {
			for r := 0; r < 4; r++ {
				os[i*ostride+r] = qx1DotPacked(ws[r*wstride:], xs[i*xstride:], ss[16*i:], ds[4*i:], sstride, nb, five)
			}
		}
	}
}

// qx1DecGo is the twin of qx1Dec8<T>: the decoded pair layout of the 8
// rows w + r*wstride.
func qx1DecGo(five bool) qx1DecFunc {
	return func(w *byte, wstride, nb int, dst *byte) {
		bs, qo := qx1Geom(five)
		ws := unsafe.Slice(w, 7*wstride+nb*bs)
		ds := unsafe.Slice(dst, nb*qx1DecBlock)
		le := binary.LittleEndian
		for b := 0; b < nb; b++ {
			d := ds[b*qx1DecBlock : (b+1)*qx1DecBlock]
			for r := 0; r < 8; r++ {
				g, rr := r/4, r%4
				wb := ws[r*wstride+b*bs : r*wstride+(b+1)*bs]
				var qh uint32
				if five {
					qh = le.Uint32(wb[4:])
				}
				for e := 0; e < 16; e++ {
					q := wb[qo+e]
					d[128*g+16*rr+e] = q&15 | byte(qh>>uint(e)&1)<<4
					d[128*g+64+16*rr+e] = q>>4 | byte(qh>>uint(16+e)&1)<<4
				}
				for l := 0; l < 4; l++ {
					le.PutUint32(d[256+64*g+16*rr+4*l:], math.Float32bits(f16(wb)))
				}
				le.PutUint32(d[384+16*g+4*rr:], math.Float32bits(f16(wb[2:])))
			}
			clear(d[416:])
		}
	}
}

// qx1GemmGo is the twin of qx1Gemm8<T>x<c> (c = ncols): the decoded pair w
// against ncols activation rows, in dotQx_1's order, reading only the
// decoded bytes.
func qx1GemmGo(ncols int) qx1GemmFunc {
	return func(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int) {
		ws := unsafe.Slice(w, nb*qx1DecBlock)
		xs := unsafe.Slice(x, (ncols-1)*xstride+nb*q8_1Size)
		ss := unsafe.Slice(s4, (nb-1)*sstride+16*ncols)
		ds := unsafe.Slice(dx, (nb-1)*sstride+4*ncols)
		os := unsafe.Slice(out, (ncols-1)*ostride+8)
		le := binary.LittleEndian
		for i := 0; i < ncols; i++ {
			for r := 0; r < 8; r++ {
				g, rr := r/4, r%4
				var acc [8]float32
				var summ float32
				for b := 0; b < nb; b++ {
					d := ws[b*qx1DecBlock : (b+1)*qx1DecBlock]
					xq := xs[i*xstride+b*q8_1Size+4:]
					sx := math.Float32frombits(le.Uint32(ss[b*sstride+16*i:]))
					dxv := math.Float32frombits(le.Uint32(ds[b*sstride+4*i:]))
					dw := math.Float32frombits(le.Uint32(d[256+64*g+16*rr:]))
					mw := math.Float32frombits(le.Uint32(d[384+16*g+4*rr:]))
					summ += float32(mw * sx)
					var s [8]int32
					for e := 0; e < 16; e++ {
						s[e/4] += int32(d[128*g+16*rr+e]) * int32(int8(xq[e]))
						s[4+e/4] += int32(d[128*g+64+16*rr+e]) * int32(int8(xq[16+e]))
					}
					laneFMA(&acc, &s, dw*dxv)
				}
				os[i*ostride+r] = hsum8(&acc) + summ
			}
		}
	}
}

// qx1Dec2Go is the twin of qx1Dec4<T>AVX2: the AVX2 group layout of the
// 4 rows w + r*wstride.
func qx1Dec2Go(five bool) qx1DecFunc {
	return func(w *byte, wstride, nb int, dst *byte) {
		bs, qo := qx1Geom(five)
		ws := unsafe.Slice(w, 3*wstride+nb*bs)
		ds := unsafe.Slice(dst, nb*qx1DecBlock2)
		le := binary.LittleEndian
		for b := 0; b < nb; b++ {
			d := ds[b*qx1DecBlock2 : (b+1)*qx1DecBlock2]
			for r := 0; r < 4; r++ {
				wb := ws[r*wstride+b*bs : r*wstride+(b+1)*bs]
				var qh uint32
				if five {
					qh = le.Uint32(wb[4:])
				}
				for e := 0; e < 16; e++ {
					q := wb[qo+e]
					d[32*r+e] = q&15 | byte(qh>>uint(e)&1)<<4
					d[32*r+16+e] = q>>4 | byte(qh>>uint(16+e)&1)<<4
				}
				le.PutUint32(d[128+4*r:], math.Float32bits(f16(wb)))
				le.PutUint32(d[144+4*r:], math.Float32bits(f16(wb[2:])))
			}
		}
	}
}

// qx1Gemm2Go is the twin of qx1Gemm4<T>AVX2x<c> (c = ncols): the decoded
// AVX2 group w against ncols activation rows, in dotQx_1's order.
func qx1Gemm2Go(ncols int) qx1GemmFunc {
	return func(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int) {
		ws := unsafe.Slice(w, nb*qx1DecBlock2)
		xs := unsafe.Slice(x, (ncols-1)*xstride+nb*q8_1Size)
		ss := unsafe.Slice(s4, (nb-1)*sstride+16*ncols)
		ds := unsafe.Slice(dx, (nb-1)*sstride+4*ncols)
		os := unsafe.Slice(out, (ncols-1)*ostride+4)
		le := binary.LittleEndian
		for i := 0; i < ncols; i++ {
			for r := 0; r < 4; r++ {
				var acc [8]float32
				var summ float32
				for b := 0; b < nb; b++ {
					d := ws[b*qx1DecBlock2 : (b+1)*qx1DecBlock2]
					xq := xs[i*xstride+b*q8_1Size+4:]
					sx := math.Float32frombits(le.Uint32(ss[b*sstride+16*i:]))
					dxv := math.Float32frombits(le.Uint32(ds[b*sstride+4*i:]))
					dw := math.Float32frombits(le.Uint32(d[128+4*r:]))
					mw := math.Float32frombits(le.Uint32(d[144+4*r:]))
					summ += float32(mw * sx)
					var s [8]int32
					for e := 0; e < 32; e++ {
						s[e/4] += int32(d[32*r+e]) * int32(int8(xq[e]))
					}
					laneFMA(&acc, &s, dw*dxv)
				}
				os[i*ostride+r] = hsum8(&acc) + summ
			}
		}
	}
}

// qx1GoKernels are the pure-Go twins of a type's AVX-512 kernels (avx2:
// of its AVX2 kernels).
func qx1GoKernels(five, avx2 bool) qx1Kernels {
	if avx2 {
		return qx1Kernels{gemm: [4]qx1GemmFunc{qx1Gemm2Go(1), qx1Gemm2Go(2)}, dec: qx1Dec2Go(five),
			rows: 4, cols: 2, decBlock: qx1DecBlock2, minRows: qx1GemmMinRows2}
	}
	k := qx1Kernels{dec: qx1DecGo(five), rows: 8, cols: 4, decBlock: qx1DecBlock, minRows: qx1GemmMinRows}
	for c := 1; c <= 4; c++ {
		k.gemv[c-1] = qx1GemvGo(five, c)
		k.gemm[c-1] = qx1GemmGo(c)
	}
	return k
}

// packQx1Row packs activation row i's scales after quantizeRow.
func (mt *matmulTask) packQx1Row(i int) {
	qx1PackRow(mt.x40, mt.xq[i*mt.xqStride:(i+1)*mt.xqStride], mt.k/32, i, mt.m)
}

// qx1Scales returns the scale-pack pointers of activation row i (a
// multiple of 2 or 4) and the pack's block stride.
func (mt *matmulTask) qx1Scales(i int) (s4, dx *byte, sstride int) {
	return qx1ScalesAt(mt.x40, mt.k/32, i)
}

// runQx1Gemv computes the outputs of weight-row groups [lo,hi) (16 rows
// each) 4 rows and up to 4 activation rows per kernel call; for more than
// 4 activation rows a tile of weight rows stays in cache across them.
func (mt *matmulTask) runQx1Gemv(lo, hi, worker int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/32, mt.xqStride
	j0, j1 := lo*w16Rows, min(hi*w16Rows, n)
	j4 := j0 + (j1-j0)&^3
	tile := j4 - j0
	if mt.m > 4 {
		tile = max(4, (256<<10)/rb) &^ 3
	}
	k := &mt.pl.qx1.gemv
	for t0 := j0; t0 < j4; t0 += tile {
		t1 := min(t0+tile, j4)
		for i := 0; i < mt.m; i += 4 {
			c := min(4, mt.m-i)
			s4, dx, ss := mt.qx1Scales(i)
			for j := t0; j < t1; j += 4 {
				k[c-1](&mt.w[j*rb], rb, &mt.xq[i*xs], xs, s4, dx, ss, nb, &mt.out[i*n+j], n)
			}
		}
	}
	mt.dotRows(j4, j1, worker)
}

// runQx1Gemm computes the outputs of weight-row groups [lo,hi) (16 rows
// each): tiles of up to qx1GemmTile decoded bytes, a unit of rows (8, AVX2:
// 4) decoded at a time into the worker's scratch, then every few
// activation rows (4, AVX2: 2) against each decoded unit (those activation
// rows stay in L1, the tile in L2).
func (mt *matmulTask) runQx1Gemm(lo, hi, worker int) {
	k := &mt.pl.qx1
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/32, mt.xqStride
	j0, j1 := lo*w16Rows, min(hi*w16Rows, n)
	ju := j0 + (j1-j0)/k.rows*k.rows
	unit := nb * k.decBlock
	tile := max(1, min((ju-j0)/k.rows, qx1GemmTile/unit)) // units
	if need := tile*unit + 64; cap(mt.kdec[worker]) < need {
		mt.kdec[worker] = make([]byte, need)
	}
	buf := mt.kdec[worker][:tile*unit+64]
	buf = buf[(64-uintptr(unsafe.Pointer(&buf[0]))%64)%64:] // 64-byte aligned units
	for t0 := j0; t0 < ju; t0 += tile * k.rows {
		t1 := min(t0+tile*k.rows, ju)
		for j := t0; j < t1; j += k.rows {
			k.dec(&mt.w[j*rb], rb, nb, &buf[(j-t0)/k.rows*unit])
		}
		for i := 0; i < mt.m; i += k.cols {
			c := min(k.cols, mt.m-i)
			s4, dx, ss := mt.qx1Scales(i)
			for j := t0; j < t1; j += k.rows {
				k.gemm[c-1](&buf[(j-t0)/k.rows*unit], &mt.xq[i*xs], xs, s4, dx, ss, nb, &mt.out[i*n+j], n)
			}
		}
	}
	mt.dotRows(ju, j1, worker)
}
