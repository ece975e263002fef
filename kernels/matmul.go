package kernels

import "dayi/weights"

// actKind is a ggml vec_dot_type for the activations of a matmul.
type actKind int

const (
	actF32 actKind = iota
	actF16
	actBF16
	actQ8_0
	actQ8_1
	actQ8_K
)

// vecDotType maps a weight type to the activation format ggml-cpu converts to
// (type_traits_cpu[t].vec_dot_type in ggml-cpu.c) and reports support.
func vecDotType(t weights.Type) (actKind, bool) {
	switch t {
	case weights.TypeF32:
		return actF32, true
	case weights.TypeF16:
		return actF16, true
	case weights.TypeBF16:
		return actBF16, true
	case weights.TypeQ4_0, weights.TypeQ5_0, weights.TypeQ8_0:
		return actQ8_0, true
	case weights.TypeQ4_1, weights.TypeQ5_1:
		return actQ8_1, true
	case weights.TypeQ2_K, weights.TypeQ3_K, weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K:
		return actQ8_K, true
	}
	return 0, false
}

// actRowBytes is the size of one k-element activation row in format a.
func actRowBytes(a actKind, k int) int {
	switch a {
	case actQ8_0:
		return k / 32 * q8_0Size
	case actQ8_1:
		return k / 32 * q8_1Size
	case actQ8_K:
		return k / 256 * q8_KSize
	}
	return 0
}

// Supported reports whether MatMul handles weights of type t.
func Supported(t weights.Type) bool {
	_, ok := vecDotType(t)
	return ok
}

// matmulTask holds one MatMul's operands; it is pool-owned so that
// dispatching it to workers allocates nothing. The scalar fields are
// copies of the plan's, for the runners' inner loops.
type matmulTask struct {
	phase    int   // 0: quantize activations (over m), 1: dot products (over n)
	pl       *Plan // the kernels
	pa       *path // the plan's path for this m
	t        weights.Type
	act      actKind
	w        []byte
	rowBytes int
	n, k, m  int
	x        []float32
	xq       []byte // quantized activations, m rows of xqStride bytes
	xqStride int
	x16      []uint16  // f16/bf16 activations, m rows of k
	x16f     []float32 // the f16 activations as float32, for the AVX-512 f16 kernels
	f16tiny  bool      // f16 dots in tinyBLAS order (f16TinyOrder), else vec_dot order
	out      []float32
	kbs      []kblock // per-worker k-quant decode scratch
	kdec     [][]byte // per-worker decoded weights (gemmk.go, gemm16.go, gemmk16.go)
	res      []workerRes

	// Packed activations: for the 16-row kernels (gemm16.go, gemmk16.go,
	// rows16.go, rows16k.go), m rows of x40Step bytes; for the VNNI block
	// kernels (gemm.go, gemv5.go), rows or row pairs of xpStride bytes.
	x40      []byte
	x40Step  int
	xp       []byte
	xpStride int
}

// workerRes holds one worker's kernel results for the kernels called
// through function values (runPacked, runKGemv): a local array passed to
// them would escape, one heap allocation per call. Padded to two cache
// lines so that workers do not share one.
type workerRes struct {
	r4  [4]float32
	r16 [16]float32
	_   [128 - 20*4]byte
}

// MatMul computes out[i*n+j] = sum_kk x[i*k+kk] * W[j][kk] for m activation
// rows x (row-major [m,k]) and n weight rows of type t stored as raw ggml
// blocks in w (each row t.RowSize(k) bytes, contiguous). Activations are first
// converted to t's ggml vec_dot_type exactly as ggml-cpu's x86 build does.
// Slices may be longer than needed. Unsupported types and bad lengths are
// reported as errors. MatMul looks its plan up per call; callers that
// multiply the same weights repeatedly make a Plan once and call MatMulPlan.
func (p *Pool) MatMul(t weights.Type, w []byte, n, k int, x []float32, m int, out []float32) error {
	return p.MatMulLayout(t, LayoutGGUF, w, n, k, x, m, out)
}

