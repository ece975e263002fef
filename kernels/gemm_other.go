//go:build !amd64

package kernels

import (
	"unsafe"

	"dayi/weights"
)

// Off amd64 no plan path but dots and the Rows16 Go twins is chosen (the
// gates below are false), but every kernel name the shared code refers to
// is bound to its pure-Go twin (twins.go), so that what runs computes what
// the assembly would.

type gemmFunc func(w *byte, wstride int, x *byte, xstride, nb int, res *[16]float32)

type gemmKernels struct {
	bias         int32
	gemm2, gemm1 gemmFunc
	gemv         func(w *byte, wstride int, x *byte, nb int, res *[4]float32)
}

const (
	hasZ512  = false
	hasZVNNI = false
)

func packedKernels(weights.Type) (gemmKernels, bool) { return gemmKernels{}, false }

func hasKPacked(weights.Type) bool { return false }

func hasDirectK(weights.Type) bool { return false }

func gemm16Decoder(weights.Type) (func(w *byte, wstride, nb int, dst *byte), int32, bool) {
	return nil, 0, false
}

func gemmK16Kernels(weights.Type) ([4]gemm16Func, bool) { return [4]gemm16Func{}, false }

type gemm16Func = func(w, x *byte, xstride, nb int, out *float32, ostride int)

func gemmKx4(w, x *byte, xstride, nb int, res *[4]float32) { gemmKx4Go(w, x, xstride, nb, res) }

func gemmKx1(w, x *byte, nb int) float32 { return gemmKx1Go(w, x, nb) }

func kPackedKernels() (func(w, x *byte, xstride, nb int, res *[4]float32), func(w, x *byte, nb int) float32) {
	return gemmKx4, gemmKx1
}

func f16Gemm2x4(w *byte, wstride int, x *float32, xstride, n16 int, res *[8]float32) {
	f16Gemm2x4Go(w, wstride, x, xstride, n16, res)
}

func f16DotZ(w *byte, x *float32, n int) float32 { return f16DotZGo(w, x, n) }

func f16DotV(w *byte, x *float32, n64 int) float32 { return f16DotVGo(w, x, n64) }

func f16Gemv4V(w *byte, wstride int, x *float32, n64 int, res *[4]float32) {
	f16Gemv4VGo(w, wstride, x, n64, res)
}

var (
	q4_KGemv4 = kGemv4Go(weights.TypeQ4_K)
	q6_KGemv4 = kGemv4Go(weights.TypeQ6_K)
	q5_KGemv4 = kGemv4Go(weights.TypeQ5_K)
	dec16Q4_0 = dec16Go(weights.TypeQ4_0)
	dec16Q8_0 = dec16Go(weights.TypeQ8_0)
)

var gemm16Kernels = [6]gemm16Func{gemm16GoKernel(1), gemm16GoKernel(2), gemm16GoKernel(3),
	gemm16GoKernel(4), gemm16GoKernel(5), gemm16GoKernel(6)}

func k16Decoder(t weights.Type) func(w *byte, wstride, nb int, dst *byte) { return decK16Go(t) }

func siluV16(v *float32, n16 int) { siluV16Go(v, n16) }

func q5_0Gemv4(w *byte, wstride int, x *byte, npairs int, acc *[64]float32) {
	q5_0Gemv4Go(w, wstride, x, npairs, acc)
}

// r16A2Kernels: the AVX2 Rows16 kernels exist on amd64 only.
func r16A2Kernels(weights.Type, bool) ([4]gemm16Func, bool) { return [4]gemm16Func{}, false }

func siluV8(v *float32, n8 int) {
	vs := unsafe.Slice(v, 8*n8)
	for i, x := range vs {
		vs[i] = vSiLU8(x)
	}
}
