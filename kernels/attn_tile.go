package kernels

import "dayi/weights"

// Prefill attention over an f16 cache. When both of llama.cpp's f16
// matmuls take tinyBLAS's order (T >= 2 queries: f16Order), the score of
// query i and key j depends only on q_i and k_j (16 lanes over the head
// dimension, reduce16) and the output of query i only on its
// probabilities and V, position j in lane j%16 (pvH16Lanes). So queries
// can share a pass over K and V without changing a bit: runBlocked gives
// each work item one kv head and tileRows query rows, which keeps that
// head's K and V rows in cache for all the heads of its GQA group and all
// the rows of the block (row by row, every query re-read the whole cache
// range from memory: 75 % of a 4 k-token prefill went there), and where
// the AVX-512 tiles exist it runs 4 query rows at once through them.

// tileRows is the number of query rows of one blocked work item (8 tiles
// of 4 rows per head of the group): more rows share each compact K/V copy,
// fewer leave more items to balance (16 and 32 measured within noise of
// each other on llama-1b heads; 32 was faster on MedGemma-4B's).
const tileRows = 32

var (
	// kScoresTile4 scores 4 queries against n keys (scoresTile4Go's
	// contract); nil where no tile kernel exists.
	kScoresTile4 func(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32)
	// kPVTile4 is pvTile4Go's lane sums for 4 queries.
	kPVTile4 func(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int)
	// kReduceLanes16 folds 16 lane rows as reduceLanes16 does, and
	// kReduceLanes64 64 rows as reduceLanes4x16.
	kReduceLanes16 = reduceLanes16
	kReduceLanes64 = reduceLanes4x16
)

// blockOrder maps work item b of nb query blocks to the block it runs:
// 0, nb-1, 1, nb-2, … A causal block's cost grows with its position, and
// the pool hands each worker a contiguous range of items, so alternating
// cheap and dear blocks gives every range about the same work.
func blockOrder(b, nb int) int {
	if b%2 == 0 {
		return b / 2
	}
	return nb - 1 - b/2
}

// tileScratch is the scratch runBlocked needs next to row's: 4 score rows
// of kvLen+4, the queries in both layouts and the lane sums of 4 queries.
func (at *attnTask) tileScratch() int { return 4*(at.kvLen+4) + 8*at.D + 64*at.D }

// runBlocked runs items of one kv head g and one block of tileRows query
// rows: every head of g's group over those rows, in tiles of 4 rows where
// the tile kernels exist (D a multiple of 64), row by row otherwise.
func (at *attnTask) runBlocked(lo, hi, worker int) {
	D, group := at.D, at.H/at.Hkv
	nb := (at.T + tileRows - 1) / tileRows
	rs := at.rowScratch()
	sc := at.p.floatScratch(worker, rs+at.tileScratch())
	rowSc, t := sc[:rs], sc[rs:]
	nmax := at.kvLen + 4
	tl := tileBufs{
		s:   t[:4*nmax],
		qi:  t[4*nmax : 4*nmax+4*D],
		qr:  t[4*nmax+4*D : 4*nmax+8*D],
		acc: t[4*nmax+8*D:],
	}
	tiles := kScoresTile4 != nil && kPVTile4 != nil && D%64 == 0
	for item := lo; item < hi; item++ {
		g, b := item/nb, blockOrder(item%nb, nb)
		i0, i1 := b*tileRows, min(at.T, (b+1)*tileRows)
		var kv kvRows
		if tiles {
			kv = at.compactKV(g, i0, i1, worker)
		}
		for h := g * group; h < (g+1)*group; h++ {
			i := i0
			if tiles {
				for ; i+4 <= i1; i += 4 {
					at.tile4(i, h, &tl, nmax, kv)
				}
			}
			for ; i < i1; i++ {
				at.row(i, h, rowSc)
			}
		}
	}
}

// kvRows locates the K and V rows of one kv head: position j at
// k[(j-base)*stride+off:][:D] (and v alike).
type kvRows struct {
	k, v              []uint16
	stride, base, off int
}

// compactMax bounds the f16 elements of one compact K (or V) copy per
// worker (4 MiB): beyond it the rows are read in place.
const compactMax = 1 << 21

// compactKV copies kv head g's K and V rows that query rows i0..i1-1 attend
// to into the worker's contiguous scratch. In the cache they lie Hkv*D
// apart (1 KiB for llama-1b), a stride that maps every row to the same few
// sets of L1 and L2, so the 16 and more passes of a block over them missed
// cache (scoresTile4 measured 3.1 ns a score on such rows, 1.9 on
// contiguous ones).
func (at *attnTask) compactKV(g, i0, i1, worker int) kvRows {
	D, Hkv := at.D, at.Hkv
	inPlace := kvRows{k: at.kf16, v: at.vf16, stride: Hkv * D, off: g * D}
	lo, hi := 0, min(at.kvLen, at.pos0+i1)
	if at.win > 0 {
		lo = max(0, at.pos0+i0+1-at.win)
	}
	n := hi - lo
	if n <= 0 || n*D > compactMax {
		return inPlace
	}
	buf := at.p.halfScratch(worker, 2*n*D)
	kc, vc := buf[:n*D], buf[n*D:]
	for j := lo; j < hi; j++ {
		src := (j*Hkv + g) * D
		copy(kc[(j-lo)*D:(j-lo+1)*D], at.kf16[src:src+D])
		copy(vc[(j-lo)*D:(j-lo+1)*D], at.vf16[src:src+D])
	}
	return kvRows{k: kc, v: vc, stride: D, base: lo}
}

