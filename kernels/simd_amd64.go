package kernels

// simdPath mirrors the gates of the dispatch (dot_amd64.go, gemm_amd64.go),
// strongest first.
func simdPath() string {
	switch {
	case hasZVNNI:
		return SIMDAVX512VNNI
	case hasVNNI:
		return SIMDAVX512VNNI256
	case hasZ512:
		return SIMDAVX512
	case hasAVX2:
		return SIMDAVX2
	}
	return SIMDPureGo
}
