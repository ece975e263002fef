package kernels

// fma32 is a*b+c rounded once to float32: FMADD on single precision
// (fma32_arm64.s), what fma32Go computes in software elsewhere. The twins
// (SiLU's expf, the lane FMAs of the dots) call it per value; in software
// it is a float64 product, a TwoSum and a tie check.
//
//go:noescape
func fma32(a, b, c float32) float32
