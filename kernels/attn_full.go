package kernels

// Full (non-causal) f32 attention over many queries: the vision tower's
// case, 4096 patches each attending all 4096 (SigLIP in a gemma3 mmproj).
//
// The per-row path (attnTask.run) streams all kvLen K rows and then all V
// rows for every (query, head): at 4096 keys of 72 values strided by the
// model width that is 2.4 MB of scattered reads per row, far beyond L1/L2,
// and profiling the So400m shape showed it at about 2 GMAC/s on 2 threads,
// 83 % of the encode, against 26 GMAC/s for the f16 weight GEMMs. Here a
// worker copies one kv head's K and V into contiguous scratch once and runs
// a block of queries over blocks of keys that stay in L1 (fullKB rows of D),
// so each K/V row read from memory serves fullQB queries. On AVX-512 the K
// block is stored transposed and kScoresT makes 16 scores per vector with
// no horizontal sum per key (kScoresF32's per-key reduction was then the
// top item), in kScoresF32's order of additions. The rest is the same kernels'
// (kSoftmax, kPVF32): scores, an exact
// softmax over the whole row (ggml_soft_max_ext: exp, float64 sum, p = e *
// 1/sum), then p·V, whose sum is taken per key block and the block sums
// added in order (a different association of the same f32 sum; clip.cpp's
// non-flash ggml_mul_mat splits it its own way too).

const (
	// fullQB queries share each key block; their score rows (fullQB ×
	// kvLen floats, 256 KB at 4096 keys) stay in L2.
	fullQB = 16
	// fullKB keys of D values form one block: 36 KB at D = 72, in L1.
	fullKB = 128
	// fullMinT is the fewest queries worth the packing (a few rows of
	// a prefill or decode keep the per-row path).
	fullMinT = 64
)

// fullAttnTask is one attentionFullF32 call; item = (head, query block).
type fullAttnTask struct {
	q, k, v, out        []float32
	T, H, D, Hkv, kvLen int
	nqb                 int
	scale               float32
	p                   *Pool
}

// attentionFullF32 is Attention for f32 K/V when every query attends keys
// [0, kvLen) (window 0, pos0+1 >= kvLen). p.mu must be held.
func (p *Pool) attentionFullF32(q []float32, T, H, D int, k, v []float32, Hkv, kvLen int, scale float32, out []float32) {
	at := &fullAttnTask{q: q, k: k, v: v, out: out, T: T, H: H, D: D, Hkv: Hkv, kvLen: kvLen,
		nqb: (T + fullQB - 1) / fullQB, scale: scale, p: p}
	p.run(at, H*at.nqb, 1)
}

func (at *fullAttnTask) run(lo, hi, worker int) {
	D, n, H := at.D, at.kvLen, at.H
	group := H / at.Hkv
	// With kScoresT the K rows are packed transposed in blocks of fullKB
	// keys (the last one zero-padded) and each score row is npad long.
	trans := kScoresT != nil
	npad := n
	if trans {
		npad = (n + fullKB - 1) / fullKB * fullKB
	}
	sc := at.p.floatScratch(worker, npad*D+n*D+fullQB*npad+D)
	kp, vp := sc[:npad*D], sc[npad*D:npad*D+n*D]
	s := sc[npad*D+n*D : npad*D+n*D+fullQB*npad]
	tmp := sc[npad*D+n*D+fullQB*npad:]
	packed := -1
	for item := lo; item < hi; item++ {
		h, qb := item/at.nqb, item%at.nqb
		if kvh := h / group; kvh != packed {
			at.pack(kp, vp, kvh, trans)
			packed = kvh
		}
		i0 := qb * fullQB
		rows := min(at.T, i0+fullQB) - i0
		for j0 := 0; j0 < n; j0 += fullKB {
			j1 := min(n, j0+fullKB)
			for r := range rows {
				i := i0 + r
				qi := at.q[(i*H+h)*D : (i*H+h+1)*D]
				if trans {
					kScoresT(s[r*npad+j0:r*npad+j0+fullKB], kp[j0*D:(j0+fullKB)*D], qi, at.scale)
				} else {
					kScoresF32(s[r*npad+j0:r*npad+j1], kp[j0*D:j1*D], D, qi, at.scale)
				}
			}
		}
		for r := range rows {
			row := s[r*npad : r*npad+n]
			inv := float32(1 / kSoftmax(row))
			for j := range row {
				row[j] *= inv
			}
			i := i0 + r
			clear(at.out[(i*H+h)*D : (i*H+h+1)*D])
		}
		for j0 := 0; j0 < n; j0 += fullKB {
			j1 := min(n, j0+fullKB)
			for r := range rows {
				i := i0 + r
				o := at.out[(i*H+h)*D : (i*H+h+1)*D]
				if kPVAcc != nil {
					kPVAcc(o, vp[j0*D:j1*D], s[r*npad+j0:r*npad+j1])
					continue
				}
				kPVF32(tmp[:D], vp[j0*D:j1*D], D, s[r*npad+j0:r*npad+j1])
				addRow(o, tmp[:D])
			}
		}
	}
}

// pack copies kv head kvh's K and V rows into kp and vp: V as n rows of D,
// K the same or, with trans, as blocks of fullKB keys stored transposed
// (element i of key j0+jj at kp[j0*D+i*fullKB+jj]), keys past kvLen zero.
func (at *fullAttnTask) pack(kp, vp []float32, kvh int, trans bool) {
	D, n := at.D, at.kvLen
	if trans {
		clear(kp[n/fullKB*fullKB*D:]) // the last, partial block
	}
	for j := range n {
		src := (j*at.Hkv + kvh) * D
		copy(vp[j*D:(j+1)*D], at.v[src:src+D])
		if !trans {
			copy(kp[j*D:(j+1)*D], at.k[src:src+D])
			continue
		}
		j0, jj := j/fullKB*fullKB, j%fullKB
		blk := kp[j0*D : (j0+fullKB)*D]
		for i, x := range at.k[src : src+D] {
			blk[i*fullKB+jj] = x
		}
	}
}

// kPVAcc, when set (AVX-512), adds sum_j p[j]*v_j to o continuing pvF32's
// order of additions (rows v_j of len(o) contiguous): key blocks chained
// through it give the per-row path's bits.
var kPVAcc func(o, v, p []float32)

// pvAccGo is kPVAcc's definition (and its assembly's fallback).
func pvAccGo(o, v, p []float32) {
	D := len(o)
	for j, pj := range p {
		vj := v[j*D : (j+1)*D]
		for d := range o {
			o[d] += float32(pj * vj[d])
		}
	}
}

// kScoresT, when set (AVX-512, attnfull_amd64.go), computes the fullKB
// scores s[j] = (q·k_j)*scale of one transposed block kt (pack's layout).
var kScoresT func(s, kt, q []float32, scale float32)

// scoresTGo is kScoresT's definition (and its assembly's fallback): each
// score in dotF32s's order, so the transposed path gives kScoresF32's bits.
func scoresTGo(s, kt, q []float32, scale float32) {
	for j := range fullKB {
		var acc [16]float32
		for i, x := range q {
			acc[i&15] += float32(x * kt[i*fullKB+j])
		}
		s[j] = reduce16(&acc) * scale
	}
}
