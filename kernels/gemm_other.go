//go:build !amd64

package kernels

import "dayi/weights"

type gemmFunc func(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

type gemmKernels struct {
	bias         int32
	gemm2, gemm1 gemmFunc
	gemv         func(w *byte, wstride int, x *byte, nb int, res *[4]float32)
}

func packedKernels(weights.Type) (gemmKernels, bool) { return gemmKernels{}, false }

func hasKPacked(weights.Type) bool { return false }

func gemmKx4(w, x *byte, xstride, nb int, res *[4]float32) {}

func gemmKx1(w, x *byte, nb int) float32 { return 0 }

const hasZ512 = false

func f16Gemm2x4(w *byte, wstride int, x *float32, xstride, n16 int, res *[8]float32) {}

func f16DotZ(w *byte, x *float32, n int) float32 { return 0 }

func f16DotV(w *byte, x *float32, n64 int) float32 { return 0 }

func f16Gemv4V(w *byte, wstride int, x *float32, n64 int, res *[4]float32) {}

func f16TailF(w []byte, x []float32, from, k int, part float32) float32 { return 0 }

func hasDirectK(weights.Type) bool { return false }

func q4_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32) {}

const hasZVNNI = false

func q6_KGemv4(w *byte, wstride int, x *byte, nb int, res *[4]float32) {}

func dec16Q4_0(w *byte, wstride, nb int, dst *byte) {}

func dec16Q8_0(w *byte, wstride, nb int, dst *byte) {}

var gemm16Kernels [6]func(w, x *byte, xstride, nb int, out *float32, ostride int)

type gemm16Func = func(w, x *byte, xstride, nb int, out *float32, ostride int)

func gemmK16Kernels(weights.Type) ([4]gemm16Func, bool) { return [4]gemm16Func{}, false }

func k16Decoder(weights.Type) func(w *byte, wstride, nb int, dst *byte) { return nil }

func decodeK16Asm(t weights.Type, dst, w []byte, wstride, nb int) {
	decodeK16(t, dst, w, wstride, nb)
}

func siluV16(v *float32, n16 int) {}

func gemm16Decoder(weights.Type) (func(w *byte, wstride, nb int, dst *byte), int32, bool) {
	return nil, 0, false
}

func q5_0Gemv4(w *byte, wstride int, x *byte, npairs int, acc *[64]float32) {}
