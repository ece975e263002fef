package kernels

// cvtF32F16AVX2 converts n (a multiple of 8) floats to binary16 (F16C).
//
//go:noescape
func cvtF32F16AVX2(o *uint16, x *float32, n int)

// cvtF16F32AVX2 converts n (a multiple of 8) binary16 values to float32.
//
//go:noescape
func cvtF16F32AVX2(o *float32, x *uint16, n int)
