//go:build amd64 || arm64

package kernels

// The Go side of the assembly dot kernels (dot_amd64.s, dot_arm64.s): each
// takes nb >= 0 blocks, and these wrappers check that the slices hold them so
// that a caller bug cannot make assembly read out of bounds.

type asmDot func(w, x *byte, nb int) float32

// wrap32 adapts an assembly kernel for a 32-element block type with wsize
// weight bytes per block (q8_0 activations) to the pure-Go signature.
func wrap32(f asmDot, wsize int) func(w, x []byte, nb int) float32 {
	return wrapBlocks(f, wsize, q8_0Size)
}

// wrapBlocks is wrap32 for xsize activation bytes per block (q8_1: 36).
func wrapBlocks(f asmDot, wsize, xsize int) func(w, x []byte, nb int) float32 {
	return func(w, x []byte, nb int) float32 {
		if nb <= 0 {
			return 0
		}
		_ = w[nb*wsize-1]
		_ = x[nb*xsize-1]
		return f(&w[0], &x[0], nb)
	}
}

// wrapK adapts an assembly k-quant kernel (wsize bytes per super-block).
func wrapK(f asmDot, wsize int) func(w, x []byte, nb int, kb *kblock) float32 {
	return func(w, x []byte, nb int, _ *kblock) float32 {
		if nb <= 0 {
			return 0
		}
		_ = w[nb*wsize-1]
		_ = x[nb*q8_KSize-1]
		return f(&w[0], &x[0], nb)
	}
}
