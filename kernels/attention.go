package kernels

import (
	"fmt"
	"math"

	"dayi/weights"
)

// attnTask holds one Attention call's operands (pool-owned, see matmulTask).
type attnTask struct {
	q                        []float32
	T, H, D                  int
	kf32, vf32               []float32
	kf16, vf16               []uint16
	S, Hkv, kvLen, pos0, win int
	scale                    float32
	out                      []float32
	p                        *Pool
	// quad: every item is 4 query heads of one GQA group, scored in one
	// pass over their K rows (kScoresH16V4); set where scores take
	// ggml_vec_dot_f16's order (decode) from an f16 cache.
	quad bool
	// blocked: every item is one kv head and a block of tileRows query
	// rows (runBlocked); set where both f16 matmuls take tinyBLAS's order
	// (prefill).
	blocked bool
	// phase > phaseNone: a decode step at depth (attn_decode.go), run one
	// phase at a time over the scores s [H, n] of positions jlo..jlo+n-1
	// and the f16-rounded queries qf.
	phase  int
	jlo, n int
	s, qf  []float32
	vc     []uint16 // V rows per kv head, compact: [Hkv, n, D]
}

// Attention computes causal (optionally sliding-window) grouped-query
// attention for T queries q [T,H,D] at absolute positions pos0..pos0+T-1 over
// a KV cache [S,Hkv,D] given as f32 (kf32, vf32) or f16 bits (kf16, vf16);
// exactly one pair must be non-nil. Query i attends keys j in [lo_i, hi_i)
// with hi_i = min(kvLen, pos0+i+1) and lo_i = max(0, pos0+i+1-window) when
// window > 0, else 0. Query head h reads kv head h/(H/Hkv). out is [T,H,D].
//
// Numerics follow ggml's non-flash path (ggml_mul_mat + ggml_soft_max_ext):
// s_j = (q·k_j)*scale, p_j = exp(s_j - max) * float32(1/sum), the sum taken in
// float64. With an f16 cache ggml's matmuls convert their f32 operand to f16
// (F16's vec_dot_type), so q and p are rounded to f16 here too; f16 products
// are exact in float32, and both f16 matmuls add them in ggml-cpu's order
// (see f16Order). An f32 cache is plain float32.
func (p *Pool) Attention(q []float32, T, H, D int, kf32, vf32 []float32, kf16, vf16 []uint16, S, Hkv, kvLen, pos0, window int, scale float32, out []float32) error {
	if T < 0 || H <= 0 || D <= 0 || S < 0 || Hkv <= 0 || H%Hkv != 0 || kvLen < 0 || kvLen > S || pos0 < 0 {
		return fmt.Errorf("kernels: attention: bad shape T=%d H=%d D=%d S=%d Hkv=%d kvLen=%d pos0=%d", T, H, D, S, Hkv, kvLen, pos0)
	}
	f32 := kf32 != nil || vf32 != nil
	f16 := kf16 != nil || vf16 != nil
	if f32 == f16 {
		return fmt.Errorf("kernels: attention: give exactly one of the f32 or f16 K/V pairs")
	}
	kv := S * Hkv * D
	if f32 && (len(kf32) < kv || len(vf32) < kv) || f16 && (len(kf16) < kv || len(vf16) < kv) {
		return fmt.Errorf("kernels: attention: K/V cache shorter than S*Hkv*D = %d", kv)
	}
	if len(q) < T*H*D || len(out) < T*H*D {
		return fmt.Errorf("kernels: attention: q (%d) or out (%d) shorter than T*H*D = %d", len(q), len(out), T*H*D)
	}
	if T == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if f32 && window <= 0 && kvLen > 0 && pos0+1 >= kvLen && T >= fullMinT {
		p.attentionFullF32(q, T, H, D, kf32, vf32, Hkv, kvLen, scale, out) // attn_full.go
		return nil
	}
	at := &p.at
	*at = attnTask{q: q, T: T, H: H, D: D, kf32: kf32, vf32: vf32, kf16: kf16, vf16: vf16,
		S: S, Hkv: Hkv, kvLen: kvLen, pos0: pos0, win: window, scale: scale, out: out, p: p}
	items := T * H
	scoreTiny, pvTiny := f16Order(T, D, ggmlNKV(kvLen, S))
	if f16 && T == 1 && decodeKeys(kvLen, pos0, window) >= decodeMinKV {
		p.attentionDecode(at) // attn_decode.go
		*at = attnTask{}
		return nil
	}
	switch {
	case f16 && !scoreTiny && kScoresH16V4 != nil && (H/Hkv)%4 == 0 && D%64 == 0:
		at.quad, items = true, T*H/4
	case f16 && scoreTiny && pvTiny:
		at.blocked, items = true, Hkv*((T+tileRows-1)/tileRows)
	}
	if T*H*kvLen*D < parallelMinMACs/2 { // q·K and p·V: 2·T·H·kvLen·D MACs
		at.run(0, items, 0)
	} else {
		p.run(at, items, 1)
	}
	*at = attnTask{}
	return nil
}

