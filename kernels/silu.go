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
// llama.cpp's numerics (see above): the 16-wide part in assembly where
// AVX-512 is present, the tail in scalar.
func SiLURow(v []float32) {
	n := len(v) &^ 15
	if !hasZ512 || n == 0 {
		siluRowGo(v)
		return
	}
	siluV16(&v[0], n/16)
	for i := n; i < len(v); i++ {
		v[i] = siluScalar(v[i])
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
