//go:build !arm64

package kernels

// fma32 is a*b+c rounded once to float32 (fma32Go; arm64: FMADD).
func fma32(a, b, c float32) float32 { return fma32Go(a, b, c) }