func (at *attnTask) run(lo, hi, worker int) {
	if at.phase != phaseNone {
		at.runDecode(lo, hi, worker)
		return
	}
	if at.quad {
		at.runQuad(lo, hi, worker)
		return
	}
	if at.blocked {
		at.runBlocked(lo, hi, worker) // attn_tile.go
		return
	}
	sc := at.p.floatScratch(worker, at.rowScratch())
	for item := lo; item < hi; item++ {
		at.row(item/at.H, item%at.H, sc)
	}
}

// rowScratch is the scratch row needs: scores/probabilities for up to kvLen
// keys, the f16-rounded query, and the p·V lane sums with their gathered p.
func (at *attnTask) rowScratch() int { return 2*at.kvLen + at.D + 64*at.D + 64 }

// row computes query row i of head h into out (sc: rowScratch floats).
func (at *attnTask) row(i, h int, sc []float32) {
	D := at.D
	group := at.H / at.Hkv
	stride := at.Hkv * D
	nkv := ggmlNKV(at.kvLen, at.S)
	scoreTiny, pvTiny := f16Order(at.T, D, nkv)
	qf := sc[at.kvLen : at.kvLen+D]
	pvs := sc[at.kvLen+D:]
	half := at.kf16 != nil
	kvh := h / group
	pos := at.pos0 + i
	jhi := min(at.kvLen, pos+1)
	jlo := 0
	if at.win > 0 {
		jlo = max(0, pos+1-at.win)
	}
	q := at.q[(i*at.H+h)*D : (i*at.H+h+1)*D]
	o := at.out[(i*at.H+h)*D : (i*at.H+h+1)*D]
	if jhi <= jlo {
		clear(o)
		return
	}
	n := jhi - jlo
	s := sc[:n]
	off := (jlo*at.Hkv + kvh) * D
	// Scores s[j-jlo] = (q·k_j)*scale.
	if half {
		for d, v := range q {
			qf[d] = weights.FP16ToFP32(weights.FP32ToFP16(v))
		}
		if scoreTiny {
			kScoresH16(s, at.kf16[off:], stride, qf, at.scale)
		} else {
			kScoresH16V(s, at.kf16[off:], stride, qf, at.scale)
		}
	} else {
		kScoresF32(s, at.kf32[off:], stride, q, at.scale)
	}
	// Softmax: exp in float32 precision, sum in float64 (ggml_vec_soft_max_f32).
	inv := float32(1 / kSoftmax(s))
	// Weighted values.
	if half {
		kProbsH16(s, inv)
		lanes := 64
		if pvTiny {
			lanes = 16
		}
		pvH16Lanes(o, at.vf16[off:], stride, s, jlo, nkv, lanes, pvs)
	} else {
		for j := range s {
			s[j] *= inv
		}
		kPVF32(o, at.vf32[off:], stride, s)
	}
}

