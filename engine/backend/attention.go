package backend

import (
	"fmt"
	"math"

	"dayi/kernels"
	"dayi/weights"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

type sdpaData struct {
	B, T, S, H, Hkv, D int
	bshd               bool
	f16                bool
	quant              kernels.KVQuant // block-quantized K/V rows (Uint8); 0: f16/f32
	scale              float32
	causal             bool
	mask               int // node id of the mask, -1 if none
	maskBool           bool
}

// keyRanges is, per query row t, the unmasked key range [lo, hi); exact is
// set when some row's unmasked keys are not one contiguous range (or an
// additive mask has values other than 0 and -Inf) so the mask must be
// applied element by element.
type keyRanges struct {
	run    uint64
	lo, hi []int32
	exact  bool
	// kernel parameters when every row fits kernels.Attention's causal
	// window form; ok is false otherwise.
	ok                  bool
	pos0, kvLen, window int
}

// ranges derives (and caches for this run) the key ranges of each query row.
func (st *state) ranges(n *node, d *sdpaData, mask *Buffer) *keyRanges {
	id := n.id
	shared := d.mask >= 0 && !d.causal
	if shared {
		id = d.mask // every layer shares the mask: derive once per run
	}
	kr, _ := st.memo[id].(*keyRanges)
	if kr == nil {
		kr = &keyRanges{lo: make([]int32, d.T), hi: make([]int32, d.T)}
		st.memo[id] = kr
	} else if kr.run == st.run && shared {
		return kr
	}
	kr.run = st.run
	kr.exact = false
	S := d.S
	for t := 0; t < d.T; t++ {
		lo, hi := 0, S
		if mask != nil {
			lo, hi = S, 0
			contiguous := true
			if d.maskBool {
				row := mask.flat.([]bool)[t*S : (t+1)*S]
				for s, m := range row {
					if m {
						if hi != 0 && hi != s {
							contiguous = false
						}
						lo = min(lo, s)
						hi = s + 1
					}
				}
			} else {
				row := mask.flat.([]float32)[t*S : (t+1)*S]
				negInf := float32(math.Inf(-1))
				for s, m := range row {
					if m == negInf {
						continue
					}
					if m != 0 {
						contiguous = false // a real bias: apply it exactly
					}
					if hi != 0 && hi != s {
						contiguous = false
					}
					lo = min(lo, s)
					hi = s + 1
				}
			}
			if !contiguous {
				kr.exact = true
			}
			if hi == 0 {
				lo = 0
			}
		}
		if d.causal {
			hi = min(hi, t+1)
		}
		if lo > hi {
			lo = hi
		}
		kr.lo[t], kr.hi[t] = int32(lo), int32(hi)
	}
	// Fit kernels.Attention: hi_t = min(kvLen, pos0+t+1), lo_t = max(0, pos0+t+1-window).
	kr.ok = false
	if !kr.exact && kr.hi[0] >= 1 {
		pos0, kvLen := int(kr.hi[0])-1, int(kr.hi[d.T-1])
		window := 0
		for t := 0; t < d.T; t++ {
			if kr.lo[t] > 0 {
				window = pos0 + t + 1 - int(kr.lo[t])
				break
			}
		}
		ok := window >= 0 && kvLen <= S
		for t := 0; t < d.T && ok; t++ {
			lo := 0
			if window > 0 {
				lo = max(0, pos0+t+1-window)
			}
			ok = int(kr.hi[t]) == min(kvLen, pos0+t+1) && int(kr.lo[t]) == lo
		}
		if ok {
			kr.ok, kr.pos0, kr.kvLen, kr.window = true, pos0, kvLen, window
		}
	}
	return kr
}

func execSDPA(st *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*sdpaData)
	var mask *Buffer
	if d.mask >= 0 {
		mask = ins[3]
	}
	kr := st.ranges(n, d, mask)
	q, o := ins[0].flat.([]float32), out.flat.([]float32)
	if d.quant != 0 {
		if !kr.ok {
			return fmt.Errorf("backend %s: attention over a %s KV cache needs a causal or sliding-window mask", Name, d.quant)
		}
		qs, kvs := d.T*d.H*d.D, d.S*d.Hkv*d.quant.RowBytes(d.D)
		for b := 0; b < d.B; b++ {
			err := st.e.b.kern.AttentionQuant(q[b*qs:(b+1)*qs], d.T, d.H, d.D, ins[1].raw[b*kvs:(b+1)*kvs], ins[2].raw[b*kvs:(b+1)*kvs],
				d.quant, d.quant, d.S, d.Hkv, kr.kvLen, kr.pos0, kr.window, d.scale, o[b*qs:(b+1)*qs])
			if err != nil {
				return err
			}
		}
		return nil
	}
	if kr.ok && d.bshd {
		qs, kvs := d.T*d.H*d.D, d.S*d.Hkv*d.D
		for b := 0; b < d.B; b++ {
			var kf, vf []float32
			var kh, vh []uint16
			if d.f16 {
				kh = viewAs[uint16](ins[1].raw)[b*kvs : (b+1)*kvs]
				vh = viewAs[uint16](ins[2].raw)[b*kvs : (b+1)*kvs]
			} else {
				kf = ins[1].flat.([]float32)[b*kvs : (b+1)*kvs]
				vf = ins[2].flat.([]float32)[b*kvs : (b+1)*kvs]
			}
			err := st.e.b.kern.Attention(q[b*qs:(b+1)*qs], d.T, d.H, d.D, kf, vf, kh, vh, d.S, d.Hkv,
				kr.kvLen, kr.pos0, kr.window, d.scale, o[b*qs:(b+1)*qs])
			if err != nil {
				return err
			}
		}
		return nil
	}
	sdpaLoop(st, n, d, kr, ins, mask, q, o)
	return nil
}

