package kernels

import "dayi/weights"

// 16-row interleaved k-quant prefill kernels (gemmk16_amd64.s; layouts and
// twins in gemmk16.go).

//go:noescape
func decK16Q4_K(w *byte, wstride, nb int, dst *byte)

//go:noescape
func decK16Q6_K(w *byte, wstride, nb int, dst *byte)

//go:noescape
func decK16Q5_K(w *byte, wstride, nb int, dst *byte)

//go:noescape
func gemmK16Q4_Kx1(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q4_Kx2(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q4_Kx3(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q4_Kx4(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q6_Kx1(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q6_Kx2(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q6_Kx3(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q6_Kx4(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q5_Kx1(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q5_Kx2(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q5_Kx3(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmK16Q5_Kx4(w, x *byte, xstride, nb int, out *float32, ostride int)

type gemm16Func = func(w, x *byte, xstride, nb int, out *float32, ostride int)

// gemmK16Kernels returns the kernels for 1..4 activation columns of type
// t's 16-row path, if the CPU and type have one.
func gemmK16Kernels(t weights.Type) ([4]gemm16Func, bool) {
	if !hasZVNNI {
		return [4]gemm16Func{}, false
	}
	switch t {
	case weights.TypeQ4_K:
		return [4]gemm16Func{gemmK16Q4_Kx1, gemmK16Q4_Kx2, gemmK16Q4_Kx3, gemmK16Q4_Kx4}, true
	case weights.TypeQ6_K:
		return [4]gemm16Func{gemmK16Q6_Kx1, gemmK16Q6_Kx2, gemmK16Q6_Kx3, gemmK16Q6_Kx4}, true
	case weights.TypeQ5_K:
		return [4]gemm16Func{gemmK16Q5_Kx1, gemmK16Q5_Kx2, gemmK16Q5_Kx3, gemmK16Q5_Kx4}, true
	}
	return [4]gemm16Func{}, false
}

// k16Decoder returns the group decoder of GGUF rows of q4_K/q5_K/q6_K t
// into the k16 layout (decK16Q4_K, decK16Q5_K, decK16Q6_K).
func k16Decoder(t weights.Type) func(w *byte, wstride, nb int, dst *byte) {
	switch t {
	case weights.TypeQ6_K:
		return decK16Q6_K
	case weights.TypeQ5_K:
		return decK16Q5_K
	}
	return decK16Q4_K
}