// MatMulLayout is MatMul for weights in layout l (LayoutRows16: q4_0/q8_0/
// q5_0/q4_K/q6_K with n a multiple of 16, as Repack makes them).
func (p *Pool) MatMulLayout(t weights.Type, l Layout, w []byte, n, k int, x []float32, m int, out []float32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := planKey{t, l, n, k, p.perDot}
	pl := p.plans[key]
	if pl == nil {
		var err error
		if pl, err = newPlan(t, l, n, k, p.perDot); err != nil {
			return err
		}
		if p.plans == nil || len(p.plans) >= maxCachedPlans {
			p.plans = make(map[planKey]*Plan)
		}
		p.plans[key] = pl
	}
	if err := pl.check(w, x, m, out); err != nil {
		return err
	}
	p.matMul(pl, w, x, m, out)
	return nil
}

// planKey identifies a plan in Pool.plans (MatMul's cache).
type planKey struct {
	t      weights.Type
	l      Layout
	n, k   int
	perDot bool
}

// maxCachedPlans bounds Pool.plans: past it the cache starts over.
const maxCachedPlans = 64

// MatMulPlan is MatMul for the weights pl was made for (NewPlan's type,
// layout and n×k shape): out[i*n+j] = sum_kk x[i*k+kk] * W[j][kk] for m
// activation rows, through the kernels the plan chose.
func (p *Pool) MatMulPlan(pl *Plan, w []byte, x []float32, m int, out []float32) error {
	return p.MatMulPlanX(pl, w, x, m, out, XKey{})
}

// XKey names the contents of a matmul's activations, so that matmuls of
// the same activations by several weights (a layer's Q, K and V
// projections; the FFN's gate and up) quantize and pack them once: a
// MatMulPlanX whose key equals the previous matmul's on this Pool, with
// activations quantized and packed the same way (same type, path and
// shape), reuses that matmul's quantized rows. The zero XKey names
// nothing. The caller promises that two calls with the same non-zero key
// pass the same x; dayi's backend keys by its execution and the graph
// node that produced x (engine/backend/fused.go).
type XKey struct{ Run, Node uint64 }

// actSig is how a matmul quantizes and packs its activations: two
// matmuls with equal signatures leave the same bytes in the Pool's
// scratch for the same x.
type actSig struct {
	t                 weights.Type
	l                 Layout
	act               actKind
	k, m              int
	path              string
	x40Step, xpStride int
	pad4, pairs       bool
	g16bias, gkbias   int32
}

// MatMulPlanX is MatMulPlan with activations named by key (XKey).
func (p *Pool) MatMulPlanX(pl *Plan, w []byte, x []float32, m int, out []float32, key XKey) error {
	if err := pl.check(w, x, m, out); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.matMulX(pl, w, x, m, out, key)
	return nil
}

// matMul runs a checked matmul; p.mu is held.
func (p *Pool) matMul(pl *Plan, w []byte, x []float32, m int, out []float32) {
	p.matMulX(pl, w, x, m, out, XKey{})
}