// runQuad is run for quad tasks: item = query row i and group of 4 heads
// 4g..4g+3, which share kv head 4g/group and the key range. The scores of
// the 4 heads come from one kScoresH16V4 pass (bit for bit kScoresH16V's);
// the softmax and p·V then run per head as in run.
func (at *attnTask) runQuad(lo, hi, worker int) {
	D, H4 := at.D, at.H/4
	group := at.H / at.Hkv
	stride := at.Hkv * D
	nkv := ggmlNKV(at.kvLen, at.S)
	_, pvTiny := f16Order(at.T, D, nkv)
	lanes := 64
	if pvTiny {
		lanes = 16
	}
	// Worker scratch: 4 score rows, 4 f16-rounded queries, then the p·V
	// lane sums: of 4 heads for kPVTile4, else of one with its gathered p.
	sc := at.p.floatScratch(worker, 5*at.kvLen+4*D+4*64*D+64)
	qf := sc[4*at.kvLen : 4*at.kvLen+4*D]
	pvs := sc[4*at.kvLen+4*D:]
	for item := lo; item < hi; item++ {
		i, h0 := item/H4, 4*(item%H4)
		pos := at.pos0 + i
		jhi := min(at.kvLen, pos+1)
		jlo := 0
		if at.win > 0 {
			jlo = max(0, pos+1-at.win)
		}
		if jhi <= jlo {
			clear(at.out[(i*at.H+h0)*D : (i*at.H+h0+4)*D])
			continue
		}
		n := jhi - jlo
		off := (jlo*at.Hkv + h0/group) * D
		for d, v := range at.q[(i*at.H+h0)*D : (i*at.H+h0+4)*D] {
			qf[d] = weights.FP16ToFP32(weights.FP32ToFP16(v))
		}
		kScoresH16V4(sc[:4*n], n, at.kf16[off:], stride, qf, D, D, at.scale)
		if kPVTile4 == nil {
			for r := 0; r < 4; r++ {
				s := sc[r*n : (r+1)*n]
				o := at.out[(i*at.H+h0+r)*D : (i*at.H+h0+r+1)*D]
				inv := float32(1 / kSoftmax(s))
				kProbsH16(s, inv)
				pvH16Lanes(o, at.vf16[off:], stride, s, jlo, nkv, lanes, pvs)
			}
			continue
		}
		// The 4 heads' p·V lane sums in one pass over V (pvH16Lanes'
		// lanes and tail, per head).
		for r := 0; r < 4; r++ {
			s := sc[r*n : (r+1)*n]
			inv := float32(1 / kSoftmax(s))
			kProbsH16(s, inv)
		}
		nIn := max(0, min(n, nkv&^(lanes-1)-jlo)) // positions in lanes
		if nIn > 0 {
			kPVTile4(pvs, D, at.vf16[off:], stride, sc, n, nIn, jlo, lanes)
		}
		for r := 0; r < 4; r++ {
			o := at.out[(i*at.H+h0+r)*D : (i*at.H+h0+r+1)*D]
			switch {
			case nIn == 0:
				clear(o)
			case lanes == 16:
				kReduceLanes16(o, pvs[r*16*D:(r+1)*16*D])
			default:
				kReduceLanes64(o, pvs[r*64*D:(r+1)*64*D])
			}
			if nIn < n {
				kPVTail(o, at.vf16[off+nIn*stride:], stride, sc[r*n+nIn:(r+1)*n])
			}
		}
	}
}

// ggmlNKV is the number of cache cells llama.cpp's non-flash attention
// multiplies over when kvLen cells are in use in a cache of S cells: the
// used range padded to 32 (llama_kv_cache::get_padding without flash
// attention; get_n_kv in src/llama-kv-cache.cpp), at least 32, at most S.
// Cells beyond kvLen (and outside a query's causal window) are masked to
// probability 0, which changes no sum but decides which elements ggml's f16
// dot products add in SIMD lanes and which in its float64 tail.
func ggmlNKV(kvLen, S int) int {
	return min(S, max(32, (kvLen+31)&^31))
}

