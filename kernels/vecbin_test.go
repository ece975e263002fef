package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// vecSpecials are planted among random values: signed zeros, infinities,
// subnormals, the largest finite values and NaNs with distinct payloads
// (the SIMD kernels must propagate the same NaN as the scalar loop).
var vecSpecials = []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 1, 0x807fffff, 0x7f7fffff, 0xff7fffff,
	0x7fc00001, 0xffc12345, 0x7f800abc /* signalling */, 0x3f800000}

func vecRand(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		if rng.IntN(4) == 0 {
			v[i] = math.Float32frombits(vecSpecials[rng.IntN(len(vecSpecials))])
		} else {
			v[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
		}
	}
	return v
}

// vecSame is bit equality, except that when both operands are NaN either
// operand's NaN may come out: which one the scalar loop returns for a
// commutative op depends on the operand order the Go compiler picks.
func vecSame(got, want, x, y float32) bool {
	if x != x && y != y {
		return got != got && want != want
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

// TestVecBinary checks VecBinary and VecBinaryScalar (the AVX2 kernels
// where the CPU has them) against the scalar twins bit for bit (vecSame),
// over every length to 100 (the 32- and 8-float steps and the Go tail),
// for all ops and both operand orders, with specials planted (vecSpecials).
func TestVecBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 100; n++ {
		a, b := vecRand(rng, n+3), vecRand(rng, n+3)
		for _, op := range []VecOp{VecAdd, VecSub, VecMul} {
			got, want := make([]float32, n), make([]float32, n)
			VecBinary(op, got, a, b)
			vecVVGo(op, want, a, b)
			for i := range want {
				if !vecSame(got[i], want[i], a[i], b[i]) {
					t.Fatalf("op %d n=%d: o[%d] = %#x (%g op %g), twin %#x", op, n, i, math.Float32bits(got[i]), a[i], b[i], math.Float32bits(want[i]))
				}
			}
			for _, y := range []float32{b[0], math.Float32frombits(0x7fc00077), float32(math.Inf(-1))} {
				for _, yFirst := range []bool{false, true} {
					VecBinaryScalar(op, got, a, y, yFirst)
					vecVSGo(op, want, a, y, yFirst)
					for i := range want {
						if !vecSame(got[i], want[i], a[i], y) {
							t.Fatalf("op %d n=%d y=%g first %v: o[%d] = %#x, twin %#x", op, n, y, yFirst, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	}
}

// TestVecBinaryTwinIsIEEE pins the twins to the operation itself: each
// element equals the float64 result rounded once to float32 (exact for a
// single add, subtract or multiply of float32 values), for finite inputs.
func TestVecBinaryTwinIsIEEE(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	a, b := make([]float32, 4096), make([]float32, 4096)
	for i := range a {
		a[i] = float32(rng.NormFloat64() * 1e3)
		b[i] = float32(rng.NormFloat64() * 1e-3)
	}
	o := make([]float32, len(a))
	for _, op := range []VecOp{VecAdd, VecSub, VecMul} {
		VecBinary(op, o, a, b)
		for i := range o {
			x, y := float64(a[i]), float64(b[i])
			want := [...]float64{x + y, x - y, x * y}[op]
			if o[i] != float32(want) {
				t.Fatalf("op %d: %g op %g = %g, want %g", op, a[i], b[i], o[i], float32(want))
			}
		}
	}
}