// sdpaLoop is the general path: any layout, any mask (applied exactly).
func sdpaLoop(st *state, n *node, d *sdpaData, kr *keyRanges, ins []*Buffer, mask *Buffer, q, o []float32) {
	var kf, vf []float32
	var kh, vh []uint16
	if d.f16 {
		kh, vh = viewAs[uint16](ins[1].raw), viewAs[uint16](ins[2].raw)
	} else {
		kf, vf = ins[1].flat.([]float32), ins[2].flat.([]float32)
	}
	var mb []bool
	var mf []float32
	if mask != nil && kr.exact {
		if d.maskBool {
			mb = mask.flat.([]bool)
		} else {
			mf = mask.flat.([]float32)
		}
	}
	T, S, H, Hkv, D := d.T, d.S, d.H, d.Hkv, d.D
	group := H / Hkv
	qIdx := func(b, h, t int) int {
		if d.bshd {
			return ((b*T+t)*H + h) * D
		}
		return ((b*H+h)*T + t) * D
	}
	kIdx := func(b, h, s int) int {
		if d.bshd {
			return ((b*S+s)*Hkv + h) * D
		}
		return ((b*Hkv+h)*S + s) * D
	}
	sc := st.f32Scratch(n.id, S+D)
	kvec := sc[S:]
	sc = sc[:S]
	for b := 0; b < d.B; b++ {
		for h := 0; h < H; h++ {
			kvh := h / group
			for t := 0; t < T; t++ {
				qv := q[qIdx(b, h, t) : qIdx(b, h, t)+D]
				ov := o[qIdx(b, h, t) : qIdx(b, h, t)+D]
				clear(ov)
				lo, hi := int(kr.lo[t]), int(kr.hi[t])
				mx := float32(math.Inf(-1))
				for s := lo; s < hi; s++ {
					if mb != nil && !mb[t*S+s] {
						sc[s] = float32(math.Inf(-1))
						continue
					}
					var dot float32
					if d.f16 {
						for i, x := range kh[kIdx(b, kvh, s) : kIdx(b, kvh, s)+D] {
							kvec[i] = weights.FP16ToFP32(x)
						}
						dot = dotF32(qv, kvec)
					} else {
						dot = dotF32(qv, kf[kIdx(b, kvh, s):kIdx(b, kvh, s)+D])
					}
					s2 := dot * d.scale
					if mf != nil {
						s2 += mf[t*S+s]
					}
					sc[s] = s2
					mx = max(mx, s2)
				}
				if math.IsInf(float64(mx), -1) {
					continue // no key attended: output stays zero
				}
				var sum float64
				for s := lo; s < hi; s++ {
					e := float32(math.Exp(float64(sc[s] - mx)))
					sc[s] = e
					sum += float64(e)
				}
				inv := float32(1 / sum)
				for s := lo; s < hi; s++ {
					p := sc[s] * inv
					if p == 0 {
						continue
					}
					if d.f16 {
						for i, x := range vh[kIdx(b, kvh, s) : kIdx(b, kvh, s)+D] {
							ov[i] += p * weights.FP16ToFP32(x)
						}
					} else {
						axpyF32(p, vf[kIdx(b, kvh, s):kIdx(b, kvh, s)+D], ov)
					}
				}
			}
		}
	}
}

