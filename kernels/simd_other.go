//go:build !amd64 && !arm64

package kernels

// simdPath: only amd64 and arm64 have assembly kernels; elsewhere the pure-Go
// twins run.
func simdPath() string { return SIMDPureGo }
