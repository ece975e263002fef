package kernels

import "dayi/weights"

// Rows16 kernels (rows16_amd64.s; layout and twins in rows16.go).

//go:noescape
func gemvR16Q4_0(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q8_0(w, x *byte, nb int, out *float32)

//go:noescape
func decR16Q4_0(w *byte, wstride, nb int, dst *byte)

//go:noescape
func decR16Q8_0(w *byte, wstride, nb int, dst *byte)

// r16Kernels returns the Rows16 decode kernel and group decoder of t: the
// assembly where AVX-512 VNNI is present, else the Go twins.
func r16Kernels(t weights.Type) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	if !hasZVNNI || (t == weights.TypeQ5_0 && !hasR16Q5) {
		return r16GoKernels(t)
	}
	if t == weights.TypeQ5_0 {
		return gemvR16AsmQ5_0, decR16Q5_0
	}
	if t == weights.TypeQ8_0 {
		return func(w, x []byte, nb int, out []float32) { gemvR16Q8_0(&w[0], &x[0], nb, &out[0]) }, decR16Q8_0
	}
	return func(w, x []byte, nb int, out []float32) { gemvR16Q4_0(&w[0], &x[0], nb, &out[0]) }, decR16Q4_0
}
