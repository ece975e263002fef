package kernels

import "dayi/weights"

// Multi-row Rows16 decode kernels (rows16m_amd64.s; rows16m.go says why).

//go:noescape
func gemvR16x4Q4_0(w, x *byte, xs, nb int, out *float32, ostride int)

//go:noescape
func gemvR16x2Q4_0(w, x *byte, xs, nb int, out *float32, ostride int)

//go:noescape
func gemvR16x4Q8_0(w, x *byte, xs, nb int, out *float32, ostride int)

//go:noescape
func gemvR16x2Q8_0(w, x *byte, xs, nb int, out *float32, ostride int)

//go:noescape
func gemvR16x2Q4_K(w, x *byte, xs, nb int, out *float32, ostride int)

// r16MultiKernels returns t's 4-row (nil: none) and 2-row Rows16 decode
// kernels, or ok false where there are none (other types, no AVX-512 VNNI).
func r16MultiKernels(t weights.Type) (k4, k2 gemvmFunc, ok bool) {
	if !hasZVNNI {
		return nil, nil, false
	}
	switch t {
	case weights.TypeQ4_0:
		return gemvR16x4Q4_0, gemvR16x2Q4_0, true
	case weights.TypeQ8_0:
		return gemvR16x4Q8_0, gemvR16x2Q8_0, true
	case weights.TypeQ4_K:
		return nil, gemvR16x2Q4_K, true
	}
	return nil, nil, false
}
