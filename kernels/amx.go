package kernels

// AMX-INT8 prefill for q4_0, q5_0, q8_0 (gemm16amx_amd64.s) and q4_K
// (gemmk16amx_amd64.s).
//
// On CPUs with Advanced Matrix Extensions (Intel Sapphire Rapids and
// later) one TDPBSUD multiplies a 16×64-byte tile of signed bytes by a
// 64×16 tile of unsigned bytes in VNNI order into a 16×16 int32 tile: 16k
// multiply-adds, where VPDPBUSD does 64. gemm16's layouts already have the
// tile shapes: a decoded 16-row weight block (decode16: slice g = bytes
// 4g..4g+3 of rows 0..15) is exactly the "B" tile of one 32-value block
// (8 rows of 64 bytes), and 16 pack40 activation rows, xstride bytes apart,
// are an "A" tile of 16 rows × 32 bytes. The kernel first turns the
// group's u = q + c back into signed q in place, so TDPBSSD gives Σq·x
// with no bias to add. The scales are per 32-value block
// in both operands, so the tile product runs one block at a time (K = 32,
// as ggml-cpu's AMX path does: ggml/src/ggml-cpu/amx/mmq.cpp, tile config
// "16-16-32"); each block's C tile is stored and folded into 16×16 float
// accumulators with AVX-512 in gemm16Go's order: acc = fma(float(s),
// d_w·d_x, acc) with s = Σq·x, the integer gemm16Go's s = Σu·x + bias
// equals. So the AMX path is bit for bit the VNNI path (TestGemm16AMX).
//
// The kernels take two weight groups and two activation groups at a time
// (four C tiles, the 2×2 blocking of ggml's tinygemm_kernel_amx), with the
// accumulators in scratch memory, as four tiles' 64 do not fit the
// registers (not in out: with rows 8 KiB apart, n = 2048, they all fell
// into two L1 sets and llama-1b's prefill ran at 60 %).
// The tile product is not the limit; measured on the 2-core AMX VM of
// 2026-12-06 by removing parts of the kernel (k = 2048, 2 weight groups,
// 64 activation rows, 512 tile products): loads and TDPBSSD alone 4.0 µs,
// with the tile stores 8.2 µs, the fold alone 6.5 µs, everything 11.3 µs.
// Each C tile costs a 1 KiB TILESTORED and a fold of 16 × (convert,
// multiply, FMA) on the AVX-512 ports; K = 32 per product (one q8_0 block,
// as the scales are per block) uses half of what a TDPBSSD could take.
// The 2×2 blocking issues four products per store batch where one C tile
// per block (the previous kernel, registers as accumulators) made every
// tile store hold back the next block's tile loads: per tile product
// 23.7 → 23.2 ns at k = 896, qwen2-0.5b q8_0 prefill +3 % (1 thread).
//
// A q8_0 Rows16 group needs no decode at all (gemm16AMXR16Q8W*): its block
// tiles (rows16.go) are 16 f16 d_w followed by 8 chunks of 64 bytes, chunk
// c bytes 4c..4c+3 of each row's signed q — the B tile TDPBSSD takes, read
// where it lies; the fold converts d_w with one VCVTPH2PS. Only the rows
// left over from the groups of 16 (m not a multiple of 16) decode the
// group for the VNNI kernels.
//
// q4_K (gemmk16amx_amd64.s) runs the same way per 32-value sub-block: the
// decoded nibbles are unsigned and the activations signed (TDPBSUD), and
// the fold follows gemmK16Go per 64-value chunk: isum = C_s0·sc_s0 +
// C_s1·sc_s1 is computed in float, exactly (each product and the sum are
// integers below 2^24), the mins with VPDPWSSD, and the second float
// accumulator lives in the scratch, as 16 accumulators of each kind do
// not fit the 32 vector registers. q6_K's 16-value scales and q5_K's
// dotK order are not done.
//
// Linux grants the tile data state per process on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); the kernel
// configures the tiles on entry and releases them on return, because a
// goroutine may move to another thread between calls. DAYI_AMX=0 turns the
// path off (A/B measurements).

// amx16Func is a gemm16 AMX kernel (gemm16amx_amd64.s): one or two
// weight groups of 16 rows, wgstride bytes apart, against groups groups of
// 16 packed activation rows.
type amx16Func func(w *byte, wgstride int, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int)

// amx16Kernels are the AMX kernels of one weight type and layout: two
// takes two weight groups at once, one a single group. inPlace says they
// read the weight groups as stored (q8_0 Rows16, whose block tiles are
// already B tiles); otherwise they take the groups g16dec decoded, and
// leave them signed. The zero value: no AMX.
type amx16Kernels struct {
	two, one amx16Func
	inPlace  bool
}

// amxCbufBytes is the scratch of one gemm16AMX call: the C tiles (two
// sets of four 16×16 int32 tiles: block b+1's are stored while block b's
// are folded), the float accumulators (32 rows of 32), and room to align
// it to a cache line.
const amxCbufBytes = 12*1024 + 64

// amxKCbufBytes is gemmK16AMXQ4K's scratch: two chunks of two C tiles
// (4 KiB), the 16×16 float min accumulators (1 KiB), cache-line aligned.
const amxKCbufBytes = 5*1024 + 64
