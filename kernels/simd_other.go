//go:build !amd64

package kernels

// simdPath: only amd64 has assembly kernels; elsewhere the pure-Go twins run.
func simdPath() string { return SIMDPureGo }
