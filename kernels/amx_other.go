//go:build !amd64

package kernels

import "dayi/weights"

// gemm16AMXKernel: AMX is x86-64 only.
func gemm16AMXKernel(weights.Type, Layout) (k func(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte, c int), inPlace, ok bool) {
	return nil, false, false
}

func amxCbuf(b []byte) *byte { return &b[0] }

// gemmK16AMXKernel: AMX is x86-64 only.
func gemmK16AMXKernel(t weights.Type) (func(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte), bool) {
	return nil, false
}
