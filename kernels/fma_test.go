package kernels

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fma32Ref rounds the exact a*b+c to float32 (round half to even) with
// math/big, an implementation independent of fma32's TwoSum argument.
func fma32Ref(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// TestFMA32 checks fma32 against the exact rounding on random operands and
// on constructed ties, where a float64 sum rounded again to float32 (double
// rounding) would be wrong.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	check := func(a, b, c float32) {
		t.Helper()
		want := fma32Ref(a, b, c)
		// fma32 is FMADD on arm64 and fma32Go elsewhere: both must round once.
		for _, f := range []struct {
			name string
			fn   func(a, b, c float32) float32
		}{{"fma32", fma32}, {"fma32Go", fma32Go}} {
			if got := f.fn(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s(%g, %g, %g) = %g (%#x), exact rounding %g (%#x)", f.name, a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
			}
		}
	}
	for i := 0; i < 200000; i++ {
		a := float32(rng.NormFloat64())
		b := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
		c := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
		check(a, b, c)
		check(a, float32(rng.IntN(1<<17)-1<<16), c) // lane sums times scales
	}
	// Double-rounding cases: a = 1+k*2^-23, b = ±2^-24*(1-k*2^-23), so
	// a*b = ±2^-24*(1 - k^2*2^-46); with c = 1+2^-23 (odd last bit) or
	// c = 1+3*2^-23 the float64 sum lands exactly on a float32 midpoint
	// while the exact value lies just beside it. A naive float64 sum rounded
	// to float32 must get some of these wrong, or the cases test nothing.
	naiveWrong := 0
	for k := 1; k < 1<<12; k++ {
		kk := float32(k) * float32(math.Ldexp(1, -23))
		for _, sg := range []float32{1, -1} {
			for _, c := range []float32{1 + float32(math.Ldexp(1, -23)), 1 + 3*float32(math.Ldexp(1, -23))} {
				a, b := 1+kk, sg*float32(math.Ldexp(1, -24))*(1-kk)
				check(a, b, c)
				check(-a, b, -c)
				if float32(float64(a)*float64(b)+float64(c)) != fma32Ref(a, b, c) {
					naiveWrong++
				}
			}
		}
	}
	if naiveWrong == 0 {
		t.Fatal("no constructed case defeats naive double rounding")
	}
	t.Logf("%d constructed cases where float32(float64 a*b+c) is wrong", naiveWrong)
}
