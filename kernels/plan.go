package kernels

import (
	"fmt"
	"strings"

	"dayi/weights"
)

// Kernel plans.
//
// Which kernels multiply a weight matrix depends on its type, its layout,
// its shape and the CPU, all known when the weight is bound, and on the
// activation batch m, known per call. As ggml-cpu does for repacked weights
// (repack.cpp: ggml_repack_get_optimal_repack_type picks a tensor_traits,
// i.e. a block type, its interleave and its gemv and gemm functions, once
// per tensor when the weight is set; forward_mul_mat then only splits the
// activation rows between gemm and gemv), NewPlan chooses everything but m
// once, and a call only takes the first of at most maxPaths paths whose
// minRows it reaches. The paths, with the float order of their outputs:
//
//	path          types (layout)             m              float order of an output
//	rows16-gemv   q4_0 q5_0 q8_0 (Rows16)    1..3 (all      per block b in order: acc = fma(float(isum_b),
//	                                         without VNNI)  d_w·d_x, acc) from 0 (llama.cpp's repacked
//	                                                        q4_0 GEMV/GEMM; rows16.go, gemm16.go)
//	rows16-avx2   q4_0 q5_0 q8_0 (Rows16,    all            same, bit for bit (rows16avx2: 1..4 rows per call
//	              AVX2 without AVX-512 VNNI)                on the tiles as stored; q5_0: 1..2)
//	rows16-gemvm  q4_0 q8_0 (Rows16)         2..16 (q8_0    same, 4 or 2 rows per tile load (rows16m.go)
//	                                         with AMX:
//	                                         2..15)
//	rows16-gemm16 q4_0 q5_0 q8_0 (Rows16)    >= 4 (q4_0,    same, through gemm16 (bit for bit equal)
//	                                         q8_0: >= 17,
//	                                         q8_0 with AMX:
//	                                         >= 16)
//	gemm16        q4_0 q5_0 q8_0 (GGUF)      >= 8           same as rows16 (gemm16.go)
//	  with AMX    (both gemm16 paths)        groups of 16   same, bit for bit: tiles of 16 activation rows run
//	                                         rows           on AMX-INT8 (amx.go), the rest as above
//	rows16k-gemv  q4_K q5_K q6_K (Rows16)    1..3           q4_K: per super-block acc = fma(float(isum),
//	                                                        d_w·d_x, acc), acc_min = fma(float(imin),
//	                                                        dmin_w·d_x, acc_min), out = acc - acc_min
//	                                                        (llama.cpp's repacked q4_K GEMV); q6_K: per
//	                                                        super-block acc = fma(float(isum), d_w·d_x, acc);
//	                                                        q5_K: dotK's order, as gemmk16 below
//	rows16k-gemvm q4_K (Rows16)              2..16          rows16k-gemv's, 2 rows per tile load (rows16m.go)
//	rows16k-gemmk16 q4_K q5_K q6_K (Rows16)  >= 4 (q4_K:    gemmK16Go's: q4_K folds per 64-element chunk
//	                                         >= 17)         (llama.cpp's repacked q4_K GEMM), q6_K per
//	                                                        super-block, q5_K in dotK's order (gemmk16.go)
//	gemmk16       q4_K q6_K (GGUF)           >= 16          gemmK16Go's, as rows16k-gemmk16
//	  with AMX    q4_K (both gemmk16 paths)  groups of 16   same, bit for bit: tiles of 16 activation rows run
//	                                         rows           on AMX-INT8 (amx.go), the rest as above
//	gemmk16       q5_K (GGUF)                >= 16          dotK's order, bit for bit (gemmk16.go: per
//	                                                        super-block acc += isum·(d_w·d_x), then
//	                                                        acc -= imin·(dmin_w·d_x), products rounded)
//	packed        q4_0 q8_0 (GGUF)           < 8            ggml's vec_dot order (dot.go: 8 float lanes per
//	                                                        block, reduced at the end), bit for bit
//	qx1gemv       q4_1 q5_1 (GGUF)           1..4           vec_dot order (dotQx_1: 8 float lanes per block,
//	                                                        hsum_float_8, plus the sequential m_w·s_x sum),
//	                                                        bit for bit (qx1.go: 4 rows, decoded in registers)
//	qx1gemm       q4_1 q5_1 (GGUF)           >= 5 (AVX2:    same, bit for bit (qx1.go: 8 rows, AVX2 4, decoded
//	                                         all)           once per matmul, × 4 (2) activation rows per call)
//	q5gemv        q5_0 (GGUF)                1              vec_dot order (dotQ5_0), bit for bit
//	kgemv         q4_K q5_K q6_K (GGUF)      < 16           dotK's order, bit for bit (dot.go)
//	kpacked       q2_K q3_K (GGUF)           all            dotK's order, bit for bit (gemmk.go)
//	  on AVX2     q4_K q6_K (GGUF)           >= 24          the same (gemmKx4A2: AVX2 hosts without AVX-512
//	              q5_K (GGUF)                all            VNNI, where the other K paths do not exist)
//	rows16k-avx2  q4_K q5_K (Rows16, AVX2    >= 2           rows16k-gemv's, bit for bit (rows16kavx2: 2 rows
//	              without AVX-512 VNNI)                     per call on the tiles as stored)
//	f16           f16 (GGUF)                 all            vec_dot order for m = 1, tinyBLAS order for
//	                                                        m >= 2 with k%16 = n%4 = 0 (f16TinyOrder)
//	dots          every type (GGUF)          the rest       vec_dot order: one weight row · one
//	                                                        activation row per call (dot)
//
// Every path but dots, qx1gemm and rows16-avx2 needs AVX-512 VNNI (f16: AVX-512
// F/BW/VL; q5_0's Rows16 assembly also BITALG, else its Go twins run);
// without it a GGUF weight takes dots (q4_1
// and q5_1: qx1gemm's AVX2 kernels where AVX2 is, for every batch) and a
// Rows16 weight rows16(k)-gemv through the pure-Go twins. Activations are always quantized to the type's vec_dot_type
// first (quantizeRow), as ggml-cpu's x86 build does.

