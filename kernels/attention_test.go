package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// refAttention is a float64 attention written from the definition (causal,
// sliding window, GQA). With half set it applies ggml's four f16 roundings
// (K, V stored as f16; q and the softmax probabilities converted to f16 by the
// F16 matmuls).
func refAttention(q []float32, T, H, D int, k, v []float32, Hkv, kvLen, pos0, window int, scale float32, half bool) []float64 {
	r := func(x float32) float64 {
		if half {
			return float64(weights.FP16ToFP32(weights.FP32ToFP16(x)))
		}
		return float64(x)
	}
	out := make([]float64, T*H*D)
	for i := 0; i < T; i++ {
		for h := 0; h < H; h++ {
			kvh := h / (H / Hkv)
			hi := min(kvLen, pos0+i+1)
			lo := 0
			if window > 0 {
				lo = max(0, pos0+i+1-window)
			}
			if hi <= lo {
				continue
			}
			s := make([]float64, hi-lo)
			mx := math.Inf(-1)
			for j := lo; j < hi; j++ {
				var dot float64
				for d := 0; d < D; d++ {
					dot += r(q[(i*H+h)*D+d]) * r(k[(j*Hkv+kvh)*D+d])
				}
				s[j-lo] = dot * float64(scale)
				mx = math.Max(mx, s[j-lo])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for j := lo; j < hi; j++ {
				p := r(float32(s[j-lo] / sum))
				for d := 0; d < D; d++ {
					out[(i*H+h)*D+d] += p * r(v[(j*Hkv+kvh)*D+d])
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const S, D = 40, 16
	cases := []struct {
		T, H, Hkv, kvLen, pos0, window int
	}{
		{T: 7, H: 4, Hkv: 2, kvLen: 7, pos0: 0},              // prefill, GQA
		{T: 1, H: 4, Hkv: 4, kvLen: 30, pos0: 29},            // decode
		{T: 5, H: 6, Hkv: 2, kvLen: 37, pos0: 32, window: 8}, // sliding window
		{T: 3, H: 2, Hkv: 1, kvLen: 2, pos0: 1, window: 1},   // window 1: self only
	}
	p := NewPool(2)
	defer p.Close()
	for ci, c := range cases {
		q := make([]float32, c.T*c.H*D)
		k := make([]float32, S*c.Hkv*D)
		v := make([]float32, S*c.Hkv*D)
		for _, a := range [][]float32{q, k, v} {
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
		}
		k16 := make([]uint16, len(k))
		v16 := make([]uint16, len(v))
		for i := range k {
			k16[i], v16[i] = weights.FP32ToFP16(k[i]), weights.FP32ToFP16(v[i])
		}
		scale := float32(1 / math.Sqrt(D))
		for _, half := range []bool{false, true} {
			out := make([]float32, len(q))
			var err error
			if half {
				err = p.Attention(q, c.T, c.H, D, nil, nil, k16, v16, S, c.Hkv, c.kvLen, c.pos0, c.window, scale, out)
			} else {
				err = p.Attention(q, c.T, c.H, D, k, v, nil, nil, S, c.Hkv, c.kvLen, c.pos0, c.window, scale, out)
			}
			if err != nil {
				t.Fatal(err)
			}
			ref := refAttention(q, c.T, c.H, D, k, v, c.Hkv, c.kvLen, c.pos0, c.window, scale, half)
			// f32: float32 rounding only. f16: a probability near an f16
			// rounding boundary may round the other way (one f16 ulp, 2^-11
			// relative) because ours is computed in float32.
			tol := 2e-6
			if half {
				tol = 2e-3
			}
			for i := range out {
				if e := math.Abs(float64(out[i]) - ref[i]); e > tol*(1+math.Abs(ref[i])) {
					t.Fatalf("case %d half=%v: out[%d] = %g, want %g", ci, half, i, out[i], ref[i])
				}
			}
		}
	}
	if err := p.Attention(make([]float32, 16), 1, 1, 16, nil, nil, nil, nil, 1, 1, 1, 0, 0, 1, make([]float32, 16)); err == nil {
		t.Error("no K/V: want error")
	}
}

func TestPoolFor(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for _, n := range []int{1, 2, 7, 100} {
		hits := make([]int, n)
		p.For(n, 2, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: item %d run %d times", n, i, h)
			}
		}
	}
}

// TestExpPoly compares expPoly with the correctly rounded float32 exp (from
// math.Exp in float64, whose error of under 1 float64 ulp matters only at
// float32 ties): every result within 1 float32 ulp, and differences rare.
func TestExpPoly(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	diff := 0
	const n = 2000000
	for i := 0; i < n; i++ {
		var x float32
		switch i % 4 {
		case 0:
			x = float32(-rng.Float64() * 110) // down to float32 subnormals and 0
		case 1:
			x = float32(-rng.Float64() * 2)
		case 2:
			x = float32(rng.Float64() * 95) // up to +Inf
		default:
			x = -float32(rng.ExpFloat64() * 1e-3)
		}
		got, want := expPoly(x), float32(math.Exp(float64(x)))
		if got != want {
			d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
			if d < -1 || d > 1 {
				t.Fatalf("expPoly(%g) = %g, want %g", x, got, want)
			}
			diff++
		}
	}
	if diff > n/100000 {
		t.Errorf("expPoly differs by 1 ulp from float32(math.Exp) in %d of %d cases", diff, n)
	}
	t.Logf("%d of %d differ by 1 ulp", diff, n)
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {-200, 0}, {200, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
	} {
		if got := expPoly(c.x); got != c.want {
			t.Errorf("expPoly(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := expPoly(float32(math.NaN())); got == got {
		t.Errorf("expPoly(NaN) = %g, want NaN", got)
	}
}

// BenchmarkPoolFor measures the dispatch cost of one tiny parallel
// operation (what each of a decode step's ~100 kernel calls pays).
func BenchmarkPoolFor(b *testing.B) {
	for _, th := range []int{1, 2} {
		b.Run("t"+string(rune('0'+th)), func(b *testing.B) {
			p := NewPool(th)
			defer p.Close()
			var sink [2][16]int
			for b.Loop() {
				p.For(2, 1, func(lo, hi int) { sink[lo][0]++ })
			}
		})
	}
}

// pvH16OrderRef is pvH16Lanes written directly from the definition, one
// output at a time: the reference the lane decomposition is tested against.
func pvH16OrderRef(o []float32, v []uint16, stride int, p []float32, jlo, nkv, lanes int) {
	simd := nkv &^ (lanes - 1)
	for d := range o {
		var a [4][16]float32
		for i, pj := range p {
			if j := jlo + i; j < simd {
				a[(j%lanes)/16][j%16] += pj * weights.FP16ToFP32(v[i*stride+d])
			}
		}
		var sum float64
		if lanes == 16 {
			sum = float64(reduce16(&a[0]))
		} else {
			sum = float64(reduce4x16(&a))
		}
		for i, pj := range p {
			if jlo+i >= simd {
				sum += float64(pj * weights.FP16ToFP32(v[i*stride+d]))
			}
		}
		o[d] = float32(sum)
	}
}

// TestPVH16Lanes checks the lane decomposition of the p·V sums (one kPVH16
// call per lane, lane reduction, float64 tail) against pvH16OrderRef, which
// sums each output straight from ggml's definition, for both orders, with
// the selected kernels (their twins are tested in attn_amd64_test.go), at
// window offsets jlo that start mid-lane and ranges that cross the float64
// tail.
func TestPVH16Lanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	{
		for _, D := range []int{8, 24, 64, 128} {
			for _, c := range []struct{ jlo, n, nkv, lanes int }{
				{0, 5, 32, 64}, {0, 5, 32, 16}, {0, 70, 96, 64}, {3, 90, 96, 64}, {17, 47, 64, 64},
				{0, 200, 224, 64}, {61, 130, 192, 64}, {5, 59, 64, 16}, {0, 128, 128, 16}, {33, 1, 64, 64},
			} {
				stride := 3 * D
				v := make([]uint16, c.n*stride+D)
				for i := range v {
					v[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
				}
				p := make([]float32, c.n)
				for i := range p {
					p[i] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.Float64() / float64(c.n))))
				}
				got, want := make([]float32, D), make([]float32, D)
				acc := make([]float32, 64*D+c.n)
				pvH16OrderRef(want, v, stride, p, c.jlo, c.nkv, c.lanes)
				// With the selected one-pass kernel (if any) and with the
				// per-lane calls.
				fast := kPVLanes
				for _, f := range []func(o, acc []float32, v []uint16, stride int, p []float32, jlo, lanes int) bool{fast, nil} {
					kPVLanes = f
					pvH16Lanes(got, v, stride, p, c.jlo, c.nkv, c.lanes, acc)
					kPVLanes = fast
					for d := range got {
						if math.Float32bits(got[d]) != math.Float32bits(want[d]) {
							t.Fatalf("D=%d %+v one-pass=%v: o[%d] = %g, reference order %g", D, c, f != nil, d, got[d], want[d])
						}
					}
				}
			}
		}
	}
}

// TestF16Order pins the matmul orders of llama.cpp's non-flash attention:
// tinyBLAS only for prompt batches with 16-divisible inner sizes, and the
// cache length it multiplies over.
func TestF16Order(t *testing.T) {
	for _, c := range []struct {
		T, D, nkv         int
		scoreTiny, pvTiny bool
	}{
		{1, 64, 32, false, false}, {1, 128, 256, false, false},
		{5, 8, 32, false, true}, {5, 64, 32, true, true}, {2, 128, 64, true, true},
	} {
		if s, p := f16Order(c.T, c.D, c.nkv); s != c.scoreTiny || p != c.pvTiny {
			t.Errorf("f16Order(%d, %d, %d) = %v, %v; want %v, %v", c.T, c.D, c.nkv, s, p, c.scoreTiny, c.pvTiny)
		}
	}
	for _, c := range [][3]int{{1, 256, 32}, {5, 256, 32}, {32, 256, 32}, {33, 256, 64}, {250, 256, 256}, {10, 16, 16}} {
		if got := ggmlNKV(c[0], c[1]); got != c[2] {
			t.Errorf("ggmlNKV(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

// TestScratchGrowsGeometrically: a worker scratch asked for a little more
// every call (the attention's, as the context fills step by step) is
// reallocated a logarithmic number of times, not every call: exact-size
// regrowth left 70 MB of old scratch on the heap filling llama-1b's
// context to 4096 tokens.
func TestScratchGrowsGeometrically(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	var allocs, hallocs int
	var last *float32
	var hlast *uint16
	for n := 1024; n <= 32*1024; n += 1024 {
		f := p.floatScratch(0, n)
		h := p.halfScratch(0, 2*n)
		if len(f) != n || len(h) != 2*n {
			t.Fatalf("scratch of %d / %d elements has length %d / %d", n, 2*n, len(f), len(h))
		}
		if &f[0] != last {
			allocs, last = allocs+1, &f[0]
		}
		if &h[0] != hlast {
			hallocs, hlast = hallocs+1, &h[0]
		}
	}
	if allocs > 6 || hallocs > 6 {
		t.Errorf("32 growing requests reallocated the float scratch %d times and the half scratch %d times (want ≤ 6)", allocs, hallocs)
	}
}