// f16Order reports which of ggml-cpu's two f16 dot orders llama.cpp's AVX-512
// build uses for the score matmul KQ (m = nkv key rows, inner size D) and for
// the value matmul KQV (m = D rows of the transposed V cache, inner size
// nkv), both with T activation columns: llamafile's tinyBLAS (tiny true:
// 16 lanes, reduce16) when T >= 2 and the inner size is a multiple of 16 and
// the row count of 4 (f16TinyOrder), else ggml_vec_dot_f16 (4x16 lanes per
// 64 elements, GGML_F32x16_REDUCE, float64 tail; dotF16).
func f16Order(T, D, nkv int) (scoreTiny, pvTiny bool) {
	return f16TinyOrder(nkv, D, T), f16TinyOrder(D, nkv, T)
}

// pvH16Lanes sets o[d] = sum_j p[j-jlo]*v_j[d] over j in [jlo, jlo+len(p))
// as a dot product over cache positions 0..nkv-1 (p is 0 elsewhere) in one
// of ggml's f16 orders: lanes 16 (tinyBLAS: position j in lane j%16, then
// reduce16; nkv%16 == 0) or 64 (ggml_vec_dot_f16: positions below nkv&^63
// in lane j%64, reduce4x16, then the rest added in float64 in order j). p
// holds f16 values, so products are exact. acc is scratch of at least
// 64*len(o)+ceil(len(p)/lanes) floats. The lane sums run through kPVH16, one
// call per lane over the positions of that lane.
func pvH16Lanes(o []float32, v []uint16, stride int, p []float32, jlo, nkv, lanes int, acc []float32) {
	D := len(o)
	simd := nkv &^ (lanes - 1)
	nIn := max(0, min(len(p), simd-jlo)) // positions jlo..jlo+nIn-1 go to lanes
	if kPVLanes != nil && kPVLanes(o, acc, v, stride, p[:nIn], jlo, lanes) {
		if nIn < len(p) {
			kPVTail(o, v[nIn*stride:], stride, p[nIn:])
		}
		return
	}
	pc := acc[lanes*D:]
	for c := 0; c < lanes; c++ {
		first := (c - jlo%lanes + lanes) % lanes // offset of the first position in lane c
		cnt := 0
		for i := first; i < nIn; i += lanes {
			pc[cnt] = p[i]
			cnt++
		}
		row := acc[c*D : (c+1)*D]
		if cnt == 0 {
			clear(row)
			continue
		}
		kPVH16(row, v[first*stride:], lanes*stride, pc[:cnt])
	}
	if lanes == 16 {
		reduceLanes16(o, acc)
	} else {
		reduceLanes4x16(o, acc)
	}
	if nIn < len(p) {
		kPVTail(o, v[nIn*stride:], stride, p[nIn:])
	}
}

// reduceLanes16 sets o[d] = reduce16 of the lane sums acc[l*D+d], l < 16,
// folding whole rows (same additions per output as reduce16; acc is
// overwritten).
func reduceLanes16(o, acc []float32) {
	D := len(o)
	row := func(l int) []float32 { return acc[l*D : (l+1)*D] }
	for l := 0; l < 8; l++ {
		addRow(row(l), row(l+8))
	}
	for l := 0; l < 4; l++ {
		addRow(row(l), row(l+4)) // t_l = h_l + h_{l+4}
	}
	addRow(row(0), row(2))
	addRow(row(1), row(3))
	copy(o, row(0))
	addRow(o, row(1))
}

// reduceLanes4x16 sets o[d] = reduce4x16 of the lane sums acc[c*D+d], c < 64
// (lane c is lane c%16 of accumulator c/16), folding whole rows.
func reduceLanes4x16(o, acc []float32) {
	D := len(o)
	row := func(l int) []float32 { return acc[l*D : (l+1)*D] }
	for l := 0; l < 16; l++ {
		addRow(row(l), row(32+l))    // sum0 += sum2
		addRow(row(16+l), row(48+l)) // sum1 += sum3
	}
	for l := 0; l < 16; l++ {
		addRow(row(l), row(16+l)) // sum0 += sum1
	}
	reduceLanes16(o, acc)
}

// addRow sets a[i] += b[i].
func addRow(a, b []float32) {
	b = b[:len(a)]
	for i := range a {
		a[i] += b[i]
	}
}

// rowsFit reports whether n rows of length d at stride fit in have elements
// (the assembly kernels' bounds check).
func rowsFit(n, d, stride, have int) bool {
	return n == 0 || (n-1)*stride+d <= have
}

