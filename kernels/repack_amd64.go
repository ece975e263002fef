package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func transposeWordsAVX(dst, src *byte, rb, cs, quads int)

// hasAVX gates transposeWordsAVX (VEX-encoded SSE2 shuffles).
var hasAVX = cpu.X86.HasAVX

// transposeWords writes words [0, nw) of the 16 rows at src (row r at
// src[r*rb:]) to dst: word w of row r at dst[cs*w+4*r:] (Repack's chunks of
// 64 bytes, cs bytes apart: 64 where they follow each other, more where a
// tile interleaves them with others in the order a kernel reads them).
func transposeWords(dst, src []byte, rb, nw, cs int) {
	if !hasAVX || nw < 4 {
		transposeWordsGo(dst, src, rb, nw, cs)
		return
	}
	q := nw / 4
	_ = dst[cs*(4*q-1)+63]
	_ = src[15*rb+16*q-1]
	transposeWordsAVX(&dst[0], &src[0], rb, cs, q)
	if nw%4 != 0 {
		transposeWordsGo(dst[4*cs*q:], src[16*q:], rb, nw%4, cs)
	}
}
