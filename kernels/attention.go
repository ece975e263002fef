package kernels

import (
	"fmt"
	"math"

	"dayi/weights"
)

// attnTask holds one Attention call's operands (pool-owned, see matmulTask).
type attnTask struct {
	q                     []float32
	T, H, D               int
	kf32, vf32            []float32
	kf16, vf16            []uint16
	Hkv, kvLen, pos0, win int
	scale                 float32
	out                   []float32
	p                     *Pool
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
// are exact in float32. An f32 cache is plain float32.
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
	at := &p.at
	*at = attnTask{q: q, T: T, H: H, D: D, kf32: kf32, vf32: vf32, kf16: kf16, vf16: vf16,
		Hkv: Hkv, kvLen: kvLen, pos0: pos0, win: window, scale: scale, out: out, p: p}
	p.run(at, T*H, 1)
	*at = attnTask{}
	return nil
}

func (at *attnTask) run(lo, hi, worker int) {
	D := at.D
	group := at.H / at.Hkv
	sc := at.p.floatScratch(worker, at.kvLen)
	var h16 []uint16
	if at.kf16 != nil {
		h16 = at.p.halfScratch(worker, max(D, at.kvLen))
	}
	for item := lo; item < hi; item++ {
		i, h := item/at.H, item%at.H
		kvh := h / group
		pos := at.pos0 + i
		jhi := min(at.kvLen, pos+1)
		jlo := 0
		if at.win > 0 {
			jlo = max(0, pos+1-at.win)
		}
		q := at.q[(i*at.H+h)*D : (i*at.H+h+1)*D]
		o := at.out[(i*at.H+h)*D : (i*at.H+h+1)*D]
		clear(o)
		if jhi <= jlo {
			continue
		}
		// Scores.
		mx := float32(math.Inf(-1))
		if h16 != nil {
			qh := h16[:D]
			for d, v := range q {
				qh[d] = weights.FP32ToFP16(v)
			}
			for j := jlo; j < jhi; j++ {
				off := (j*at.Hkv + kvh) * D
				s := dotH16(at.kf16[off:off+D], qh) * at.scale
				sc[j] = s
				mx = max(mx, s)
			}
		} else {
			for j := jlo; j < jhi; j++ {
				off := (j*at.Hkv + kvh) * D
				s := dotF32s(at.kf32[off:off+D], q) * at.scale
				sc[j] = s
				mx = max(mx, s)
			}
		}
		// Softmax: exp in float32 precision, sum in float64 (ggml_vec_soft_max_f32).
		var sum float64
		for j := jlo; j < jhi; j++ {
			e := float32(math.Exp(float64(sc[j] - mx)))
			sc[j] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		// Weighted values.
		if h16 != nil {
			for j := jlo; j < jhi; j++ {
				pj := weights.FP16ToFP32(weights.FP32ToFP16(sc[j] * inv))
				off := (j*at.Hkv + kvh) * D
				axpyH16(o, at.vf16[off:off+D], pj)
			}
		} else {
			for j := jlo; j < jhi; j++ {
				pj := sc[j] * inv
				off := (j*at.Hkv + kvh) * D
				v := at.vf32[off : off+D]
				for d := range o {
					o[d] += float32(pj * v[d])
				}
			}
		}
	}
}

// dotH16 is a·b for f16 vectors in dotF16's 16-lane order.
func dotH16(a, b []uint16) float32 {
	var acc [16]float32
	for i := range a {
		acc[i&15] += weights.FP16ToFP32(a[i]) * weights.FP16ToFP32(b[i])
	}
	return reduce16(&acc)
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
