package kernels

import "math"

// SiLU in llama.cpp's numerics. llama.cpp runs a gated feed-forward as
// ggml_swiglu (ggml-cpu vec.cpp ggml_vec_swiglu_f32): per row, 16 values at
// a time through ggml_v_silu (AVX-512: x / (1 + ggml_v_expf(-x)), with
// ggml_v_expf the vectorised expf adapted from ARM's optimized-routines:
// a 2^n·p(b) reduction with a degree-5 polynomial and VSCALEFPS), and the
// row's last n%16 values through the scalar x/(1+expf(-x)). SiLURow
// reproduces that per row; siluV16Go is the exact twin of the 16-wide
// assembly (silu_amd64.s), written with fma32 so that every rounding is the
// one VFMADD/VSCALEF make. Then silu(x)·g rounds like ggml's product.

// Constants of ggml_v_expf (ggml-cpu vec.h, AVX-512 branch).
const (
	vExpShift = 0x1.8p23       // round-to-integer shifter
	vExpLog2e = 0x1.715476p+0  // 1/ln 2
	vExpLn2Hi = 0x1.62e4p-1    // ln 2, high part
	vExpLn2Lo = 0x1.7f7d1cp-20 // ln 2, low part
	vExpC1    = 0x1.ffffecp-1  // polynomial, degree 1..5
	vExpC2    = 0x1.fffdb6p-2
	vExpC3    = 0x1.555e66p-3
	vExpC4    = 0x1.573e2ep-5
	vExpC5    = 0x1.0e4020p-7
	vExpLimit = 192 // |n| beyond which the result is 0 or +Inf
)

// vExpf is ggml_v_expf on one lane.
func vExpf(x float32) float32 {
	z := fma32(x, vExpLog2e, vExpShift)
	n := z - vExpShift
	b := fma32(-n, vExpLn2Lo, fma32(-n, vExpLn2Hi, x))
	u := b * b
	j := fma32(fma32(fma32(vExpC5, b, vExpC4), u, fma32(vExpC3, b, vExpC2)), u, fma32(vExpC1, b, 1))
	if a := float32(math.Abs(float64(n))); a > vExpLimit {
		if n <= 0 {
			return 0
		}
		return float32(math.Inf(1))
	}
	// VSCALEFPS: j·2^n rounded once (n is an integer here, |n| ≤ 192, so
	// the float64 product is exact).
	return float32(float64(j) * math.Ldexp(1, int(n)))
}

// vExpf8 is ggml_v_expf on one lane of its AVX2 (and NEON) form, which
// differs from the AVX-512 one in the last bits: the polynomial leaves out
// the 1, the result is k + k·j with k = 2^n built from the shifter's bits
// and one FMA, and |n| > 126 takes the scaled s1·s2 route of ARM's
// routine (ggml-cpu vec.h, the __AVX2__ && __FMA__ branch).
func vExpf8(x float32) float32 {
	z := fma32(x, vExpLog2e, vExpShift)
	n := z - vExpShift
	b := fma32(-n, vExpLn2Lo, fma32(-n, vExpLn2Hi, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := b * b
	j := fma32(fma32(fma32(vExpC5, b, vExpC4), u, fma32(vExpC3, b, vExpC2)), u, vExpC1*b)
	a := float32(math.Abs(float64(n)))
	if !(a > 126) {
		return fma32(k, j, k)
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	if a > vExpLimit {
		return s1 * s1
	}
	s2 := math.Float32frombits(e - g)
	return fma32(s2, j, s2) * s1
}

// vSiLU8 is ggml_v_silu on one lane of its AVX2 form.
func vSiLU8(x float32) float32 {
	return x / (1 + vExpf8(0-x))
}

// siluRow8Go is SiLURow's twin on AVX2 hosts without AVX-512: ggml's
// AVX2 build runs ggml_vec_swiglu_f32 8 values at a time and the last n%8
// through the scalar formula.
func siluRow8Go(v []float32) {
	n := len(v) &^ 7
	for i := range v[:n] {
		v[i] = vSiLU8(v[i])
	}
	for i := n; i < len(v); i++ {
		v[i] = siluScalar(v[i])
	}
}

// vSiLU is ggml_v_silu on one lane.
func vSiLU(x float32) float32 {
	return x / (1 + vExpf(0-x))
}

// siluScalar is ggml_silu_f32: x/(1+expf(-x)) with libm's expf (taken as
// correctly rounded).
func siluScalar(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}

// siluRowGo is SiLURow's pure-Go twin.
func siluRowGo(v []float32) {
	n := len(v) &^ 15
	for i := range v[:n] {
		v[i] = vSiLU(v[i])
	}
	for i := n; i < len(v); i++ {
		v[i] = siluScalar(v[i])
	}
}

// SiLURow replaces each value of one activation row by its SiLU in
// llama.cpp's numerics on this CPU (see above): the 16-wide part in
// assembly where AVX-512 is present, the 8-wide AVX2 form where only AVX2
// is (siluRow8Go), the tail in scalar; elsewhere the AVX-512 form in Go.
func SiLURow(v []float32) {
	switch {
	case hasZ512 && len(v) >= 16:
		n := len(v) &^ 15
		siluV16(&v[0], n/16)
		for i := n; i < len(v); i++ {
			v[i] = siluScalar(v[i])
		}
	case hasZ512:
		siluRowGo(v)
	case hasAVX2:
		n := len(v) &^ 7
		if n > 0 {
			siluV8(&v[0], n/8)
		}
		for i := n; i < len(v); i++ {
			v[i] = siluScalar(v[i])
		}
	default:
		siluRowGo(v)
	}
}

// SiLURows applies SiLURow to the rows of length n of v, split over the
// pool when there are many.
func (p *Pool) SiLURows(v []float32, n int) { p.rows(v, n, SiLURow) }

// rows applies f to each row of length n of v, split between the pool's
// workers when there is enough work (at least 2 rows and 32 Ki values).
func (p *Pool) rows(v []float32, n int, f func([]float32)) {
	rows := len(v) / n
	if rows < 2 || len(v) < 1<<15 {
		for r := 0; r < rows; r++ {
			f(v[r*n : (r+1)*n])
		}
		return
	}
	p.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			f(v[r*n : (r+1)*n])
		}
	})
}
