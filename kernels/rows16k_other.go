//go:build !amd64

package kernels

import "dayi/weights"

// r16kKernels returns the q4_K/q6_K Rows16 kernels of t: the Go twins off
// amd64.
func r16kKernels(t weights.Type, _ bool) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	return r16kGoKernels(t)
}

func hasR16KA2(weights.Type) bool { return false }

func r16kA2x2(weights.Type) func(w, x *byte, xstride, nb int, out *float32, ostride int, accm *float32) {
	return nil
}