// tileBufs is tile4's scratch: s holds 4 score rows of nmax (then their
// probabilities), qi the 4 f16-rounded queries interleaved by 16
// (scoresTile4Go's layout) and qr the same queries as rows, acc the 4×16
// lane rows of D.
type tileBufs struct{ s, qi, qr, acc []float32 }

// tile4 computes query rows i0..i0+3 of head h, bit for bit as row does:
// the 4 rows are scored over the union of their key ranges, each softmax
// runs over its own range, and probabilities outside it are 0, which adds
// nothing to a lane sum.
func (at *attnTask) tile4(i0, h int, tl *tileBufs, nmax int, kv kvRows) {
	D := at.D
	stride := kv.stride
	var jlo, jhi [4]int
	for r := range 4 {
		pos := at.pos0 + i0 + r
		jhi[r] = min(at.kvLen, pos+1)
		if at.win > 0 {
			jlo[r] = max(0, pos+1-at.win)
		}
	}
	lo, hi := jlo[0], jhi[3] // both grow with r
	if hi <= lo {
		for r := range 4 {
			clear(at.out[((i0+r)*at.H+h)*D:][:D])
		}
		return
	}
	n := hi - lo
	off := (lo-kv.base)*stride + kv.off
	// The queries rounded to f16 as ggml's F16 matmul converts them
	// (kProbsH16 with 1 is that rounding), then interleaved by 16.
	for r := range 4 {
		copy(tl.qr[r*D:(r+1)*D], at.q[((i0+r)*at.H+h)*D:][:D])
	}
	kProbsH16(tl.qr[:4*D], 1)
	for r := range 4 {
		for c := 0; c < D; c += 16 {
			copy(tl.qi[c*4+r*16:c*4+r*16+16], tl.qr[r*D+c:r*D+c+16])
		}
	}
	n4 := n &^ 3
	if n4 > 0 {
		kScoresTile4(tl.s, nmax, kv.k[off:], stride, n4, tl.qi, D, at.scale)
	}
	if n4 < n {
		for r := range 4 {
			kScoresH16(tl.s[r*nmax+n4:r*nmax+n], kv.k[off+n4*stride:], stride, tl.qr[r*D:(r+1)*D], at.scale)
		}
	}
	// Probabilities in place, 0 outside each row's own range.
	for r := range 4 {
		row := tl.s[r*nmax : r*nmax+n]
		a, b := jlo[r]-lo, jhi[r]-lo
		if b <= a {
			clear(row)
			continue
		}
		s := row[a:b]
		inv := float32(1 / kSoftmax(s))
		kProbsH16(s, inv)
		clear(row[:a])
		clear(row[b:])
	}
	kPVTile4(tl.acc, D, kv.v[off:], stride, tl.s, nmax, n, lo, 16)
	for r := range 4 {
		o := at.out[((i0+r)*at.H+h)*D:][:D]
		if jhi[r] <= jlo[r] {
			clear(o)
			continue
		}
		kReduceLanes16(o, tl.acc[r*16*D:(r+1)*16*D])
	}
}

// scoresTile4Go sets s[r*sstride+j] = (q_r·k_j)*scale for r < 4 and j < n,
// each dot product in scoresH16Go's order (lane e%16, reduce16), where
// k_j = k[j*kstride:][:d] and the queries are interleaved by 16:
// q_r[e] = q[(e/16*4+r)*16+e%16] (the tile kernel reads 4 queries' 16
// values from one 256-byte line). The twin of scoresTile4.
func scoresTile4Go(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32) {
	for r := range 4 {
		for j := 0; j < n; j++ {
			kj := k[j*kstride : j*kstride+d]
			var acc [16]float32
			for e := range d {
				acc[e&15] += weights.FP16ToFP32(kj[e]) * q[(e>>4*4+r)*16+e&15]
			}
			s[r*sstride+j] = reduce16(&acc) * scale
		}
	}
}

// pvTile4Go sets the lane sums of 4 queries over lanes (16 or 64) lanes:
// acc[(r*lanes+l)*d+e] = sum over positions i < n with (lane0+i)%lanes ==
// l, in order i, of p[r*pstride+i]*v_i[e], where v_i = v[i*vstride:][:d]
// (p holds f16 values, so products are exact). The twin of pvTile4 and
// pvTile4L64; kReduceLanes16 (kReduceLanes64) of query r's rows is then
// pvH16Lanes' lane total.
func pvTile4Go(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int) {
	clear(acc[:4*lanes*d])
	for i := 0; i < n; i++ {
		l := (lane0 + i) & (lanes - 1)
		vi := v[i*vstride : i*vstride+d]
		for r := range 4 {
			pr := p[r*pstride+i]
			row := acc[(r*lanes+l)*d : (r*lanes+l+1)*d]
			for e, x := range vi {
				row[e] += pr * weights.FP16ToFP32(x)
			}
		}
	}
}
