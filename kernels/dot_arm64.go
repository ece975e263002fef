package kernels

import "golang.org/x/sys/cpu"

// NEON kernels (dot_arm64.s), bit for bit dotQ4_0, dotQ8_0 and dotK for
// q4_K, q5_K and q6_K.

//go:noescape
func q4_0DotNEON(w, x *byte, nb int) float32

//go:noescape
func q8_0DotNEON(w, x *byte, nb int) float32

// hasNEONDot: the CPU has SDOT (FEAT_DotProd, HWCAP_ASIMDDP), which the
// kernels need. Without it (Cortex-A72/A53 boards such as the Raspberry
// Pi 4) the pure-Go twins run.
var hasNEONDot = cpu.ARM64.HasASIMDDP

func init() {
	if hasNEONDot {
		kq4_0 = wrap32(q4_0DotNEON, 18)
		kq8_0 = wrap32(q8_0DotNEON, 34)
		kq4_K = wrapK(q4_KDotNEON, 144)
		kq5_K = wrapK(q5_KDotNEON, 176)
		kq6_K = wrapK(q6_KDotNEON, 210)
	}
}

//go:noescape
func q4_KDotNEON(w, x *byte, nb int) float32

//go:noescape
func q5_KDotNEON(w, x *byte, nb int) float32

//go:noescape
func q6_KDotNEON(w, x *byte, nb int) float32
