package kernels

import "golang.org/x/sys/cpu"

// NEON kernels (dot_arm64.s), bit for bit dotQ4_0 and dotQ8_0.

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
	}
}
