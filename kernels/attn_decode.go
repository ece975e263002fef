package kernels

import (
	"unsafe"

	"dayi/weights"
)

// Decode attention at depth (one query row over a long f16 cache).
//
// runQuad gives each worker whole GQA groups: it scores one kv head's keys,
// then sums p·V over its values, for every position. In the cache
// [S, Hkv, D] a kv head's rows lie Hkv·D·2 bytes apart (1 KiB on llama-1b,
// 2 KiB on Llama-3-8B), so each group reads two or four lines out of every
// row, once for K and once for V, and the p·V tile visits the rows of one
// lane 64 positions apart: the cache came from memory at 2.4-2.7 GB/s
// (BenchmarkAttentionDecodeStream, one or two threads alike), and at depth
// 4096 attention took ~36 % of an 8B decode step.
//
// attentionDecode orders the same arithmetic by memory instead:
//  1. scores: items are chunks of decodeChunk positions, read in memory
//     order (every kv head of a position is one run of the cache) with the
//     rows decodeAhead positions on prefetched into L2; the chunk's V rows
//     are copied to compact rows per kv head (vc), and its keys, now in
//     L2, are scored group by group (kScoresH16V4, as runQuad);
//  2. softmax and f16 probabilities per head (kSoftmax, kProbsH16);
//  3. p·V per group of 4 heads over vc (kPVTile4 and the lane reduction,
//     as runQuad): a kv head's rows D apart, not Hkv·D.
//
// Every score, probability and lane sum is computed by the same kernels on
// the same operands in the same order as in runQuad (groups of 4 heads per
// kv head) or the per-row path (others, head by head: gemma3's 2), so the
// output is the same bit for bit (TestAttentionDecodeMatchesRows). Measured on the Intel
// dev VM (BenchmarkAttentionDecodeStream, caches from memory, one thread):
// llama-1b at 2048 positions 1.73 -> 0.91 ms a layer, Llama-3-8B at 4096
// 6.7 -> 3.4 ms. With the cache hot in L2 (BenchmarkAttention, 1024
// positions) the copies make it slower (265 -> 345 µs), a case a decode
// step, which streams every layer's weights between two visits of a
// layer's cache, does not meet past decodeMinKV positions.
//
// vc holds one layer's V rows of the key range (8 MiB for Llama-3-8B at
// 4096 positions, 1/64 of its KV cache), kept by the pool.

// decodeChunk is the positions of one score item: 64 positions of every kv
// head are 64 KiB of f16 keys on llama-1b and 128 KiB on Llama-3-8B, well
// inside L2.
const decodeChunk = 64

// decodeMinKV is the smallest key range that takes attentionDecode: below
// it the cache stays in L2 between steps anyway and runQuad's one pool
// dispatch beats three.
const decodeMinKV = 256

// decodeAhead is how many positions ahead of the one being copied its
// rows are prefetched: 32 rows of K and V are 64-128 KiB in flight.
const decodeAhead = 32

// Decode phases (attnTask.phase).
const (
	phaseNone = iota
	phaseScores
	phaseSoftmax
	phasePV
)

// attentionDecode is Attention for one query over at least decodeMinKV
// keys of an f16 cache (see above); p.mu is held and at is set up.
func (p *Pool) attentionDecode(at *attnTask) {
	D, H := at.D, at.H
	n := decodeKeys(at.kvLen, at.pos0, at.win)
	jlo := min(at.kvLen, at.pos0+1) - n
	at.jlo, at.n = jlo, n
	// Scratch for the whole cache length at once: n grows by one every
	// token, and growing to fit would allocate anew every step. Untouched
	// pages of it cost no memory.
	if need := H*n + H*D; cap(p.dec) < need {
		p.dec = make([]float32, max(need, H*at.S+H*D))
	}
	at.s, at.qf = p.dec[:H*n], p.dec[H*n:H*n+H*D]
	if need := at.Hkv * n * D; cap(p.decV) < need {
		p.decV = make([]uint16, max(need, at.Hkv*at.S*D))
	}
	at.vc = p.decV[:at.Hkv*n*D]
	for i, v := range at.q[:H*D] {
		at.qf[i] = weights.FP16ToFP32(weights.FP32ToFP16(v))
	}
	// Groups of 4 query heads on one kv head share each K and V row's
	// conversion (kScoresH16V4, kPVTile4, as runQuad); other groupings
	// (gemma3's 2 heads per kv head) go head by head as the per-row path
	// does (kScoresH16V, pvH16Lanes).
	at.quad = (H/at.Hkv)%4 == 0 && D%64 == 0 && kScoresH16V4 != nil && kPVTile4 != nil
	at.phase = phaseScores
	p.run(at, (n+decodeChunk-1)/decodeChunk, 1)
	at.phase = phaseSoftmax
	p.run(at, H, 1)
	at.phase = phasePV
	if at.quad {
		p.run(at, H/4, 1)
	} else {
		p.run(at, H, 1)
	}
}

