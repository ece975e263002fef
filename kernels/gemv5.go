package kernels

// Decode (m = 1) of q5_0 weights, 4 rows per call (gemv5_amd64.s), in
// dotQ5_0's order. Q4_K_M files of models whose widths are not multiples
// of 256 (qwen2-0.5b, gemma3-1b) are mostly q5_0 (llama-quantize's
// fallback for q4_K), so this is their main decode kernel.

// packQ5 packs the q8_0 activation row x (nb blocks) for q5_0Gemv4: nb/2
// pairs of blocks in packQ8's layout, block 2p in half 0 and 2p+1 in half
// 1 of pair slot p (an odd last block stays in x for the caller).
func packQ5(dst, x []byte, nb int) {
	for p := 0; p < nb/2; p++ {
		packQ8(dst[p*xpBlockSize:], 0, x[2*p*q8_0Size:], 1, 16)
		packQ8(dst[p*xpBlockSize:], 1, x[(2*p+1)*q8_0Size:], 1, 16)
	}
}

// runQ5Gemv computes output columns [lo,hi) of a q5_0 decode matmul: 4
// rows at a time in assembly, an odd last block and the lane reduction in
// Go (q5_0Lanes, reduce16), leftover rows by the single-row dot.
func (mt *matmulTask) runQ5Gemv(lo, hi, worker int) {
	rb, nb := mt.rowBytes, mt.k/32
	var acc [64]float32
	var xp *byte // nil when there is no whole pair (the kernel then only zeroes acc)
	if len(mt.xp) > 0 {
		xp = &mt.xp[0]
	}
	j := lo
	for ; j+4 <= hi; j += 4 {
		q5_0Gemv4(&mt.w[j*rb], rb, xp, nb/2, &acc)
		for r := 0; r < 4; r++ {
			a := (*[16]float32)(acc[16*r : 16*r+16])
			if nb%2 == 1 {
				b := nb - 1
				q5_0Lanes(a, 0, mt.w[(j+r)*rb+b*22:(j+r)*rb+b*22+22], mt.xq[b*q8_0Size:(b+1)*q8_0Size])
			}
			mt.out[j+r] = reduce16(a)
		}
	}
	for ; j < hi; j++ {
		mt.out[j] = mt.dot(j, 0, worker)
	}
}
