//go:build !amd64

package kernels

import "dayi/weights"

type gemmKernels struct {
	bias int32
	gemm func(w, x *byte, xstride, nb2 int, res *[4]float32)
	gemv func(w *byte, wstride int, x *byte, nb2 int, res *[4]float32)
}

func packedKernels(weights.Type) (gemmKernels, bool) { return gemmKernels{}, false }

func hasKPacked(weights.Type) bool { return false }

func gemmKx4(w, x *byte, xstride, nb int, res *[4]float32) {}

func gemmKx1(w, x *byte, nb int) float32 { return 0 }

const hasZ512 = false

func f16Gemm2x4(w *byte, wstride int, x *float32, xstride, n16 int, res *[8]float32) {}

func f16DotZ(w *byte, x *float32, n int) float32 { return 0 }

func f16Gemv4(w *byte, wstride int, x *float32, n16 int, res *[4]float32) {}

func hasDirectK(weights.Type) bool { return false }
