package kernels

import (
	"unsafe"

	"dayi/weights"
)

// Rows16 q4_0/q5_0/q8_0 kernels for AVX2 hosts without AVX-512 VNNI
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

//go:noescape
func gemmR16A2Q5_0x1(w, x *byte, xstride, nb int, out *float32, ostride int)

// The one-row kernels without software prefetch (stream_amd64.go).
//
//go:noescape
func gemmR16A2Q4_0x1HW(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q8_0x1HW(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q5_0x1HW(w, x *byte, xstride, nb int, out *float32, ostride int)

//go:noescape
func gemmR16A2Q5_0x2(w, x *byte, xstride, nb int, out *float32, ostride int)

// q5_0x4 runs four activation rows as two calls of the two-row q5_0
// kernel (its registers hold two rows' sums), three as two and one.
func q5_0x4(w, x *byte, xstride, nb int, out *float32, ostride int) {
	gemmR16A2Q5_0x2(w, x, xstride, nb, out, ostride)
	gemmR16A2Q5_0x2(w, (*byte)(unsafe.Add(unsafe.Pointer(x), 2*xstride)), xstride, nb,
		(*float32)(unsafe.Add(unsafe.Pointer(out), 8*ostride)), ostride)
}

func q5_0x3(w, x *byte, xstride, nb int, out *float32, ostride int) {
	gemmR16A2Q5_0x2(w, x, xstride, nb, out, ostride)
	gemmR16A2Q5_0x1(w, (*byte)(unsafe.Add(unsafe.Pointer(x), 2*xstride)), xstride, nb,
		(*float32)(unsafe.Add(unsafe.Pointer(out), 8*ostride)), ostride)
}

// r16A2Kernels returns the AVX2 Rows16 kernels of t for 1..4 activation
// rows, if t has them; the one-row kernel issues software prefetches when
// sw is set (streamPrefetch).
func r16A2Kernels(t weights.Type, sw bool) (ks [4]gemm16Func, ok bool) {
	if !hasAVX2 {
		return ks, false
	}
	switch t {
	case weights.TypeQ4_0:
		ks = [4]gemm16Func{gemmR16A2Q4_0x1HW, gemmR16A2Q4_0x2, gemmR16A2Q4_0x3, gemmR16A2Q4_0x4}
		if sw {
			ks[0] = gemmR16A2Q4_0x1
		}
	case weights.TypeQ8_0:
		ks = [4]gemm16Func{gemmR16A2Q8_0x1HW, gemmR16A2Q8_0x2, gemmR16A2Q8_0x3, gemmR16A2Q8_0x4}
		if sw {
			ks[0] = gemmR16A2Q8_0x1
		}
	case weights.TypeQ5_0:
		ks = [4]gemm16Func{gemmR16A2Q5_0x1HW, gemmR16A2Q5_0x2, q5_0x3, q5_0x4}
		if sw {
			ks[0] = gemmR16A2Q5_0x1
		}
	default:
		return ks, false
	}
	return ks, true
}
