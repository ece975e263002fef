package kernels

import "dayi/weights"

// The q4_1/q5_1 multi-row kernels (qx1_amd64.s, generated; layouts and
// twins in qx1.go).

//go:noescape
func qx1Gemv4Q4_1x1(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q4_1x2(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q4_1x3(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q4_1x4(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q5_1x1(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q5_1x2(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q5_1x3(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q5_1x4(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Dec8Q4_1(w *byte, wstride, nb int, dst *byte)

//go:noescape
func qx1Dec8Q5_1(w *byte, wstride, nb int, dst *byte)

//go:noescape
func qx1Gemm8Q4_1x1(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q4_1x2(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q4_1x3(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q4_1x4(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q5_1x1(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q5_1x2(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q5_1x3(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm8Q5_1x4(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Dec4Q4_1AVX2(w *byte, wstride, nb int, dst *byte)

//go:noescape
func qx1Dec4Q5_1AVX2(w *byte, wstride, nb int, dst *byte)

//go:noescape
func qx1Gemm4Q4_1AVX2x1(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm4Q4_1AVX2x2(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm4Q5_1AVX2x1(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemm4Q5_1AVX2x2(w, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

// qx1Gemv4Q4_1AVX2x1 and qx1Gemv4Q5_1AVX2x1 are the decode step's (m = 1)
// AVX2 kernels: qx1Dec4 and qx1Gemm4 x1 fused, on the raw rows.
//
//go:noescape
func qx1Gemv4Q4_1AVX2x1(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

//go:noescape
func qx1Gemv4Q5_1AVX2x1(w *byte, wstride int, x *byte, xstride int, s4, dx *byte, sstride, nb int, out *float32, ostride int)

// qx1KernelsFor returns the multi-row kernels of t (q4_1 or q5_1) that
// the CPU runs: AVX-512 VNNI (gemv and gemm), else AVX2 (gemm only).
func qx1KernelsFor(t weights.Type) (qx1Kernels, bool) {
	five := t == weights.TypeQ5_1
	if t != weights.TypeQ4_1 && !five {
		return qx1Kernels{}, false
	}
	switch {
	case hasZVNNI && !five:
		return qx1Kernels{
			gemv: [4]qx1GemvFunc{qx1Gemv4Q4_1x1, qx1Gemv4Q4_1x2, qx1Gemv4Q4_1x3, qx1Gemv4Q4_1x4},
			gemm: [4]qx1GemmFunc{qx1Gemm8Q4_1x1, qx1Gemm8Q4_1x2, qx1Gemm8Q4_1x3, qx1Gemm8Q4_1x4},
			dec:  qx1Dec8Q4_1, rows: 8, cols: 4, decBlock: qx1DecBlock, minRows: qx1GemmMinRows,
		}, true
	case hasZVNNI:
		return qx1Kernels{
			gemv: [4]qx1GemvFunc{qx1Gemv4Q5_1x1, qx1Gemv4Q5_1x2, qx1Gemv4Q5_1x3, qx1Gemv4Q5_1x4},
			gemm: [4]qx1GemmFunc{qx1Gemm8Q5_1x1, qx1Gemm8Q5_1x2, qx1Gemm8Q5_1x3, qx1Gemm8Q5_1x4},
			dec:  qx1Dec8Q5_1, rows: 8, cols: 4, decBlock: qx1DecBlock, minRows: qx1GemmMinRows,
		}, true
	case hasAVX2:
		return qx1Avx2Kernels(five), true
	}
	return qx1Kernels{}, false
}

// qx1Avx2Kernels returns the AVX2 kernels of q5_1 (five) or q4_1.
func qx1Avx2Kernels(five bool) qx1Kernels {
	k := qx1Kernels{gemv: [4]qx1GemvFunc{qx1Gemv4Q4_1AVX2x1},
		gemm: [4]qx1GemmFunc{qx1Gemm4Q4_1AVX2x1, qx1Gemm4Q4_1AVX2x2}, dec: qx1Dec4Q4_1AVX2,
		rows: 4, cols: 2, decBlock: qx1DecBlock2, minRows: qx1GemmMinRows2}
	if five {
		k.gemv[0] = qx1Gemv4Q5_1AVX2x1
		k.gemm[0], k.gemm[1], k.dec = qx1Gemm4Q5_1AVX2x1, qx1Gemm4Q5_1AVX2x2, qx1Dec4Q5_1AVX2
	}
	return k
}
