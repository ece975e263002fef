package kernels

import "dayi/weights"

// Single-row dot kernels. These are the pure-Go twins here; the init
// functions of dot_amd64.go and gemm_amd64.go replace them once, at package
// initialisation, by the assembly the CPU features allow, and they never
// change afterwards (plan.go chooses the multi-row paths per weight).
var (
	kq4_0 = dotQ4_0
	kq8_0 = dotQ8_0
	kq5_0 = dotQ5_0
	kq4_1 = func(w, x []byte, nb int) float32 { return dotQx_1(w, x, nb, false) }
	kq5_1 = func(w, x []byte, nb int) float32 { return dotQx_1(w, x, nb, true) }
	kq4_K = func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ4_K, w, x, nb, kb) }
	kq6_K = func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ6_K, w, x, nb, kb) }
	kq5_K = func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ5_K, w, x, nb, kb) }
	kf16  = dotF16
	// kf16Tiny: f16 dots in tinyBLAS order (f16TinyOrder).
	kf16Tiny = dotF16Tiny
	kf32     = dotF32
)