// matMulX is matMul with activations named by key (XKey); p.mu is held.
func (p *Pool) matMulX(pl *Plan, w []byte, x []float32, m int, out []float32, key XKey) {
	n, k := pl.n, pl.k
	if m == 0 || n == 0 {
		return
	}
	pa := pl.path(m)
	sig := actSig{t: pl.t, l: pl.l, act: pl.act, k: k, m: m, path: pa.name, x40Step: pa.x40Step, xpStride: pa.xpStride,
		pad4: pa.x40Pad4, pairs: pa.xpPairs, g16bias: pl.g16bias, gkbias: pl.gk.bias}
	reuse := key != (XKey{}) && key == p.xKey && sig == p.xSig
	p.xKey, p.xSig = key, sig
	mt := &p.mm
	*mt = matmulTask{pl: pl, pa: pa, t: pl.t, act: pl.act, w: w, rowBytes: pl.rowBytes, n: n, k: k, m: m, x: x, out: out,
		xqStride: pl.xqStride, x40Step: pa.x40Step, xpStride: pa.xpStride, kbs: mt.kbs, kdec: mt.kdec, res: mt.res}
	switch pl.act {
	case actQ8_0, actQ8_1, actQ8_K:
		if need := m * mt.xqStride; cap(p.act) < need {
			p.act = make([]byte, need)
		}
		mt.xq = p.act[:m*mt.xqStride]
	case actF16, actBF16:
		mt.f16tiny = pl.act == actF16 && f16TinyOrder(n, k, m)
		if need := m * k; cap(p.act16) < need {
			p.act16 = make([]uint16, need)
		}
		mt.x16 = p.act16[:m*k]
		if pa.f16f {
			if need := m * k; cap(p.act16f) < need {
				p.act16f = make([]float32, need)
			}
			mt.x16f = p.act16f[:m*k]
		}
	}
	if pa.x40Step > 0 {
		rows := m
		if pa.x40Pad4 {
			rows = (m + 3) &^ 3
		}
		if need := rows * pa.x40Step; cap(p.x40) < need {
			p.x40 = make([]byte, need)
		}
		mt.x40 = p.x40[:rows*pa.x40Step]
	}
	if pa.xpStride > 0 {
		rows := m
		if pa.xpPairs {
			rows = (m + 1) / 2
		}
		if need := rows * pa.xpStride; cap(p.xpack) < need {
			p.xpack = make([]byte, need)
		}
		mt.xp = p.xpack[:rows*pa.xpStride]
	}
	// Small products run on the calling thread alone: splitting them saves
	// less than waking or synchronising a worker costs (tiny models, and
	// the workers can then park instead of spinning).
	serial := int64(m)*int64(n)*int64(k) < parallelMinMACs
	if pl.act != actF32 && !reuse {
		mt.phase = 0
		if serial {
			mt.run(0, m, 0)
		} else {
			p.run(mt, m, 1)
		}
	}
	mt.phase = 1
	grain := 16
	if m > 1 {
		grain = 4
	}
	units := n
	if pa.groups {
		// Work units are groups of 16 weight rows (the last may be short).
		units, grain = (n+w16Rows-1)/w16Rows, 1
	}
	if serial {
		mt.run(0, units, 0)
	} else {
		p.run(mt, units, grain)
	}
	*mt = matmulTask{kbs: mt.kbs, kdec: mt.kdec, res: mt.res}
}

// run is phase 0 (quantize and pack activation rows [lo,hi)) or phase 1
// (the plan's path over units [lo,hi)) of a matmul.
func (mt *matmulTask) run(lo, hi, worker int) {
	if mt.phase == 0 {
		pack := mt.pa.pack
		for i := lo; i < hi; i++ {
			mt.quantizeRow(i)
			if pack != nil {
				pack(mt, i)
			}
		}
		return
	}
	mt.pa.run(mt, lo, hi, worker)
}

// The activation packings of the paths, after quantizeRow(i).

func (mt *matmulTask) packQ5Row(i int) { packQ5(mt.xp, mt.xq[i*mt.xqStride:], mt.k/32) }

func (mt *matmulTask) packK16Row(i int) {
	packK16(mt.x40[i*mt.x40Step:(i+1)*mt.x40Step], mt.xq[i*mt.xqStride:], mt.k/256, mt.t)
}

func (mt *matmulTask) pack40Row(i int) {
	pack40(mt.x40[i*mt.x40Step:(i+1)*mt.x40Step], mt.xq[i*mt.xqStride:], mt.k/32, mt.pl.g16bias)
}

func (mt *matmulTask) packQ8Row(i int) {
	pair := mt.xp[i/2*mt.xpStride : (i/2+1)*mt.xpStride]
	packQ8(pair, i%2, mt.xq[i*mt.xqStride:], mt.k/32, mt.pl.gk.bias)
	if i == mt.m-1 && i%2 == 0 { // odd last row: pair it with itself
		packQ8(pair, 1, mt.xq[i*mt.xqStride:], mt.k/32, mt.pl.gk.bias)
	}
}

// runDots computes output columns [lo,hi) one weight row · activation row
// at a time (dot). Weight rows are tiled so a tile stays in cache while
// all m activation rows use it; for decode (m=1) this is a plain loop over
// rows.
func (mt *matmulTask) runDots(lo, hi, worker int) {
	tile := 1
	if mt.m > 1 {
		tile = 32 * 1024 / mt.rowBytes
		tile = max(1, min(tile, 16))
	}
	for j0 := lo; j0 < hi; j0 += tile {
		j1 := min(j0+tile, hi)
		for i := 0; i < mt.m; i++ {
			for j := j0; j < j1; j++ {
				mt.out[i*mt.n+j] = mt.dot(j, i, worker)
			}
		}
	}
}

