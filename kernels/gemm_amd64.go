package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"dayi/weights"
)

// VNNI kernels over packed activations (gemm_amd64.s, gemm.go). gemm*x4x2:
// 4 weight rows wstride bytes apart times 2 packed activation row pairs
// xstride bytes apart (res[4r+h]); gemm*x4x1: times 1 pair; gemv*x4: 4
// weight rows times one activation row packed as a pair with itself. All
// run nb blocks and equal the pure-Go dot twins bit for bit.

//go:noescape
func gemmQ4_0x4x2(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

//go:noescape
func gemmQ8_0x4x2(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

//go:noescape
func gemmQ4_0x4x1(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

//go:noescape
func gemmQ8_0x4x1(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

//go:noescape
func gemvQ4_0x4(w *byte, wstride int, x *byte, nb int, res *[4]float32)

//go:noescape
func gemvQ8_0x4(w *byte, wstride int, x *byte, nb int, res *[4]float32)

//go:noescape
func q5_0Gemv4(w *byte, wstride int, x *byte, npairs int, acc *[64]float32)

// hasZVNNI gates the 512-bit kernels: AVX-512 F/BW/VL and VNNI, plus the
// AVX2/F16C set.
var hasZVNNI = hasVNNI && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

type gemmFunc func(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

type gemmKernels struct {
	bias  int32    // c: u = q + c
	gemm2 gemmFunc // 2 activation pairs
	gemm1 gemmFunc // 1 activation pair
	gemv  func(w *byte, wstride int, x *byte, nb int, res *[4]float32)
}

// packedKernels returns the packed-activation kernels for t, if any.
func packedKernels(t weights.Type) (gemmKernels, bool) {
	if !hasZVNNI {
		return gemmKernels{}, false
	}
	switch t {
	case weights.TypeQ4_0:
		return gemmKernels{8, gemmQ4_0x4x2, gemmQ4_0x4x1, gemvQ4_0x4}, true
	case weights.TypeQ8_0:
		return gemmKernels{128, gemmQ8_0x4x2, gemmQ8_0x4x1, gemvQ8_0x4}, true
	}
	return gemmKernels{}, false
}

// q4_KGemv4 is 4 q4_K weight rows (wstride bytes apart) times one q8_K
// activation row over nb super-blocks (gemvk_amd64.s); res[r] equals dotK
// of row r bit for bit.
//
//go:noescape
func q4_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32)

// q6_KGemv4 is q4_KGemv4 for q6_K weights.
//
//go:noescape
func q6_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32)

// q5_KGemv4 is q4_KGemv4 for q5_K weights (gemvk5_amd64.s).
//
//go:noescape
func q5_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32)

//go:noescape
func gemmKx4(w, x *byte, xstride, nb int, res *[4]float32)

//go:noescape
func gemmKx1(w, x *byte, nb int) float32

// gemmKx4A2 and gemmKx1A2 are gemmKx4 and gemmKx1 in AVX2
// (gemmk_avx2_amd64.s), bit for bit.
//
//go:noescape
func gemmKx4A2(w, x *byte, xstride, nb int, res *[4]float32)

//go:noescape
func gemmKx1A2(w, x *byte, nb int) float32

// hasKPacked reports whether MatMul can run type t's prefill on decoded
// super-blocks (gemmk.go): AVX-512 VNNI or AVX2 kernels.
func hasKPacked(t weights.Type) bool {
	switch t {
	case weights.TypeQ2_K, weights.TypeQ3_K, weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K:
		return hasZVNNI || hasAVX2
	}
	return false
}

// kPackedKernels returns the decoded-super-block kernels for 4 and 1
// activation rows on this CPU.
func kPackedKernels() (func(w, x *byte, xstride, nb int, res *[4]float32), func(w, x *byte, nb int) float32) {
	if hasZVNNI {
		return gemmKx4, gemmKx1
	}
	return gemmKx4A2, gemmKx1A2
}

//go:noescape
func f32DotZ(w, x *float32, n int) float32

// dotF32Z is dotF32 through f32DotZ.
func dotF32Z(w []byte, x []float32, k int) float32 {
	if k <= 0 || len(w) < 4*k || len(x) < k {
		return dotF32(w, x, k)
	}
	return f32DotZ((*float32)(unsafe.Pointer(&w[0])), &x[0], k)
}

func init() {
	if hasZ512 {
		kf32 = dotF32Z
	}
}

//go:noescape
func f16DotZ(w *byte, x *float32, n int) float32

//go:noescape
func f16Gemm2x4(w *byte, wstride int, x *float32, xstride, n16 int, res *[8]float32)

// hasZ512 gates the AVX-512 float kernels (F16C comes with AVX2, see hasAVX2).
var hasZ512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

//go:noescape
func f16DotV(w *byte, x *float32, n64 int) float32

//go:noescape
func f16Gemv4V(w *byte, wstride int, x *float32, n64 int, res *[4]float32)

// hasDirectK reports whether type t has a kernel on raw blocks (dot_amd64.s;
// q5_K: q5_KGemv4, gemvk5_amd64.s),
// which beats decoding when few activation rows share the weights.
func hasDirectK(t weights.Type) bool {
	return hasAVX2 && (t == weights.TypeQ4_K || t == weights.TypeQ6_K) || hasZVNNI && t == weights.TypeQ5_K
}