// maxPaths bounds the paths of a plan (q5_0: gemm16, dots, q5gemv).
const maxPaths = 4

// path is one way to run a matmul: which activation packing follows the
// quantization of each activation row, and which runner computes the
// outputs.
type path struct {
	name     string
	minRows  int                                      // the smallest batch m this path takes
	run      func(mt *matmulTask, lo, hi, worker int) // phase 1 over units [lo,hi)
	pack     func(mt *matmulTask, i int)              // packs activation row i after quantizeRow; nil: none
	x40Step  int                                      // bytes per packed activation row in x40 (0: none)
	xpStride int                                      // bytes per row (or row pair, xpPairs) in xp (0: none)
	xpPairs  bool                                     // xp holds rows in pairs (packQ8)
	groups   bool                                     // units are groups of 16 weight rows, not rows
	x40Pad4  bool                                     // x40 holds m rounded up to 4 rows (qx1's scale pack)
	f16f     bool                                     // needs the f16 activations as float32 (x16f)
}

// Plan is the kernel choice for one n×k weight matrix of one type and
// layout on this CPU (see the table above). It is immutable and may be
// shared by any number of Pools and goroutines.
type Plan struct {
	t        weights.Type
	l        Layout
	act      actKind
	n, k     int
	rowBytes int
	xqStride int // bytes per quantized activation row (q8_0/q8_1/q8_K types)
	paths    [maxPaths]path
	np       int

	// The kernels the paths call.
	g16dec   func(w *byte, wstride, nb int, dst *byte)                                        // group of 16 rows -> gemm16/k16 layout
	g16bias  int32                                                                            // weight bias c (u = q + c) for pack40
	g16amx   amx16Kernels                                                                     // gemm16 on AMX tiles, 16 or 32 activation rows at a time (amx.go)
	k16k     [4]gemm16Func                                                                    // gemmK16 kernels for 1..4 columns
	k16amx   func(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte) // gemmk16 on AMX tiles (q4_K; amx.go)
	r16gemv  func(w, x []byte, nb int, out []float32)                                         // Rows16 decode kernel
	r16gemv4 gemvmFunc                                                                        // Rows16 decode kernel, 4 rows (rows16m.go)
	r16gemv2 gemvmFunc                                                                        // Rows16 decode kernel, 2 rows
	gk       gemmKernels                                                                      // packed kernels (q4_0/q8_0)
	r16a2    [4]gemm16Func                                                                    // Rows16 q4_0/q5_0/q8_0 kernels for 1..4 columns on AVX2 (rows16avx2)
	kgemv    func(w *byte, wstride int, x *byte, nb int, res *[4]float32)                     // q4_K/q6_K 4-row gemv
	r16kx2   func(w, x *byte, xstride, nb int, out *float32, ostride int, accm *float32)      // Rows16 q4_K/q5_K, 2 activation rows, AVX2 (rows16kavx2)
	kx4      func(w, x *byte, xstride, nb int, res *[4]float32)                               // kpacked: 4 activation rows (AVX-512 VNNI or AVX2)
	kx1      func(w, x *byte, nb int) float32                                                 // kpacked: 1 activation row
	qx1      qx1Kernels                                                                       // q4_1/q5_1 multi-row kernels
}

