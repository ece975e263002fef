//go:build !amd64

package kernels

func cvtF32F16AVX2(o *uint16, x *float32, n int) { panic("kernels: cvtF32F16AVX2 without assembly") }

func cvtF16F32AVX2(o *float32, x *uint16, n int) { panic("kernels: cvtF16F32AVX2 without assembly") }
