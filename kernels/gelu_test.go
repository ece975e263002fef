package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestGeluF16Row checks GeluF16Row (assembly where the CPU has it, plus
// the Go tail) against the definition, element by element and bit for
// bit: the clamps at exactly ±10 and just inside, values that round to
// f16 halfway cases, subnormals, infinities, and a spread of magnitudes,
// in lengths that are and are not multiples of 16; and the AVX2 form
// where the CPU has AVX2.
func TestGeluF16Row(t *testing.T) {
	tab := GeluF16Table()
	want := func(x float32) float32 {
		if x <= -10 {
			return 0
		}
		if x >= 10 {
			return x
		}
		return tab[weights.FP32ToFP16(x)]
	}
	rng := rand.New(rand.NewPCG(101, 102))
	special := []float32{-10, 10, math.Nextafter32(-10, 0), math.Nextafter32(10, 0), 0, float32(math.Copysign(0, -1)),
		1 + 1.0/2048, 1 + 3.0/2048, -(1 + 1.0/2048), 1e-8, -1e-8, 6e-5, 65504, -65520,
		float32(math.Inf(1)), float32(math.Inf(-1)), 3.14159, -0.5}
	for _, n := range []int{1, 15, 16, 17, 64, 1000} {
		v := make([]float32, n)
		for i := range v {
			if i < len(special) && n >= 16 {
				v[i] = special[i]
				continue
			}
			v[i] = float32(rng.NormFloat64() * math.Pow(4, float64(rng.IntN(5)-2)))
		}
		in := append([]float32(nil), v...)
		GeluF16Row(v)
		for i, x := range in {
			if w := want(x); math.Float32bits(v[i]) != math.Float32bits(w) {
				t.Fatalf("n=%d: gelu(%g) = %g (%#x), want %g (%#x)", n, x, v[i], math.Float32bits(v[i]), w, math.Float32bits(w))
			}
		}
		// The AVX2 form on its own (GeluF16Row takes the AVX-512 one
		// where the CPU has both).
		if n8 := n &^ 7; hasAVX2 && n8 > 0 {
			copy(v, in)
			geluF16Row8(&v[0], n8, &tab[0])
			for i, x := range in[:n8] {
				if w := want(x); math.Float32bits(v[i]) != math.Float32bits(w) {
					t.Fatalf("AVX2 n=%d: gelu(%g) = %g (%#x), want %g (%#x)", n, x, v[i], math.Float32bits(v[i]), w, math.Float32bits(w))
				}
			}
		}
	}
}
