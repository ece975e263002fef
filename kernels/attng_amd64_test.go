package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestScoresH16V4 checks the grouped score kernel against its twin (4 calls
// of scoresH16VGo) bit for bit, and a decode step of grouped-query attention
// with it against the per-head path (kScoresH16V4 unset), for group sizes 4
// and 8, head sizes 64, 128 and 256, and windows.
func TestScoresH16V4(t *testing.T) {
	if !hasZ512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(91, 92))
	h16 := func(n int) []uint16 {
		v := make([]uint16, n)
		for i := range v {
			v[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
		}
		return v
	}
	for _, D := range []int{64, 128, 256} {
		for _, n := range []int{1, 7, 33, 300} {
			const Hkv = 3
			k := h16(n * Hkv * D)
			q := make([]float32, 4*D+5)
			for i := range q {
				q[i] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.NormFloat64())))
			}
			got, want := make([]float32, 4*n), make([]float32, 4*n)
			scoresH16V4Asm(got, n, k[D:], Hkv*D, q, D+1, D, 0.07)
			scoresH16VGroupGo(want, n, k[D:], Hkv*D, q, D+1, D, 0.07)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("D=%d n=%d: score %d = %g, twin %g", D, n, i, got[i], want[i])
				}
			}
		}
	}
	p := NewPool(2)
	defer p.Close()
	for _, c := range []struct{ H, Hkv, D, kvLen, win int }{
		{32, 8, 128, 300, 0}, {8, 1, 256, 77, 0}, {16, 2, 64, 200, 50}, {8, 4, 128, 40, 0}} {
		S := c.kvLen + 8
		kh, vh := h16(S*c.Hkv*c.D), h16(S*c.Hkv*c.D)
		q := make([]float32, c.H*c.D)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		run := func() []float32 {
			out := make([]float32, c.H*c.D)
			if err := p.Attention(q, 1, c.H, c.D, nil, nil, kh, vh, S, c.Hkv, c.kvLen, c.kvLen-1, c.win, 0.09, out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		got := run()
		saved := kScoresH16V4
		kScoresH16V4 = nil
		want := run()
		kScoresH16V4 = saved
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: out[%d] = %g grouped, %g per head", c, i, got[i], want[i])
			}
		}
	}
}
