package kernels

// siluV16 is ggml_v_silu in place on n16 vectors of 16 floats (AVX-512;
// twin: vSiLU).
//
//go:noescape
func siluV16(v *float32, n16 int)
