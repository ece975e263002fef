package kernels

// Assembly activation quantizers (quant_amd64.s), bit-identical to the Go
// twins in quant.go, used when the CPU has AVX2+FMA (+F16C, see hasAVX2).

//go:noescape
func quantizeQ8_0AVX2(dst *byte, x *float32, nb int)

//go:noescape
func quantizeQ8_1AVX2(dst *byte, x *float32, nb int)

//go:noescape
func quantizeQ8_KAVX2(dst *byte, x *float32, nb int)

// pack40AVX2 is pack40 (gemm16.go) for nb > 0 blocks.
//
//go:noescape
func pack40AVX2(dst, x *byte, nb int, c int32)

// quantizeQ8_0 writes len(x)/32 q8_0 blocks to dst (x86 SIMD semantics).
func quantizeQ8_0(dst []byte, x []float32) {
	nb := len(x) / 32
	if !hasAVX2 || nb == 0 {
		quantizeQ8_0Go(dst, x)
		return
	}
	_ = dst[nb*q8_0Size-1]
	quantizeQ8_0AVX2(&dst[0], &x[0], nb)
}

// quantizeQ8_1 writes len(x)/32 q8_1 blocks to dst (x86 AVX2 semantics).
func quantizeQ8_1(dst []byte, x []float32) {
	nb := len(x) / 32
	if !hasAVX2 || nb == 0 {
		quantizeQ8_1Go(dst, x)
		return
	}
	_ = dst[nb*q8_1Size-1]
	quantizeQ8_1AVX2(&dst[0], &x[0], nb)
}

// quantizeQ8_K writes len(x)/256 q8_K blocks to dst (quantize_row_q8_K_ref).
func quantizeQ8_K(dst []byte, x []float32) {
	nb := len(x) / 256
	if !hasAVX2 || nb == 0 {
		quantizeQ8_KGo(dst, x)
		return
	}
	_ = dst[nb*q8_KSize-1]
	quantizeQ8_KAVX2(&dst[0], &x[0], nb)
}
