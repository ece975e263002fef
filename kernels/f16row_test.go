package kernels

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"dayi/weights"
)

// f16TestFloats are float32 bit patterns for the conversion tests: a stride
// over all 2^32 patterns, and around every exponent that rounds into the
// binary16 range (subnormals, overflow) the mantissas whose dropped 13 bits
// are just below, at and above half, with both parities of the kept bit,
// for both signs; NaNs with several payloads, infinities and zeros.
func f16TestFloats() []float32 {
	var xs []float32
	for b := uint64(0); b < 1<<32; b += 4093 {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	mant := []uint32{0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x2fff, 0x3000, 0x3001, 0x7fe000, 0x7fefff, 0x7ff000, 0x7fffff}
	for e := uint32(95); e <= 145; e++ {
		for _, m := range mant {
			for _, s := range []uint32{0, 1 << 31} {
				xs = append(xs, math.Float32frombits(s|e<<23|m))
			}
		}
	}
	for _, b := range []uint32{0x7f800000, 0xff800000, 0x7f800001, 0x7fc00000, 0xffc00001, 0x7fbfffff, 0x7f802000, 0x7fffffff, 0x80000000} {
		xs = append(xs, math.Float32frombits(b))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
	return xs
}

// TestF16Rows checks both row conversions against their Go twins bit for
// bit (NaN payloads included: both sides keep the top mantissa bits and
// set the quiet bit), on every binary16 value and the float32 patterns
// above, at every length to 100 and offset 0-3 so each tail path runs.
func TestF16Rows(t *testing.T) {
	xs := f16TestFloats()
	got, want := make([]uint16, len(xs)), make([]uint16, len(xs))
	F32ToF16Row(got, xs)
	f32ToF16Go(want, xs)
	for i := range xs {
		if got[i] != want[i] {
			t.Fatalf("F32ToF16Row(%#08x) = %#04x, want %#04x", math.Float32bits(xs[i]), got[i], want[i])
		}
	}
	hs := make([]uint16, 1<<16)
	for i := range hs {
		hs[i] = uint16(i)
	}
	gf, wf := make([]float32, len(hs)), make([]float32, len(hs))
	F16ToF32Row(gf, hs)
	f16ToF32Go(wf, hs)
	for i := range hs {
		if math.Float32bits(gf[i]) != math.Float32bits(wf[i]) {
			t.Fatalf("F16ToF32Row(%#04x) = %#08x, want %#08x", hs[i], math.Float32bits(gf[i]), math.Float32bits(wf[i]))
		}
	}
	for n := 0; n <= 100; n++ {
		for off := 0; off < 4; off++ {
			x := xs[off : off+n]
			o := make([]uint16, n+1)
			o[n] = 0xdead
			F32ToF16Row(o[:n], x)
			for i := range n {
				if o[i] != want[off+i] {
					t.Fatalf("n=%d off=%d: element %d = %#04x, want %#04x", n, off, i, o[i], want[off+i])
				}
			}
			if o[n] != 0xdead {
				t.Fatalf("n=%d: F32ToF16Row wrote past the row", n)
			}
			h := hs[1000+off : 1000+off+n]
			f := make([]float32, n+1)
			f[n] = -7
			F16ToF32Row(f[:n], h)
			for i := range n {
				if math.Float32bits(f[i]) != math.Float32bits(wf[1000+off+i]) {
					t.Fatalf("n=%d off=%d: element %d = %g, want %g", n, off, i, f[i], wf[1000+off+i])
				}
			}
			if f[n] != -7 {
				t.Fatalf("n=%d: F16ToF32Row wrote past the row", n)
			}
		}
	}
}

// BenchmarkF32ToF16Row converts one layer's K and V rows of a 128-row
// qwen2-0.5b step (2 × 128 × 128 values).
func BenchmarkF32ToF16Row(b *testing.B) {
	x := make([]float32, 2*128*128)
	for i := range x {
		x[i] = float32(i%1000) * 0.37
	}
	o := make([]uint16, len(x))
	b.Run("simd", func(b *testing.B) {
		for range b.N {
			F32ToF16Row(o, x)
		}
	})
	b.Run("go", func(b *testing.B) {
		for range b.N {
			f32ToF16Go(o, x)
		}
	})
	b.Run("ref", func(b *testing.B) {
		for range b.N {
			for i, v := range x {
				o[i] = weights.FP32ToFP16(v)
			}
		}
	})
}

// TestF32ToF16MatchesWeights compares the branch-free conversion with
// weights.FP32ToFP16 (itself tested against ggml's) on a strided walk over
// all float32 bit patterns and every pattern with DAYI_EXHAUSTIVE=1.
func TestF32ToF16MatchesWeights(t *testing.T) {
	stride := uint64(61)
	if os.Getenv("DAYI_EXHAUSTIVE") != "" {
		stride = 1
	} else if testing.Short() {
		stride = 9973
	}
	bad := 0
	for b := uint64(0); b < 1<<32; b += stride {
		f := math.Float32frombits(uint32(b))
		if got, want := f32ToF16(f), weights.FP32ToFP16(f); got != want {
			if bad++; bad <= 10 {
				t.Errorf("f32ToF16(%g [%#x]) = %#x, weights.FP32ToFP16 %#x", f, uint32(b), got, want)
			}
		}
	}
	// Every float16 rounding boundary: each float16 value's float32 and
	// the float32 values around the midpoints to its neighbour.
	for h := range 1 << 16 {
		f := weights.FP16ToFP32(uint16(h))
		fb := math.Float32bits(f)
		for _, d := range []int64{0, 0xfff, 0x1000, 0x1001, -0x1000, -0xfff, -0x1001} {
			v := math.Float32frombits(uint32(int64(fb) + d))
			if got, want := f32ToF16(v), weights.FP32ToFP16(v); got != want {
				if bad++; bad <= 10 {
					t.Errorf("f32ToF16(%g [%#x]) = %#x, weights.FP32ToFP16 %#x", v, math.Float32bits(v), got, want)
				}
			}
		}
	}
}
