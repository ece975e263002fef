//go:build !amd64

package kernels

import "dayi/weights"

// r16Kernels returns the Rows16 kernels of t: the Go twins off amd64.
func r16Kernels(t weights.Type, _ bool) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	return r16GoKernels(t)
}
