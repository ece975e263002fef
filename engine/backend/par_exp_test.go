package backend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpNegAbsDispatchMatchesGo compares expNegAbs (the assembly where the
// CPU has it) with its pure-Go twin bit for bit, on every length up to 41
// (the 4-lane body and its tail) and on ~20 M inputs over the whole float32
// range, out-of-range lanes included.
func TestExpNegAbsDispatchMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	n := 1 << 20
	if testing.Short() {
		n = 1 << 14
	}
	x := make([]float32, n)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = 200*r.Float32() - 100
		case 1:
			x[i] = math.Float32frombits(r.Uint32())
		default:
			x[i] = float32(math.Ldexp(r.Float64()-0.5, r.IntN(16)-8))
		}
	}
	copy(x, []float32{0, float32(math.Copysign(0, -1)), 87, -87, 87.00001, 1e-45, float32(math.NaN()),
		float32(math.Inf(-1)), math.MaxFloat32, 1, -1})
	got, want := make([]float64, n), make([]float64, n)
	check := func(x []float32) {
		expNegAbs(x, got[:len(x)])
		expNegAbsGo(x, want[:len(x)])
		for i := range x {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("len %d: e^-|%g| = %#x (dispatch, avx2=%v), Go twin %#x", len(x), x[i], math.Float64bits(got[i]),
					hasAVX2, math.Float64bits(want[i]))
			}
		}
	}
	for l := 0; l <= 41; l++ {
		check(x[3 : 3+l])
	}
	for range 20 {
		check(x)
		for i := range x {
			x[i] = 200*r.Float32() - 100
		}
	}
}