func (mt *matmulTask) quantizeRow(i int) {
	x := mt.x[i*mt.k : (i+1)*mt.k]
	switch mt.act {
	case actQ8_0:
		quantizeQ8_0(mt.xq[i*mt.xqStride:(i+1)*mt.xqStride], x)
	case actQ8_1:
		quantizeQ8_1(mt.xq[i*mt.xqStride:(i+1)*mt.xqStride], x)
	case actQ8_K:
		quantizeQ8_K(mt.xq[i*mt.xqStride:(i+1)*mt.xqStride], x)
	case actF16:
		d := mt.x16[i*mt.k : (i+1)*mt.k]
		for j, v := range x {
			d[j] = weights.FP32ToFP16(v)
		}
		if mt.x16f != nil {
			f := mt.x16f[i*mt.k : (i+1)*mt.k]
			for j, h := range d {
				f[j] = weights.FP16ToFP32(h)
			}
		}
	case actBF16:
		d := mt.x16[i*mt.k : (i+1)*mt.k]
		for j, v := range x {
			d[j] = weights.FP32ToBF16(v)
		}
	}
}

// dot is weight row j · activation row i.
func (mt *matmulTask) dot(j, i, worker int) float32 {
	w := mt.w[j*mt.rowBytes : (j+1)*mt.rowBytes]
	k := mt.k
	var xq []byte
	if mt.xqStride > 0 {
		xq = mt.xq[i*mt.xqStride : (i+1)*mt.xqStride]
	}
	switch mt.t {
	case weights.TypeQ4_0:
		return kq4_0(w, xq, k/32)
	case weights.TypeQ8_0:
		return kq8_0(w, xq, k/32)
	case weights.TypeQ5_0:
		return kq5_0(w, xq, k/32)
	case weights.TypeQ4_1:
		return kq4_1(w, xq, k/32)
	case weights.TypeQ5_1:
		return kq5_1(w, xq, k/32)
	case weights.TypeQ4_K:
		return kq4_K(w, xq, k/256, &mt.kbs[worker])
	case weights.TypeQ6_K:
		return kq6_K(w, xq, k/256, &mt.kbs[worker])
	case weights.TypeQ5_K:
		return kq5_K(w, xq, k/256, &mt.kbs[worker])
	case weights.TypeQ2_K, weights.TypeQ3_K:
		return dotK(mt.t, w, xq, k/256, &mt.kbs[worker])
	case weights.TypeF16:
		if mt.f16tiny {
			return kf16Tiny(w, mt.x16[i*k:(i+1)*k], k)
		}
		return kf16(w, mt.x16[i*k:(i+1)*k], k)
	case weights.TypeBF16:
		return dotBF16(w, mt.x16[i*k:(i+1)*k], k)
	case weights.TypeF32:
		return kf32(w, mt.x[i*k:(i+1)*k], k)
	}
	return 0
}

// dotRows computes weight rows [j0,j1) against all m activation rows with
// the single-row dots: the rows the multi-row kernels leave over.
func (mt *matmulTask) dotRows(j0, j1, worker int) {
	for j := j0; j < j1; j++ {
		for i := 0; i < mt.m; i++ {
			mt.out[i*mt.n+j] = mt.dot(j, i, worker)
		}
	}
}

