package kernels

// 16-row interleaved prefill kernels (gemm16_amd64.s; layouts and twins in
// gemm16.go).

//go:noescape
func dec16Q4_0(w *byte, wstride, nb int, dst *byte)

//go:noescape
func dec16Q8_0(w *byte, wstride, nb int, dst *byte)

//go:noescape
func gemm16x1(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemm16x2(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemm16x3(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemm16x4(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemm16x5(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemm16x6(w, x *byte, xstride, nb int, out *float32, ostride int)

// gemm16Kernels[c-1] runs c activation columns.
var gemm16Kernels = [6]func(w, x *byte, xstride, nb int, out *float32, ostride int){
	gemm16x1, gemm16x2, gemm16x3, gemm16x4, gemm16x5, gemm16x6}
