//go:build !amd64

package kernels

// transposeWords is transposeWordsGo where no assembly is wired up.
func transposeWords(dst, src []byte, rb, nw, cs int) { transposeWordsGo(dst, src, rb, nw, cs) }