// NewPlan chooses the kernels for n×k weights of type t in layout l
// (LayoutRows16: as Repack made them, n a multiple of 16). It fails for
// types MatMul does not handle and for shapes the type cannot have.
func NewPlan(t weights.Type, l Layout, n, k int) (*Plan, error) {
	return newPlan(t, l, n, k, false)
}

// newPlan is NewPlan; perDot (benchmarks: the reference speed) leaves out
// every GGUF path but dots.
func newPlan(t weights.Type, l Layout, n, k int, perDot bool) (*Plan, error) {
	if l != LayoutGGUF && (l != LayoutRows16 || !r16Type(t) || n%r16Rows != 0) {
		return nil, fmt.Errorf("kernels: matmul %s: layout %d not supported for %d rows", t, l, n)
	}
	act, ok := vecDotType(t)
	if !ok {
		return nil, fmt.Errorf("kernels: matmul: weight type %s not supported", t)
	}
	if n < 0 || k <= 0 {
		return nil, fmt.Errorf("kernels: matmul %s: bad shape n=%d k=%d", t, n, k)
	}
	rs, err := t.RowSize(int64(k))
	if err != nil {
		return nil, fmt.Errorf("kernels: matmul %s weights: %w", t, err)
	}
	if (act == actQ8_0 || act == actQ8_1) && k%32 != 0 {
		return nil, fmt.Errorf("kernels: matmul %s: k=%d is not a multiple of 32", t, k)
	}
	pl := &Plan{t: t, l: l, act: act, n: n, k: k, rowBytes: int(rs), xqStride: actRowBytes(act, k)}
	x40 := k / 32 * x40BlockSize // pack40 rows (q4_0/q5_0/q8_0)
	xk := k / 256 * k16X         // packK16 rows (q4_K/q6_K)
	switch {
	case l == LayoutRows16 && r16KType(t):
		pl.r16gemv, pl.g16dec = r16kKernels(t, streamPrefetch)
		if !hasZVNNI && hasR16KA2(t) {
			// AVX2: two activation rows per call on the tiles as stored.
			pl.r16kx2 = r16kA2x2(t)
			pl.add(path{name: "rows16k-avx2", minRows: 2, run: (*matmulTask).runR16KA2,
				pack: (*matmulTask).packK16Row, x40Step: xk, groups: true})
		}
		k4, k2, multi := r16MultiKernels(t)
		if kk, ok := gemmK16Kernels(t); ok {
			pl.k16k = kk
			pl.k16amx, _ = gemmK16AMXKernel(t)
			min := r16MaxGemvCols + 1
			if multi {
				min = r16kMaxGemvmRows + 1
			}
			pl.add(path{name: "rows16k-gemmk16", minRows: min, run: (*matmulTask).runK16,
				pack: (*matmulTask).packK16Row, x40Step: xk, groups: true})
		}
		if multi {
			pl.r16gemv4, pl.r16gemv2 = k4, k2
			pl.add(path{name: "rows16k-gemvm", minRows: 2, run: (*matmulTask).runR16Gemvm,
				pack: (*matmulTask).packK16Row, x40Step: xk, groups: true})
		}
		pl.add(path{name: "rows16k-gemv", minRows: 1, run: (*matmulTask).runR16Gemv,
			pack: (*matmulTask).packK16Row, x40Step: xk, groups: true})
	case l == LayoutRows16 && !hasZVNNI && hasR16A2(t):
		pl.r16gemv, pl.g16dec = r16Kernels(t, streamPrefetch)
		pl.g16bias = r16Bias(t)
		pl.r16a2, _ = r16A2Kernels(t, streamPrefetch)
		pl.add(path{name: "rows16-avx2", minRows: 1, run: (*matmulTask).runR16A2,
			pack: (*matmulTask).pack40Row, x40Step: x40, groups: true})
	case l == LayoutRows16:
		pl.r16gemv, pl.g16dec = r16Kernels(t, streamPrefetch)
		pl.g16bias = r16Bias(t)
		k4, k2, multi := r16MultiKernels(t)
		if hasZVNNI {
			pl.g16amx = gemm16AMXKernels(t, l)
			min := r16MaxGemvCols + 1
			if multi {
				min = r16MaxGemvmRows + 1
				if pl.g16amx.inPlace {
					// q8_0 on AMX reads its tiles where they lie: one
					// group of 16 activation rows is one AMX pass with no
					// decode, 235 µs for a 2048×2048 step against the
					// multi-row VNNI kernel's 413 (BenchmarkRows16Multi,
					// this VM, one thread). Below 16 the leftover rows
					// would need the whole group decoded; q4_0 and q4_K
					// decode into tiles and gain nothing at 16.
					min = r16MaxGemvmRows
				}
			}
			pl.add(path{name: "rows16-gemm16", minRows: min, run: (*matmulTask).runGemm16,
				pack: (*matmulTask).pack40Row, x40Step: x40, groups: true})
		}
		if multi {
			pl.r16gemv4, pl.r16gemv2 = k4, k2
			pl.add(path{name: "rows16-gemvm", minRows: 2, run: (*matmulTask).runR16Gemvm,
				pack: (*matmulTask).pack40Row, x40Step: x40, groups: true})
		}
		pl.add(path{name: "rows16-gemv", minRows: 1, run: (*matmulTask).runR16Gemv,
			pack: (*matmulTask).pack40Row, x40Step: x40, groups: true})
	case perDot:
	default:
		if dec, bias, ok := gemm16Decoder(t); ok {
			pl.g16dec, pl.g16bias = dec, bias
			pl.g16amx = gemm16AMXKernels(t, l)
			pl.add(path{name: "gemm16", minRows: gemm16MinRows, run: (*matmulTask).runGemm16,
				pack: (*matmulTask).pack40Row, x40Step: x40, groups: true})
		}
		if kk, ok := gemmK16Kernels(t); ok {
			pl.k16k, pl.g16dec = kk, k16Decoder(t)
			pl.k16amx, _ = gemmK16AMXKernel(t)
			pl.add(path{name: "gemmk16", minRows: k16MinRows, run: (*matmulTask).runK16,
				pack: (*matmulTask).packK16Row, x40Step: xk, groups: true})
		}
		if t == weights.TypeQ5_0 && hasZVNNI {
			// Only m = 1 takes q5_0Gemv4; 2..gemm16MinRows-1 rows the dots.
			pl.add(path{name: "dots", minRows: 2, run: (*matmulTask).runDots})
			pl.add(path{name: "q5gemv", minRows: 1, run: (*matmulTask).runQ5Gemv,
				pack: (*matmulTask).packQ5Row, xpStride: k / 64 * xpBlockSize})
		}
		if qk, ok := qx1KernelsFor(t); ok {
			pl.qx1 = qk
			xs := k / 32 * qx1ScBlock
			pl.add(path{name: "qx1gemm", minRows: qk.minRows, run: (*matmulTask).runQx1Gemm,
				pack: (*matmulTask).packQx1Row, x40Step: xs, x40Pad4: true, groups: true})
			if qk.gemv[0] != nil {
				pl.add(path{name: "qx1gemv", minRows: 1, run: (*matmulTask).runQx1Gemv,
					pack: (*matmulTask).packQx1Row, x40Step: xs, x40Pad4: true, groups: true})
			}
		}
		if gk, ok := packedKernels(t); ok {
			pl.gk = gk
			pl.add(path{name: "packed", minRows: 1, run: (*matmulTask).runPacked,
				pack: (*matmulTask).packQ8Row, xpStride: k / 32 * xpBlockSize, xpPairs: true})
		}
		if act == actF16 && hasZ512 {
			pl.add(path{name: "f16", minRows: 1, run: (*matmulTask).runF16, f16f: true})
		}
		if hasKPacked(t) {
			// Decoding super-blocks once pays from kPackedMinRows rows on
			// where a kernel on raw blocks exists, always where none does.
			min := 1
			if hasDirectK(t) {
				min = kPackedMinRows
			}
			pl.kx4, pl.kx1 = kPackedKernels()
			pl.add(path{name: "kpacked", minRows: min, run: (*matmulTask).runKPacked})
		}
		if (t == weights.TypeQ4_K || t == weights.TypeQ5_K || t == weights.TypeQ6_K) && hasZVNNI {
			switch t {
			case weights.TypeQ4_K:
				pl.kgemv = q4_KGemv4
			case weights.TypeQ5_K:
				pl.kgemv = q5_KGemv4
			default:
				pl.kgemv = q6_KGemv4
			}
			pl.add(path{name: "kgemv", minRows: 1, run: (*matmulTask).runKGemv})
		}
	}
	pl.add(path{name: "dots", minRows: 1, run: (*matmulTask).runDots})
	return pl, nil
}