// FusedScaledDotProductAttention implements backends.Function: q Float32,
// K/V Float32 or Float16 (same dtype), layouts BSHD and BHSD, GQA, mask
// [T, S] (leading axes of size 1 allowed) boolean or additive Float32, or
// causal (top-left aligned: query t sees keys 0..t, as GoMLX's simplego).
// Each query row only visits its unmasked key range; BSHD with masks of the
// causal/sliding-window form run on kernels.Attention.
func (f *Function) FusedScaledDotProductAttention(query, key, value, mask backends.Value, numHeads, numKVHeads int,
	axesLayout backends.AxesLayout, scale float64, causal bool, options *backends.ScaledDotProductAttentionConfig) (backends.Value, error) {
	vals := []backends.Value{query, key, value}
	if mask != nil {
		vals = append(vals, mask)
	}
	ns, err := f.values(backends.OpTypeFusedScaledDotProductAttention, vals...)
	if err != nil {
		return nil, err
	}
	qs, ks, vs := ns[0].shape, ns[1].shape, ns[2].shape
	fail := func(why string) (backends.Value, error) {
		return nil, fmt.Errorf("backend %s: FusedScaledDotProductAttention(q %s, k %s, v %s, layout %s): %s: %w",
			Name, qs, ks, vs, axesLayout, why, backends.ErrNotImplemented)
	}
	if qs.Rank() != 4 || ks.Rank() != 4 || !sameShape(ks, vs) || qs.DType != dtypes.Float32 ||
		(ks.DType != dtypes.Float32 && ks.DType != dtypes.Float16 && ks.DType != dtypes.Uint8) {
		return fail("want rank-4 Float32 q and Float32/Float16/Uint8 k, v of equal shapes")
	}
	d := &sdpaData{B: qs.Dimensions[0], D: qs.Dimensions[3], scale: float32(scale), causal: causal, mask: -1,
		f16: ks.DType == dtypes.Float16}
	if ks.DType == dtypes.Uint8 {
		// A block-quantized cache (engine KVType q8_0/q4_0): rows of bytes
		// whose length names the type. Only the BSHD causal/window form
		// runs (kernels.AttentionQuant).
		d.quant = kernels.KVQuantFromRow(ks.Dimensions[3], d.D)
		if d.quant == 0 || axesLayout != backends.AxesLayoutBSHD {
			return fail(fmt.Sprintf("a Uint8 K/V cache needs BSHD rows of q8_0 or q4_0 blocks of head dim %d", d.D))
		}
	}
	switch axesLayout {
	case backends.AxesLayoutBSHD:
		d.bshd = true
		d.T, d.H, d.S, d.Hkv = qs.Dimensions[1], qs.Dimensions[2], ks.Dimensions[1], ks.Dimensions[2]
	case backends.AxesLayoutBHSD:
		d.H, d.T, d.Hkv, d.S = qs.Dimensions[1], qs.Dimensions[2], ks.Dimensions[1], ks.Dimensions[2]
	default:
		return fail("unknown layout")
	}
	if d.H != numHeads || d.Hkv != numKVHeads || numKVHeads <= 0 || numHeads%numKVHeads != 0 ||
		ks.Dimensions[0] != d.B || (d.quant == 0 && ks.Dimensions[3] != d.D) || d.T == 0 {
		return fail(fmt.Sprintf("heads %d/%d do not fit", numHeads, numKVHeads))
	}
	if mask != nil {
		ms := ns[3].shape
		ok := ms.Rank() >= 2 && ms.Dimensions[ms.Rank()-2] == d.T && ms.Dimensions[ms.Rank()-1] == d.S &&
			(ms.DType == dtypes.Bool || ms.DType == dtypes.Float32)
		for i := 0; ok && i < ms.Rank()-2; i++ {
			ok = ms.Dimensions[i] == 1
		}
		if !ok {
			return fail(fmt.Sprintf("mask %s must be Bool or Float32 [T=%d, S=%d]", ms, d.T, d.S))
		}
		d.mask = ns[3].id
		d.maskBool = ms.DType == dtypes.Bool
	}
	out := f.newNode(backends.OpTypeFusedScaledDotProductAttention, qs, execSDPA, ns...)
	out.data = d
	return out, nil
}
