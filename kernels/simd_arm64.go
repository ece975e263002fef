package kernels

// simdPath mirrors dot_arm64.go's gate (attn_arm64.go needs none).
func simdPath() string {
	if hasNEONDot {
		return SIMDNEONDot
	}
	return SIMDNEON
}
