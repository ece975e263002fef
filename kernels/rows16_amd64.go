package kernels

import "dayi/weights"

// Rows16 kernels (rows16_amd64.s; layout and twins in rows16.go).

//go:noescape
func gemvR16Q4_0(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q8_0(w, x *byte, nb int, out *float32)

// gemvR16Q4_0HW and gemvR16Q8_0HW are the two without software prefetch
// (stream_amd64.go).
//
//go:noescape
func gemvR16Q4_0HW(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q8_0HW(w, x *byte, nb int, out *float32)

//go:noescape
func decR16Q4_0(w *byte, wstride, nb int, dst *byte)

//go:noescape
func decR16Q8_0(w *byte, wstride, nb int, dst *byte)

// r16Kernels returns the Rows16 decode kernel and group decoder of t: the
// assembly where AVX-512 VNNI is present, else the Go twins; the decode
// kernel issues software prefetches when sw is set (streamPrefetch).
func r16Kernels(t weights.Type, sw bool) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	if !hasZVNNI || (t == weights.TypeQ5_0 && !hasR16Q5) {
		return r16GoKernels(t)
	}
	switch {
	case t == weights.TypeQ5_0 && sw:
		return gemvR16AsmQ5_0, decR16Q5_0
	case t == weights.TypeQ5_0:
		return func(w, x []byte, nb int, out []float32) { gemvR16Q5_0HW(&w[0], &x[0], nb, &out[0]) }, decR16Q5_0
	case t == weights.TypeQ8_0 && sw:
		return func(w, x []byte, nb int, out []float32) { gemvR16Q8_0(&w[0], &x[0], nb, &out[0]) }, decR16Q8_0
	case t == weights.TypeQ8_0:
		return func(w, x []byte, nb int, out []float32) { gemvR16Q8_0HW(&w[0], &x[0], nb, &out[0]) }, decR16Q8_0
	case sw:
		return func(w, x []byte, nb int, out []float32) { gemvR16Q4_0(&w[0], &x[0], nb, &out[0]) }, decR16Q4_0
	}
	return func(w, x []byte, nb int, out []float32) { gemvR16Q4_0HW(&w[0], &x[0], nb, &out[0]) }, decR16Q4_0
}
