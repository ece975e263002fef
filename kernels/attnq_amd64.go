package kernels

//go:noescape
func fmaRowF32(o, v *float32, n int, w float32)

// fmaRowAsm is fmaRowGo with AVX2 FMA (one float32 rounding, as ggml; the Go
// twin rounds the float64 FMA to float32, which can differ in a rare
// double-rounding case).
func fmaRowAsm(o, v []float32, w float32) {
	n := len(o)
	if n == 0 || n%8 != 0 || len(v) < n {
		fmaRowGo(o, v, w)
		return
	}
	fmaRowF32(&o[0], &v[0], n, w)
}

//go:noescape
func dotQ8Q8(x, y *byte, nb int) float32

//go:noescape
func dotQ4Q8(x, y *byte, nb int) float32

// vecDotQ8Asm is vecDotQ8Go in assembly (the same lanes, FMAs and hsum).
func vecDotQ8Asm(t KVQuant, x, y []byte, nb int) float32 {
	if nb <= 0 || len(y) < nb*34 || len(x) < nb*t.BlockBytes() {
		return vecDotQ8Go(t, x, y, nb)
	}
	switch t {
	case KVQ8_0:
		return dotQ8Q8(&x[0], &y[0], nb)
	case KVQ4_0:
		return dotQ4Q8(&x[0], &y[0], nb)
	}
	return vecDotQ8Go(t, x, y, nb)
}

func init() {
	if hasAVX2 {
		kFMARow, kVecDotQ8 = fmaRowAsm, vecDotQ8Asm
	}
}
