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
// so each K/V row read from memory serves fullQB queries. The arithmetic
// is the same kernels' (kScoresF32, kSoftmax, kPVF32): scores, an exact
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
	sc := at.p.floatScratch(worker, 2*n*D+fullQB*n+D)
	kp, vp := sc[:n*D], sc[n*D:2*n*D]
	s := sc[2*n*D : 2*n*D+fullQB*n]
	tmp := sc[2*n*D+fullQB*n:]
	packed := -1
	for item := lo; item < hi; item++ {
		h, qb := item/at.nqb, item%at.nqb
		if kvh := h / group; kvh != packed {
			for j := range n {
				src := (j*at.Hkv + kvh) * D
				copy(kp[j*D:(j+1)*D], at.k[src:src+D])
				copy(vp[j*D:(j+1)*D], at.v[src:src+D])
			}
			packed = kvh
		}
		i0 := qb * fullQB
		rows := min(at.T, i0+fullQB) - i0
		for j0 := 0; j0 < n; j0 += fullKB {
			j1 := min(n, j0+fullKB)
			for r := range rows {
				i := i0 + r
				kScoresF32(s[r*n+j0:r*n+j1], kp[j0*D:j1*D], D, at.q[(i*H+h)*D:(i*H+h+1)*D], at.scale)
			}
		}
		for r := range rows {
			row := s[r*n : (r+1)*n]
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
				kPVF32(tmp[:D], vp[j0*D:j1*D], D, s[r*n+j0:r*n+j1])
				addRow(at.out[(i*H+h)*D:(i*H+h+1)*D], tmp[:D])
			}
		}
	}
}
