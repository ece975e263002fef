package kernels

import "dayi/weights"

// Kernel selection. These are set once, at package initialisation, from the
// CPU features (see dispatch_amd64.go) and never change afterwards.
var (
	kq4_0 = dotQ4_0
	kq8_0 = dotQ8_0
	kq5_0 = dotQ5_0
	kq4_K = func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ4_K, w, x, nb, kb) }
	kq6_K = func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ6_K, w, x, nb, kb) }
	kf16  = dotF16
	// kf16Tiny: f16 dots in tinyBLAS order (f16TinyOrder).
	kf16Tiny = dotF16Tiny
	kf32     = dotF32
)