// runPacked computes output columns [lo,hi) with the packed-activation
// kernels. Decode (m=1): 4 weight rows per gemv call against the
// self-paired row. Small batches (m < gemm16MinRows): tiles of weight rows (kept in L2) against 4
// activation rows (2 pairs, kept in L1), 4 weight rows at a time (8 ZMM
// accumulators = 16 outputs); a last single pair goes through gemm1, and
// weight rows beyond a multiple of 4 through the single-row dot kernels,
// which compute the same values.
func (mt *matmulTask) runPacked(lo, hi, worker int) {
	rb, n, nb, ps, gk := mt.rowBytes, mt.n, mt.k/32, mt.xpStride, &mt.pl.gk
	if mt.m == 1 {
		r4 := &mt.res[worker].r4
		j := lo
		for ; j+4 <= hi; j += 4 {
			gk.gemv(&mt.w[j*rb], rb, &mt.xp[0], nb, r4)
			copy(mt.out[j:j+4], r4[:])
		}
		for ; j < hi; j++ {
			mt.out[j] = mt.dot(j, 0, worker)
		}
		return
	}
	res := &mt.res[worker].r16
	np := (mt.m + 1) / 2
	tile := max(4, (256<<10)/rb) &^ 3
	for j0 := lo; j0 < hi; j0 += tile {
		j1 := min(j0+tile, hi)
		j4 := j0 + (j1-j0)&^3
		for p0 := 0; p0 < np; p0 += 2 {
			g, rows := gk.gemm2, min(4, mt.m-2*p0)
			if p0+1 == np {
				g = gk.gemm1
			}
			x := &mt.xp[p0*ps]
			for j := j0; j < j4; j += 4 {
				g(&mt.w[j*rb], rb, x, ps, nb, res)
				for r := 0; r < 4; r++ {
					for h := 0; h < rows; h++ {
						mt.out[(2*p0+h)*n+j+r] = res[4*r+h]
					}
				}
			}
		}
		mt.dotRows(j4, j1, worker)
	}
}

// parallelMinMACs is the size of a matmul (m·n·k) below which it runs on
// one thread: ~10 µs of work, against ~1 µs to hand half of it to a
// spinning worker and 50-100 µs to wake a parked one.
const parallelMinMACs = 1 << 18

// runKGemv computes output columns [lo,hi) for q4_K or q6_K weights and
// few activation rows (below kPackedMinRows) with the 4-row AVX-512
// kernels, activation row by activation row (a tile of weight rows stays in
// cache across them); leftover rows take the single-row kernel.
func (mt *matmulTask) runKGemv(lo, hi, worker int) {
	gemv := mt.pl.kgemv
	r4 := &mt.res[worker].r4
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/256, mt.xqStride
	tile := hi - lo
	if mt.m > 1 {
		tile = max(4, (128<<10)/rb) &^ 3
	}
	for j0 := lo; j0 < hi; j0 += tile {
		j1 := min(j0+tile, hi)
		for i := 0; i < mt.m; i++ {
			j := j0
			for ; j+4 <= j1; j += 4 {
				gemv(&mt.w[j*rb], rb, &mt.xq[i*xs], nb, r4)
				for r := 0; r < 4; r++ {
					mt.out[i*n+j+r] = r4[r]
				}
			}
			for ; j < j1; j++ {
				mt.out[i*n+j] = mt.dot(j, i, worker)
			}
		}
	}
}

// kPackedMinRows is the batch from which decoding q4_K/q6_K super-blocks
// once pays against the 4-row gemv kernels (BenchmarkPacked, alternating
// builds: gemv 1.6x faster at m=16, decoded 1.05x at m=48, 1.3x at m=128).
const kPackedMinRows = 24

// runKPacked computes output columns [lo,hi) for k-quant weights: a tile of
// weight rows is decoded once (gemmk.go) into worker scratch that stays in
// L2, then run against 4 activation rows at a time. Used for m >=
// kPackedMinRows, and for any m where no direct kernel exists (q2_K, q3_K,
// q5_K): dotK decodes every super-block anyway, so the decoded form costs
// nothing extra there.
func (mt *matmulTask) runKPacked(lo, hi, worker int) {
	nb := mt.k / 256
	ts := mt.t.TypeSize()
	rowDec := nb * kdecSize
	tile := max(1, min(hi-lo, (192<<10)/rowDec))
	if cap(mt.kdec[worker]) < tile*rowDec {
		mt.kdec[worker] = make([]byte, tile*rowDec)
	}
	buf := mt.kdec[worker][:tile*rowDec]
	kb := &mt.kbs[worker]
	for j0 := lo; j0 < hi; j0 += tile {
		j1 := min(j0+tile, hi)
		for j := j0; j < j1; j++ {
			w := mt.w[j*mt.rowBytes:]
			d := buf[(j-j0)*rowDec:]
			for b := 0; b < nb; b++ {
				decodeKPacked(mt.t, w[b*ts:(b+1)*ts], kb, d[b*kdecSize:(b+1)*kdecSize])
			}
		}
		mt.kpackedRows(buf, rowDec, j0, j1)
	}
}