// add appends p unless an earlier path already takes every batch p would
// (a path is taken by the first match, so p could never run).
func (pl *Plan) add(p path) {
	for _, q := range pl.paths[:pl.np] {
		if q.minRows <= p.minRows {
			return
		}
	}
	pl.paths[pl.np] = p
	pl.np++
}

// path returns the path for a batch of m >= 1 activation rows.
func (pl *Plan) path(m int) *path {
	for i := 0; i < pl.np-1; i++ {
		if m >= pl.paths[i].minRows {
			return &pl.paths[i]
		}
	}
	return &pl.paths[pl.np-1] // minRows 1
}

// String names the plan's paths and the batches they take, e.g.
// "q4_0 gguf 2048x2048: m>=8 gemm16, m>=1 packed".
func (pl *Plan) String() string {
	var b strings.Builder
	l := "gguf"
	if pl.l == LayoutRows16 {
		l = "rows16"
	}
	fmt.Fprintf(&b, "%s %s %dx%d:", pl.t, l, pl.n, pl.k)
	for i, p := range pl.paths[:pl.np] {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " m>=%d %s", p.minRows, p.name)
	}
	return b.String()
}

// Type, Layout and Shape report what the plan was made for.
func (pl *Plan) Type() weights.Type { return pl.t }

// Layout is the weight layout the plan was made for.
func (pl *Plan) Layout() Layout { return pl.l }

// Shape is the weight shape (n rows of k) the plan was made for.
func (pl *Plan) Shape() (n, k int) { return pl.n, pl.k }

// check validates one call's operands against the plan.
func (pl *Plan) check(w []byte, x []float32, m int, out []float32) error {
	t, n, k := pl.t, pl.n, pl.k
	if m < 0 {
		return fmt.Errorf("kernels: matmul %s: bad batch m=%d", t, m)
	}
	if need := int64(n) * int64(pl.rowBytes); int64(len(w)) < need {
		return fmt.Errorf("kernels: matmul %s: weights have %d bytes, %d rows of %d need %d", t, len(w), n, k, need)
	}
	if int64(len(x)) < int64(m)*int64(k) {
		return fmt.Errorf("kernels: matmul %s: activations have %d values, need %d (m=%d, k=%d)", t, len(x), int64(m)*int64(k), m, k)
	}
	if int64(len(out)) < int64(m)*int64(n) {
		return fmt.Errorf("kernels: matmul %s: output has %d values, need %d (m=%d, n=%d)", t, len(out), int64(m)*int64(n), m, n)
	}
	return nil
}
