package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSiLUTwin checks the AVX-512 ggml_v_silu against its twin bit for bit
// over random values of every magnitude, the range edges of ggml_v_expf
// (|n| near 192) and special values.
func TestSiLUTwin(t *testing.T) {
	if !hasZ512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(81, 82))
	var vals []float32
	for i := 0; i < 1<<16; i++ {
		vals = append(vals, float32(rng.NormFloat64()*4), math.Float32frombits(rng.Uint32()))
	}
	for x := float32(-140); x <= 140; x += 0.0625 {
		vals = append(vals, x, math.Nextafter32(x, 1))
	}
	vals = append(vals, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 88.7, -88.7, 103.9, -103.9)
	for len(vals)%16 != 0 {
		vals = append(vals, 1)
	}
	got := append([]float32(nil), vals...)
	siluV16(&got[0], len(got)/16)
	for i, x := range vals {
		want := vSiLU(x)
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) {
			t.Fatalf("silu(%g = %#x): asm %g (%#x), twin %g (%#x)", x, math.Float32bits(x), got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
		}
	}
}

// siluTestValues are random values of every magnitude, the range edges of
// ggml_v_expf (|n| near 126 and 192) and special values, a multiple of 16.
func siluTestValues(seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var vals []float32
	for i := 0; i < 1<<16; i++ {
		vals = append(vals, float32(rng.NormFloat64()*4), math.Float32frombits(rng.Uint32()))
	}
	for x := float32(-140); x <= 140; x += 0.0625 {
		vals = append(vals, x, math.Nextafter32(x, 1))
	}
	vals = append(vals, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 88.7, -88.7, 103.9, -103.9)
	for len(vals)%16 != 0 {
		vals = append(vals, 1)
	}
	return vals
}

// TestSiLU8Twin checks the AVX2 ggml_v_silu against its twin bit for bit.
// In each vector of 8 the values lie in one range (the |n| > 126 route
// runs for whole vectors) and, separately, ranges mixed (that route then
// picks per lane).
func TestSiLU8Twin(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA")
	}
	vals := siluTestValues(85)
	rng := rand.New(rand.NewPCG(86, 87))
	mixed := append([]float32(nil), vals...)
	rng.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	for _, vs := range [][]float32{vals, mixed} {
		got := append([]float32(nil), vs...)
		siluV8(&got[0], len(got)/8)
		for i, x := range vs {
			want := vSiLU8(x)
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) {
				t.Fatalf("silu(%g = %#x): asm %g (%#x), twin %g (%#x)", x, math.Float32bits(x), got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
			}
		}
	}
}

// TestExpf8 checks the AVX2 form of ggml_v_expf: within 2 ulp of exp
// where the result is a normal float32 (1.86 measured over this range in
// steps of 2^-10; the AVX-512 form reaches 2.18), 0 and +Inf past it.
func TestExpf8(t *testing.T) {
	for x := float32(-87); x <= 88; x += 0.00390625 {
		want := math.Exp(float64(x))
		_, e := math.Frexp(want)
		ulp := math.Ldexp(1, e-24) // of float32 values in [2^(e-1), 2^e)
		got := float64(vExpf8(x))
		if d := math.Abs(got-want) / ulp; d > 2 {
			t.Fatalf("expf8(%g) = %g, want %g (%.2f ulp)", x, got, want, d)
		}
	}
	for _, c := range []struct{ x, want float32 }{{-200, 0}, {-1000, 0}, {200, float32(math.Inf(1))}, {0, 1}} {
		if got := vExpf8(c.x); got != c.want {
			t.Errorf("expf8(%g) = %g, want %g", c.x, got, c.want)
		}
	}
}

// TestSiLUAccuracy bounds ggml_v_silu (the twin) against float64 x·σ(x):
// the ARM routine's expf is within ~2 ulp, so SiLU stays within 8 ulp.
func TestSiLUAccuracy(t *testing.T) {
	for x := float32(-30); x <= 30; x += 0.001 {
		want := float64(x) / (1 + math.Exp(-float64(x)))
		got := float64(vSiLU(x))
		if d := math.Abs(got - want); d > 8*math.Abs(want)*0x1p-24+1e-38 {
			t.Fatalf("silu(%g) = %g, want %g (diff %g)", x, got, want, d)
		}
	}
}

// TestSiLURowTail checks that a row's last len%16 values take the scalar
// formula and the rest the vector one, as ggml_vec_swiglu_f32 does.
func TestSiLURowTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 172, 8192} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 3)
		}
		want := append([]float32(nil), v...)
		if !hasZ512 && hasAVX2 {
			siluRow8Go(want) // 8 wide, the tail n%8
		} else {
			siluRowGo(want)
		}
		SiLURow(v)
		for i := range v {
			if math.Float32bits(v[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: [%d] = %g, twin %g", n, i, v[i], want[i])
			}
		}
	}
}

func BenchmarkSiLURow(b *testing.B) {
	v := make([]float32, 8192)
	for i := range v {
		v[i] = float32(i%200)/20 - 5
	}
	b.SetBytes(4 * int64(len(v)))
	for b.Loop() {
		SiLURow(v)
		for i := range v {
			v[i] = float32(i%200)/20 - 5
		}
	}
}
