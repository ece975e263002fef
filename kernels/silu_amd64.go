package kernels

// siluV16 is ggml_v_silu in place on n16 vectors of 16 floats (AVX-512;
// twin: vSiLU).
//
//go:noescape
func siluV16(v *float32, n16 int)

// siluV8 is ggml_v_silu's AVX2 form in place on n8 vectors of 8 floats
// (twin: vSiLU8).
//
//go:noescape
func siluV8(v *float32, n8 int)
