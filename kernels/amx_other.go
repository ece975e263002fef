//go:build !amd64

package kernels

import "dayi/weights"

// gemm16AMXKernels: AMX is x86-64 only.
func gemm16AMXKernels(weights.Type, Layout) amx16Kernels { return amx16Kernels{} }

func amxCbuf(b []byte) *byte { return &b[0] }

// gemmK16AMXKernel: AMX is x86-64 only.
func gemmK16AMXKernel(t weights.Type) (func(w, x *byte, xstride, nb, groups int, out *float32, ostride int, cbuf *byte), bool) {
	return nil, false
}