// runDecode runs items lo..hi of the current decode phase.
func (at *attnTask) runDecode(lo, hi, worker int) {
	D, H, n := at.D, at.H, at.n
	group := H / at.Hkv
	stride := at.Hkv * D
	switch at.phase {
	case phaseScores:
		tmp := at.p.floatScratch(worker, 4*decodeChunk)
		for c := lo; c < hi; c++ {
			j0 := c * decodeChunk
			m := min(decodeChunk, n-j0)
			// Read the chunk's rows in memory order (every kv head of a
			// position is one run of the cache), prefetching
			// decodeAhead rows ahead, and copy V into compact rows per
			// kv head, vc[g][j], for phase PV: in the cache one kv
			// head's rows are stride apart, which maps them onto a few
			// cache sets. The keys are then scored from L2.
			for j := range m {
				row := (at.jlo + j0 + j) * stride
				if j0+j+decodeAhead < n {
					ahead := row + decodeAhead*stride
					prefetchL2((*byte)(unsafe.Pointer(&at.kf16[ahead])), 2*stride)
					prefetchL2((*byte)(unsafe.Pointer(&at.vf16[ahead])), 2*stride)
				}
				for g := range at.Hkv {
					copy(at.vc[(g*n+j0+j)*D:(g*n+j0+j+1)*D], at.vf16[row+g*D:row+(g+1)*D])
				}
			}
			if !at.quad {
				for h := range H {
					kScoresH16V(at.s[h*n+j0:h*n+j0+m], at.kf16[((at.jlo+j0)*at.Hkv+h/group)*D:], stride, at.qf[h*D:(h+1)*D], at.scale)
				}
				continue
			}
			for h0 := 0; h0 < H; h0 += 4 {
				kScoresH16V4(tmp[:4*m], m, at.kf16[((at.jlo+j0)*at.Hkv+h0/group)*D:], stride, at.qf[h0*D:], D, D, at.scale)
				for r := range 4 {
					copy(at.s[(h0+r)*n+j0:(h0+r)*n+j0+m], tmp[r*m:(r+1)*m])
				}
			}
		}
	case phaseSoftmax:
		for h := lo; h < hi; h++ {
			s := at.s[h*n : (h+1)*n]
			kProbsH16(s, float32(1/kSoftmax(s)))
		}
	case phasePV:
		nkv := ggmlNKV(at.kvLen, at.S)
		const lanes = 64 // T == 1: ggml_vec_dot_f16's order (f16Order)
		pvs := at.p.floatScratch(worker, 4*lanes*D+n/lanes+1)
		nIn := max(0, min(n, nkv&^(lanes-1)-at.jlo)) // positions in lanes
		if !at.quad {
			for h := lo; h < hi; h++ {
				vc := at.vc[h/group*n*D : (h/group+1)*n*D]
				pvH16Lanes(at.out[h*D:(h+1)*D], vc, D, at.s[h*n:(h+1)*n], at.jlo, nkv, lanes, pvs)
			}
			return
		}
		for qd := lo; qd < hi; qd++ {
			h0 := 4 * qd
			vc := at.vc[h0/group*n*D : (h0/group+1)*n*D]
			if nIn > 0 {
				kPVTile4(pvs, D, vc, D, at.s[h0*n:], n, nIn, at.jlo, lanes)
			}
			for r := range 4 {
				o := at.out[(h0+r)*D : (h0+r+1)*D]
				if nIn == 0 {
					clear(o)
				} else {
					kReduceLanes64(o, pvs[r*lanes*D:(r+1)*lanes*D])
				}
				if nIn < n {
					kPVTail(o, vc[nIn*D:], D, at.s[(h0+r)*n+nIn:(h0+r+1)*n])
				}
			}
		}
	}
}

// decodeKeys is the number of keys a query at pos sees (Attention's range).
func decodeKeys(kvLen, pos, window int) int {
	hi := min(kvLen, pos+1)
	lo := 0
	if window > 0 {
		lo = max(0, pos+1-window)
	}
	return hi - lo
}
