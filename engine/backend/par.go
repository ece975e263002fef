package backend

// Parallel elementwise execution.
//
// In a prefill step the matmuls run on all kernel threads, but the
// elementwise ops between them (SiLU's Logistic and Mul, residual Adds, the
// RMSNorm squares and their float64 conversion, RoPE, the f16 conversion of
// K/V rows) ran on the calling goroutine alone: with 2 threads about a
// quarter of the wall time of a 128-token llama-1b prefill (Amdahl). Large
// ops are therefore split into contiguous chunks over the backend's
// kernels.Pool; every output element is computed by the same code as in the
// serial path, so results are identical bit for bit whatever the split.

// Thresholds (output elements) from which an op is split over the pool,
// placed with BenchmarkElementwise (threads=2 against threads=1, on a 2-core
// VM shared with other jobs). A split costs the dispatch to, and the wait for,
// the other worker: ~2 µs when it is spinning on an idle core, but 20-30 µs
// when the machine is oversubscribed and it has to be scheduled again.
// Cheap ops (a Mul or a convert costs ~0.7 ns per element) still lost at
// 65536 elements (53 against 47 µs) and won at 262144 (143 against 202 µs)
// there, so they split from 2^17 (until the measurement below): one-token
// (decode) tensors never did, prefill residuals ([T, 2048]) from T = 64,
// feed-forward ones ([T, 8192]) from T = 16. Logistic and the other transcendental ops cost 4-15 ns per
// element and won from 8192 elements (16 against 29 µs) up.
//
// On the quiet 2-core AMX VM (2026-12-06) the cheap threshold moved down to
// 2^15: qwen2-0.5b's [128, 896] prefill tensors (114 688 elements) ran
// serially, and the second thread sat idle through ~14 % of a 2-thread
// prefill step (pprof with the pool workers labelled) in the RMSNorm
// squares, float64 conversions and sums, the residual and bias adds and the
// K/V rows' f16 conversion. From 2^15, 128-token prefill, 2 threads, best of
// 8–15: qwen2-0.5b q8_0 949–955 → 992–1003 tok/s, q4_k_m 863–869 → 888–923,
// gemma3-1b q4_0 536–542 → 547–555, llama-1b q4_0 427–440 → 438–441. A
// one-token step's tensors stay below it (an 8B's 14 336-wide FFN row too).
const (
	parMinCheap = 1 << 15
	parMinHeavy = 1 << 13
	// parBlock keeps chunk boundaries on 64-element multiples so that two
	// workers never write the same cache line (elements are at most 8 bytes).
	parBlock = 64
)

// parBody computes the output elements [lo, hi) of node n (the unit is an
// element, or a row where the caller says so).
type parBody func(n *node, ins []*Buffer, out *Buffer, lo, hi int)

// parJob is the per-state, per-node dispatch record. Its closure fn is made
// once and reads the op's operands from the record, so a dispatch allocates
// nothing (a closure over the exec's locals would escape into the pool).
type parJob struct {
	n     *node
	ins   []*Buffer
	out   *Buffer
	size  int
	block int
	body  parBody
	fn    func(lo, hi int)
}

func (j *parJob) run(lo, hi int) {
	j.body(j.n, j.ins, j.out, min(lo*j.block, j.size), min(hi*j.block, j.size))
}

// parallel runs body over [0, size) units of node n: serially when size is
// below minSize (or the backend has one thread), else in chunks of block
// units (the last one shorter) over the kernel pool.
func parallel(st *state, n *node, ins []*Buffer, out *Buffer, size, minSize, block int, body parBody) {
	if size < minSize || size < 2*block || st == nil || st.e == nil || st.e.b.threads < 2 {
		body(n, ins, out, 0, size)
		return
	}
	j, _ := st.memo[n.id].(*parJob)
	if j == nil {
		j = &parJob{}
		j.fn = j.run
		st.memo[n.id] = j
	}
	j.n, j.ins, j.out, j.size, j.block, j.body = n, ins, out, size, block, body
	blocks := (size + block - 1) / block
	grain := max(1, minSize/2/block)
	st.e.b.kern.For(blocks, grain, j.fn)
	// Do not pin the run's buffers in the pooled state.
	j.n, j.ins, j.out, j.body = nil, nil, nil, nil
}

// parElems is parallel over output elements with the cheap-op threshold.
func parElems(st *state, n *node, ins []*Buffer, out *Buffer, size int, body parBody) {
	parallel(st, n, ins, out, size, parMinCheap, parBlock, body)
}
