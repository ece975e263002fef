package kernels

import "golang.org/x/sys/cpu"

// Assembly kernels (dot_amd64.s). Each takes nb >= 0 blocks; the Go wrappers
// check that the slices hold them so a caller bug cannot read out of bounds.

//go:noescape
func q8_0DotAVX2(w, x *byte, nb int) float32

//go:noescape
func q8_0DotVNNI(w, x *byte, nb int) float32

//go:noescape
func q4_0DotAVX2(w, x *byte, nb int) float32

//go:noescape
func q4_0DotVNNI(w, x *byte, nb int) float32

//go:noescape
func q5_0DotAVX2(w, x *byte, nb int) float32

//go:noescape
func q5_0DotVNNI(w, x *byte, nb int) float32

//go:noescape
func q4_1DotAVX2(w, x *byte, nb int) float32

//go:noescape
func q4_1DotVNNI(w, x *byte, nb int) float32

//go:noescape
func q5_1DotAVX2(w, x *byte, nb int) float32

//go:noescape
func q5_1DotVNNI(w, x *byte, nb int) float32

//go:noescape
func q4_KDotAVX2(w, x *byte, nb int) float32

//go:noescape
func q6_KDotAVX2(w, x *byte, nb int) float32

//go:noescape
func f16DotAVX2(w *byte, x *uint16, n16 int) float32

//go:noescape
func f16DotAVX2V(w *byte, x *uint16, n64 int) float32

// dotF16AVX2V is dotF16 through f16DotAVX2V plus the float64 tail.
func dotF16AVX2V(w []byte, x []uint16, k int) float32 {
	if k < 64 {
		return dotF16(w, x, k)
	}
	_ = w[2*k-1]
	_ = x[k-1]
	return f16Tail(w, x, k&^63, k, f16DotAVX2V(&w[0], &x[0], k/64))
}

// dotF16AVX2 is dotF16Tiny through f16DotAVX2 when k is a multiple of 16
// (else the Go twin).
func dotF16AVX2(w []byte, x []uint16, k int) float32 {
	if k <= 0 || k%16 != 0 {
		return dotF16Tiny(w, x, k)
	}
	_ = w[2*k-1]
	_ = x[k-1]
	return f16DotAVX2(&w[0], &x[0], k/16)
}

// hasAVX2 and hasVNNI gate the assembly: AVX2+FMA+F16C for the 256-bit
// kernels (every AVX2+FMA CPU, Haswell/Zen on, also has F16C, which this
// version of x/sys/cpu does not report); AVX-512 VNNI with VL for VPDPBUSD on 256-bit registers.
var (
	hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasVNNI = hasAVX2 && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL
)

func init() {
	if hasAVX2 {
		kq4_K = wrapK(q4_KDotAVX2, 144)
		kq6_K = wrapK(q6_KDotAVX2, 210)
		kf16 = dotF16AVX2V
		kf16Tiny = dotF16AVX2
	}
	switch {
	case hasVNNI:
		kq4_0 = wrap32(q4_0DotVNNI, 18)
		kq8_0 = wrap32(q8_0DotVNNI, 34)
		kq5_0 = wrap32(q5_0DotVNNI, 22)
		kq4_1 = wrapBlocks(q4_1DotVNNI, 20, q8_1Size)
		kq5_1 = wrapBlocks(q5_1DotVNNI, 24, q8_1Size)
	case hasAVX2:
		kq4_0 = wrap32(q4_0DotAVX2, 18)
		kq8_0 = wrap32(q8_0DotAVX2, 34)
		kq5_0 = wrap32(q5_0DotAVX2, 22)
		kq4_1 = wrapBlocks(q4_1DotAVX2, 20, q8_1Size)
		kq5_1 = wrapBlocks(q5_1DotAVX2, 24, q8_1Size)
	}
}
