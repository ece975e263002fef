//go:build !amd64

package kernels

// Without assembly the activation quantizers are the Go twins (quant.go).

func quantizeQ8_0(dst []byte, x []float32) { quantizeQ8_0Go(dst, x) }

func quantizeQ8_1(dst []byte, x []float32) { quantizeQ8_1Go(dst, x) }

func quantizeQ8_K(dst []byte, x []float32) { quantizeQ8_KGo(dst, x) }

func pack40AVX2(dst, x *byte, nb int, c int32) { panic("kernels: pack40AVX2 without assembly") }
