package kernels

import "dayi/weights"

// Rows16 q4_0/q8_0 kernels for AVX2 hosts without AVX-512 VNNI
// (rows16avx2_amd64.s, written by internal/gen/rows16avx2.go): one group
// of 16 rows times 1..4 pack40 activation rows, in gemm16Go's float order.

//go:noescape
func gemmR16A2Q4_0x1(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q4_0x2(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q4_0x3(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q4_0x4(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q8_0x1(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q8_0x2(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q8_0x3(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q8_0x4(w, x *byte, xstride, nb int, out *float32, ostride int)

// r16A2Kernels returns the AVX2 Rows16 kernels of t for 1..4 activation
// rows, if t has them.
func r16A2Kernels(t weights.Type) ([4]gemm16Func, bool) {
	if !hasAVX2 {
		return [4]gemm16Func{}, false
	}
	switch t {
	case weights.TypeQ4_0:
		return [4]gemm16Func{gemmR16A2Q4_0x1, gemmR16A2Q4_0x2, gemmR16A2Q4_0x3, gemmR16A2Q4_0x4}, true
	case weights.TypeQ8_0:
		return [4]gemm16Func{gemmR16A2Q8_0x1, gemmR16A2Q8_0x2, gemmR16A2Q8_0x3, gemmR16A2Q8_0x4}, true
	}
	return [4]gemm16Func{}, false
}
