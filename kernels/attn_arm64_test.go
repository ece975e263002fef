package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// f16Rows returns n f16 values of about the given scale.
func f16Rows(rng *rand.Rand, n int, scale float64) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		v[i] = weights.FP32ToFP16(float32(rng.NormFloat64() * scale))
	}
	return v
}

// TestNEONAttentionTwins checks the NEON decode-attention kernels against
// their Go twins bit for bit (CI: under qemu-aarch64, scripts/ci-arm64.sh):
// scores over K rows at a stride, p·V sums and the f16 rounding of the
// probabilities, including lengths the assembly leaves to the twins.
func TestNEONAttentionTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: [%d] NEON %v (%#08x), Go twin %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	for _, d := range []int{8, 48, 64, 128, 256} {
		for _, n := range []int{1, 2, 7, 100} {
			stride := d*3 + 16 // rows of one KV head among others
			k := f16Rows(rng, (n-1)*stride+d, 2)
			q := make([]float32, d)
			for i := range q {
				q[i] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.NormFloat64())))
			}
			scale := float32(1 / math.Sqrt(float64(d)))
			want, got := make([]float32, n), make([]float32, n)
			scoresH16VGo(want, k, stride, q, scale)
			kScoresH16V(got, k, stride, q, scale)
			same("scores (vec_dot_f16 order)", got, want)
			scoresH16Go(want, k, stride, q, scale)
			kScoresH16(got, k, stride, q, scale)
			same("scores (16 lanes)", got, want)

			p := make([]float32, n)
			for i := range p {
				p[i] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.Float64())))
			}
			wo, go_ := make([]float32, d), make([]float32, d)
			for i := range go_ {
				go_[i] = float32(i) // kPVH16 must overwrite o
			}
			pvH16Go(wo, k, stride, p)
			kPVH16(go_, k, stride, p)
			same("p·V", go_, wo)
		}
	}
	for _, n := range []int{0, 1, 3, 4, 5, 37} {
		for _, scale := range []float64{1, 1e-6, 1e4} { // normal, f16 subnormal, beyond f16's range
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.Float64() * 7 * scale)
			}
			inv := float32(1 / (1 + rng.Float64()))
			want := append([]float32(nil), v...)
			probsH16Go(want, inv)
			kProbsH16(v, inv)
			same("probs", v, want)
		}
	}
}
