package kernels

// simdPath mirrors dot_arm64.go's gate.
func simdPath() string {
	if hasNEONDot {
		return SIMDNEONDot
	}
	return SIMDPureGo
}
