package kernels

// Small batches on Rows16 groups.
//
// A speculative verification step (k proposed tokens in one step) and a
// continuous batch of a few streams multiply every weight matrix by 2..16
// activation rows. Decode is bound by reading the weights, so such a step
// should cost little more than one row. It did not: from r16MaxGemvCols+1
// rows on, each 16-row group was decoded into gemm16's slice layout
// (decR16*, writing twice the group's bytes to scratch) before gemm16 ran,
// and BenchmarkVerifyStep on llama-1b q4_0 measured a 4-row step at 3.2 and
// a 16-row step at 10.9 one-row steps, with decR16Q4_0 and gemm16x6 at the
// top of the profile. The multi-row decode kernels (rows16m_amd64.s: q4_0,
// q8_0 for 4 and 2 rows; rows16km_amd64.s: q4_K for 2 rows) load and split
// each tile once and run it against the activation rows in registers, the way llama.cpp's repacked q4_0 GEMM runs a block
// against 4 activation rows (ggml-cpu repack.cpp, ggml_gemm_q4_0_8x8_q8_0
// over block_q8_0x4), so batches up to r16MaxGemvmRows never decode a group.
// They keep the one-row kernels' float order per row, so every batch size
// gives bit for bit what one-row decode gives (and, for q4_0/q8_0, gemm16).
// BenchmarkRows16Multi (2048×2048, one thread, min of 3 alternating runs on
// a loaded 2-core host) put them ahead of decode+gemm at every m ≤ 16:
// q4_0 m=2/4/8/16 72/105/204/407 µs against 154/190/271/434, q4_K
// 72/134/265/515 against 212/240/388/566 (m=1: 65 and 63).

// r16MaxGemvmRows is the largest batch that takes the multi-row decode
// kernels where they exist (q4_0 and q8_0 with AVX-512 VNNI); larger ones
// decode each group once for gemm16, which pays when the group is reused
// for many rows (prefill).
const r16MaxGemvmRows = 16

// gemvmFunc is a multi-row Rows16 decode kernel: the group at w (nb tiles)
// times activation rows x, x+xs, ... (pack40 layout); row c's 16 results go
// to out[c*ostride:].
type gemvmFunc func(w, x *byte, xs, nb int, out *float32, ostride int)

// runR16Gemvm computes the outputs of Rows16 groups [lo,hi) for all m
// activation rows, 4 rows per kernel call (where the type has a 4-row
// kernel), then 2, then 1.
func (mt *matmulTask) runR16Gemvm(lo, hi, _ int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/mt.t.BlockSize(), mt.x40Step
	for g := lo; g < hi; g++ {
		j := g * r16Rows
		c := 0
		if mt.pl.r16gemv4 != nil {
			for ; c+4 <= mt.m; c += 4 {
				mt.pl.r16gemv4(&mt.w[j*rb], &mt.x40[c*xs], xs, nb, &mt.out[c*n+j], n)
			}
		}
		for ; c+2 <= mt.m; c += 2 {
			mt.pl.r16gemv2(&mt.w[j*rb], &mt.x40[c*xs], xs, nb, &mt.out[c*n+j], n)
		}
		if c < mt.m {
			mt.pl.r16gemv(mt.w[j*rb:(j+r16Rows)*rb], mt.x40[c*xs:(c+1)*xs], nb, mt.out[c*n+j:c*n+j+r16Rows])
		}
	}
}

// r16kMaxGemvmRows is r16MaxGemvmRows for q4_K, which has a 2-row kernel
// only (gemvR16x2Q4_K).
const r16kMaxGemvmRows = 16
