package kernels

import "dayi/weights"

// 16-row interleaved prefill kernels (gemm16_amd64.s; layouts and twins in
// gemm16.go).

//go:noescape
func dec16Q4_0(w *byte, wstride, nb int, dst *byte)

//go:noescape
func dec16Q8_0(w *byte, wstride, nb int, dst *byte)

//go:noescape
func dec16Q5_0(w *byte, wstride, nb int, dst *byte)

// gemm16Decoder returns the 16-row group decoder of weight type t and its
// bias c (u = q + c), if the CPU and type have the 16-row prefill path.
func gemm16Decoder(t weights.Type) (func(w *byte, wstride, nb int, dst *byte), int32, bool) {
	if !hasZVNNI {
		return nil, 0, false
	}
	switch t {
	case weights.TypeQ4_0:
		return dec16Q4_0, 8, true
	case weights.TypeQ5_0:
		return dec16Q5_0, 16, true
	case weights.TypeQ8_0:
		return dec16Q8_0, 128, true
	}
	return nil, 0, false
}

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