// pvTailGo adds sum_j p[j]*v_j[d] to o[d] in float64, in order j, and
// rounds once: ggml_vec_dot_f16's leftover loop continuing from the lane
// total o[d].
func pvTailGo(o []float32, v []uint16, stride int, p []float32) {
	for d := range o {
		sum := float64(o[d])
		for j, pj := range p {
			sum += float64(pj * weights.FP16ToFP32(v[j*stride+d]))
		}
		o[d] = float32(sum)
	}
}

// Attention kernels, selected at initialisation (attn_amd64.go). Each works
// on n = len(s) (or len(p)) K/V rows of length len(q) (or len(o)), row j
// starting at element j*stride.
var (
	kScoresH16 = scoresH16Go
	// kScoresH16V: scores in ggml_vec_dot_f16 order (scoresH16VGo).
	kScoresH16V = scoresH16VGo
	// kScoresH16V4, when set, is kScoresH16V for the 4 query heads of a
	// GQA group at once (scoresH16VGroupGo's contract): each K row is
	// read and converted once instead of 4 times.
	kScoresH16V4 func(s []float32, sstride int, k []uint16, stride int, q []float32, qstride, d int, scale float32)
	kPVTail      = pvTailGo
	kScoresF32   = scoresF32Go
	kProbsH16    = probsH16Go
	kPVH16       = pvH16Go
	kPVF32       = pvF32Go
	kSoftmax     = softmaxGo
	// kPVLanes, when set, does pvH16Lanes' lane sums and lane reduction
	// in one pass (o = reduced lanes of p over positions jlo..); it
	// reports false for shapes it does not handle.
	kPVLanes func(o, acc []float32, v []uint16, stride int, p []float32, jlo, lanes int) bool
)

// softmaxGo sets s[j] = expPoly(s[j]-max(s)) and returns sum_j s[j] in
// float64, accumulated in 4 lanes (lane j&3, in order) and then added as
// (l0+l1)+(l2+l3), the order of the 4-wide SIMD twin.
func softmaxGo(s []float32) float64 {
	mx := float32(math.Inf(-1))
	for _, v := range s {
		mx = max(mx, v)
	}
	var acc [4]float64
	for j, v := range s {
		e := expPoly(v - mx)
		s[j] = e
		acc[j&3] += float64(e)
	}
	return (acc[0] + acc[1]) + (acc[2] + acc[3])
}

// expPoly is exp(x) rounded to float32, computed in float64 so that it is
// the correctly rounded value except for float64-level ties (relative error
// of the float64 value below 1e-15): x = k*ln2 + r with the ln2 split of
// fdlibm's e_exp.c, exp(r) by its degree-12 Taylor polynomial in Horner form
// with fused multiply-adds (|r| <= ln2/2 gives a truncation error below
// 2e-16), scaled by 2^k built in the exponent bits. ggml's own
// ggml_v_expf is a float32 approximation of about 1.5 ulp, so neither
// this nor math.Exp is bit-equal to llama.cpp; this form vectorises.
// Inputs are clamped to [-120, 100] (exp rounds to 0 or +Inf in float32
// beyond), NaN stays NaN.
func expPoly(x32 float32) float32 {
	x := float64(x32)
	if x < -120 {
		x = -120
	}
	if x > 100 {
		x = 100
	}
	k := math.RoundToEven(x * expLog2e)
	r := math.FMA(-k, expLn2Hi, x)
	r = math.FMA(-k, expLn2Lo, r)
	p := expCoef[0]
	for _, c := range expCoef[1:] {
		p = math.FMA(p, r, c)
	}
	p = math.FMA(p, r, 1)
	scale := math.Float64frombits(math.Float64bits(k+expBias) << 52)
	return float32(p * scale)
}

// expPoly constants (also in attn_amd64.s): log2(e); ln2 = expLn2Hi +
// expLn2Lo (fdlibm ln2HI/ln2LO); expBias = 2^52+1023 puts k+1023 in the low
// mantissa bits; expCoef = 1/12!, 1/11!, ..., 1/2!, 1/1!.
const (
	expLog2e = 1.4426950408889634
	expLn2Hi = 6.93147180369123816490e-01
	expLn2Lo = 1.90821492927058770002e-10
	expBias  = 4503599627371519.0
)