// kpackedRows computes outputs [j0,j1) of every activation row from the
// decoded rows in buf (rowDec bytes each, row j at (j-j0)·rowDec), 4
// activation rows per call and the rest one by one.
func (mt *matmulTask) kpackedRows(buf []byte, rowDec, j0, j1 int) {
	var res [4]float32
	n, xs, nb := mt.n, mt.xqStride, mt.k/256
	i0 := 0
	for ; i0+4 <= mt.m; i0 += 4 {
		x := &mt.xq[i0*xs]
		for j := j0; j < j1; j++ {
			mt.pl.kx4(&buf[(j-j0)*rowDec], x, xs, nb, &res)
			mt.out[i0*n+j] = res[0]
			mt.out[(i0+1)*n+j] = res[1]
			mt.out[(i0+2)*n+j] = res[2]
			mt.out[(i0+3)*n+j] = res[3]
		}
	}
	for i := i0; i < mt.m; i++ {
		for j := j0; j < j1; j++ {
			mt.out[i*n+j] = mt.pl.kx1(&buf[(j-j0)*rowDec], &mt.xq[i*xs], nb)
		}
	}
}

// runF16 computes output columns [lo,hi) for f16 weights with the AVX-512
// kernels. In tinyBLAS order (prefill): 2 weight rows x 4 activation rows
// per tile (8 independent FMA chains, each weight load used 4 times),
// single dots for the rest. In vec_dot order: 4 weight rows per call for
// decode, single dots otherwise, each plus ggml's float64 tail.
func (mt *matmulTask) runF16(lo, hi, _ int) {
	k, n, rb := mt.k, mt.n, mt.rowBytes
	if !mt.f16tiny {
		np := k &^ 63
		j := lo
		if mt.m == 1 && np > 0 {
			var r4 [4]float32
			for ; j+4 <= hi; j += 4 {
				f16Gemv4V(&mt.w[j*rb], rb, &mt.x16f[0], np/64, &r4)
				for r := 0; r < 4; r++ {
					mt.out[j+r] = f16TailF(mt.w[(j+r)*rb:(j+r+1)*rb], mt.x16f, np, k, r4[r])
				}
			}
		}
		for ; j < hi; j++ {
			w := mt.w[j*rb : (j+1)*rb]
			for i := 0; i < mt.m; i++ {
				x := mt.x16f[i*k : (i+1)*k]
				part := float32(0)
				if np > 0 {
					part = f16DotV(&w[0], &x[0], np/64)
				}
				mt.out[i*n+j] = f16TailF(w, x, np, k, part)
			}
		}
		return
	}
	var res [8]float32
	j := lo
	if mt.m >= 4 {
		tile := max(2, (256<<10)/rb) &^ 1
		for j0 := lo; j0+2 <= hi; j0 += tile {
			j1 := j0 + (min(j0+tile, hi)-j0)&^1
			i0 := 0
			for ; i0+4 <= mt.m; i0 += 4 {
				for jj := j0; jj < j1; jj += 2 {
					f16Gemm2x4(&mt.w[jj*rb], rb, &mt.x16f[i0*k], 4*k, k/16, &res)
					for r := 0; r < 2; r++ {
						for i := 0; i < 4; i++ {
							mt.out[(i0+i)*n+jj+r] = res[4*r+i]
						}
					}
				}
			}
			for i := i0; i < mt.m; i++ {
				for jj := j0; jj < j1; jj++ {
					mt.out[i*n+jj] = f16DotZ(&mt.w[jj*rb], &mt.x16f[i*k], k)
				}
			}
			j = j1
		}
	}
	for ; j < hi; j++ {
		for i := 0; i < mt.m; i++ {
			mt.out[i*n+j] = f16DotZ(&mt.w[j*rb], &mt.x16f[i*k], k)
		}
	}
}
