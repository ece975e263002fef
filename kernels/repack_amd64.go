package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func transposeWordsAVX(dst, src *byte, rb, quads int)

// hasAVX gates transposeWordsAVX (VEX-encoded SSE2 shuffles).
var hasAVX = cpu.X86.HasAVX

// transposeWords writes words [0, nw) of the 16 rows at src (row r at
// src[r*rb:]) to dst: word w of row r at dst[64*w+4*r:] (Repack's chunks).
func transposeWords(dst, src []byte, rb, nw int) {
	if !hasAVX || nw < 4 {
		transposeWordsGo(dst, src, rb, nw)
		return
	}
	q := nw / 4
	_ = dst[64*4*q-1]
	_ = src[15*rb+16*q-1]
	transposeWordsAVX(&dst[0], &src[0], rb, q)
	if nw%4 != 0 {
		transposeWordsGo(dst[256*q:], src[16*q:], rb, nw%4)
	}
}