var expCoef = [...]float64{
	1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320,
	1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1,
}

// scoresH16Go sets s[j] = (q·k_j)*scale for f16 rows k_j and a query whose
// values are f16 values (so products are exact): product d goes to lane d%16
// and reduce16 folds the lanes, as in dotF32s.
func scoresH16Go(s []float32, k []uint16, stride int, q []float32, scale float32) {
	for j := range s {
		kj := k[j*stride : j*stride+len(q)]
		var acc [16]float32
		for d, v := range q {
			acc[d&15] += weights.FP16ToFP32(kj[d]) * v
		}
		s[j] = reduce16(&acc) * scale
	}
}

// scoresH16VGo is scoresH16Go in ggml_vec_dot_f16's order (dotF16): each
// 64-element step of q·k_j in 4 accumulators of 16 lanes, reduce4x16, then
// the last len(q)%64 products added in float64.
func scoresH16VGo(s []float32, k []uint16, stride int, q []float32, scale float32) {
	D := len(q)
	np := D &^ 63
	for j := range s {
		kj := k[j*stride : j*stride+D]
		var sum [4][16]float32
		for i := 0; i < np; i += 64 {
			for a := range sum {
				for l := range sum[a] {
					e := i + 16*a + l
					sum[a][l] += weights.FP16ToFP32(kj[e]) * q[e]
				}
			}
		}
		var part float64
		if np > 0 {
			part = float64(reduce4x16(&sum))
		}
		for e := np; e < D; e++ {
			part += float64(weights.FP16ToFP32(kj[e]) * q[e])
		}
		s[j] = float32(part) * scale
	}
}

// scoresH16VGroupGo is scoresH16VGo for 4 queries q[h*qstride:][:d] over the
// same sstride K rows, scores of query h to s[h*sstride:][:sstride]: the twin
// of scoresH16V4.
func scoresH16VGroupGo(s []float32, sstride int, k []uint16, stride int, q []float32, qstride, d int, scale float32) {
	for h := 0; h < 4; h++ {
		scoresH16VGo(s[h*sstride:(h+1)*sstride], k, stride, q[h*qstride:h*qstride+d], scale)
	}
}

// scoresF32Go is scoresH16Go for f32 rows, in dotF32s's order.
func scoresF32Go(s, k []float32, stride int, q []float32, scale float32) {
	for j := range s {
		s[j] = dotF32s(k[j*stride:j*stride+len(q)], q) * scale
	}
}

// probsH16Go sets p[j] = f16(p[j]*inv), the probabilities as ggml's F16
// matmul sees them.
func probsH16Go(p []float32, inv float32) {
	for j, v := range p {
		p[j] = weights.FP16ToFP32(weights.FP32ToFP16(v * inv))
	}
}

// pvH16Go sets o = sum_j p[j]*v_j over f16 rows v_j, summed in order j (p
// holds f16 values, so products are exact).
func pvH16Go(o []float32, v []uint16, stride int, p []float32) {
	clear(o)
	for j, pj := range p {
		axpyH16(o, v[j*stride:j*stride+len(o)], pj)
	}
}

// pvF32Go is pvH16Go for f32 rows; each product is rounded before the add.
func pvF32Go(o, v []float32, stride int, p []float32) {
	clear(o)
	for j, pj := range p {
		vj := v[j*stride : j*stride+len(o)]
		for d := range o {
			o[d] += float32(pj * vj[d])
		}
	}
}

// dotF32s is a·b for f32 vectors in dotF32's 16-lane order.
func dotF32s(a, b []float32) float32 {
	var acc [16]float32
	for i := range a {
		acc[i&15] += float32(a[i] * b[i])
	}
	return reduce16(&acc)
}

// axpyH16 adds p*v to o for f16 v (p is an f16 value, so products are exact).
func axpyH16(o []float32, v []uint16, p float32) {
	for d := range o {
		o[d] += p * weights.FP16ToFP32(v[d])
	}
}
