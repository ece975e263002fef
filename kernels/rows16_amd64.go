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
	switch t {
	case weights.TypeQ5_0:
		return r16Gemv(sw, gemvR16Q5_0, gemvR16Q5_0HW), decR16Q5_0
	case weights.TypeQ8_0:
		return r16Gemv(sw, gemvR16Q8_0, gemvR16Q8_0HW), decR16Q8_0
	}
	return r16Gemv(sw, gemvR16Q4_0, gemvR16Q4_0HW), decR16Q4_0
}

// r16Gemv adapts the Rows16 decode kernel of the form sw picks (pf with
// software prefetch, hw without) to the slices the plan passes.
func r16Gemv(sw bool, pf, hw func(w, x *byte, nb int, out *float32)) func(w, x []byte, nb int, out []float32) {
	f := hw
	if sw {
		f = pf
	}
	return func(w, x []byte, nb int, out []float32) { f(&w[0], &x[0], nb, &out[0]) }
}
