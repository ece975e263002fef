package kernels

import "dayi/weights"

// q4_K/q5_K/q6_K Rows16 kernels (rows16k_amd64.s, written by internal/gen;
// layout and twins in rows16k.go).

//go:noescape
func gemvR16Q4_K(w, x *byte, nb int, out *float32)

// gemvR16Q4_KHW, gemvR16Q5_KHW and gemvR16Q6_KHW are the three without
// software prefetch (stream_amd64.go).
//
//go:noescape
func gemvR16Q4_KHW(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q5_KHW(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q6_KHW(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q6_K(w, x *byte, nb int, out *float32)

//go:noescape
func gemvR16Q5_K(w, x *byte, nb int, out *float32)

//go:noescape
func decR16Q4_K(w *byte, wstride, nb int, dst *byte)

// gemvR16A2Q4_K is gemvR16Q4_K for AVX2 hosts without AVX-512 VNNI
// (rows16kavx2_amd64.s, written by internal/gen/rows16kavx2.go), bit for
// bit gemvR16KGo.
//
//go:noescape
func gemvR16A2Q4_K(w, x *byte, nb int, out *float32)

// gemvR16A2Q5_K is gemvR16Q5_K for AVX2 hosts, bit for bit gemvR16KGo.
//
//go:noescape
func gemvR16A2Q5_K(w, x *byte, nb int, out *float32)

// gemvR16A2Q4_KHW is gemvR16A2Q4_K without software prefetch.
//
//go:noescape
func gemvR16A2Q4_KHW(w, x *byte, nb int, out *float32)

//go:noescape
func gemmR16A2Q4_Kx2(w, x *byte, xstride, nb int, out *float32, ostride int, accm *float32)

//go:noescape
func gemmR16A2Q5_Kx2(w, x *byte, xstride, nb int, out *float32, ostride int, accm *float32)

// r16kA2x2 returns the two-row AVX2 Rows16 kernel of t (q4_K or q5_K).
func r16kA2x2(t weights.Type) func(w, x *byte, xstride, nb int, out *float32, ostride int, accm *float32) {
	if t == weights.TypeQ5_K {
		return gemmR16A2Q5_Kx2
	}
	return gemmR16A2Q4_Kx2
}

// hasR16KA2 reports whether Rows16 weights of k-quant type t have an AVX2
// decode kernel (q4_K and q5_K, the types of most tensors in Q4_K_M and
// Q5_K_M files).
func hasR16KA2(t weights.Type) bool {
	return hasAVX2 && (t == weights.TypeQ4_K || t == weights.TypeQ5_K)
}

//go:noescape
func decR16Q5_K(w *byte, wstride, nb int, dst *byte)

//go:noescape
func decR16Q6_K(w *byte, wstride, nb int, dst *byte)

// r16kKernels returns the Rows16 decode kernel and group decoder (into the
// k16 layout) of q4_K/q5_K/q6_K t: the assembly where AVX-512 VNNI is present,
// else the Go twins. The AVX-512 decode kernels issue software prefetches
// when sw is set (streamPrefetch); so does the AVX2 q4_K one (the AVX2
// q5_K kernel always does: it is bound by its arithmetic).
func r16kKernels(t weights.Type, sw bool) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	if !hasZVNNI {
		gemv, dec = r16kGoKernels(t)
		switch {
		case hasR16KA2(t) && t == weights.TypeQ5_K:
			gemv = r16Gemv(true, gemvR16A2Q5_K, nil)
		case hasR16KA2(t):
			gemv = r16Gemv(sw, gemvR16A2Q4_K, gemvR16A2Q4_KHW)
		}
		return gemv, dec
	}
	switch t {
	case weights.TypeQ6_K:
		return r16Gemv(sw, gemvR16Q6_K, gemvR16Q6_KHW), decR16Q6_K
	case weights.TypeQ5_K:
		return r16Gemv(sw, gemvR16Q5_K, gemvR16Q5_KHW), decR16Q5_K
	}
	return r16Gemv(sw, gemvR16Q4_K, gemvR16Q4_KHW), decR16Q4_K
}
