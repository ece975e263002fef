package kernels

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Rows16 for q5_0 (the bulk of Q4_K_M files whose widths are not multiples
// of 256, e.g. qwen2-0.5b's 896 and gemma3-1b's 1152, where llama.cpp's
// quantizer falls back from q4_K to q5_0). A 352-byte tile holds block b of
// 16 rows as
//
//	[0:32)    the 16 rows' f16 d
//	[32:96)   the 16 rows' qh (bit i = fifth bit of element i), row r at 4r
//	[96:352)  4 chunks of 64 bytes: chunk c holds qs bytes 4c..4c+3 of each
//	          row at 4r (low nibbles: elements 4c.., high: 16+4c..)
//
// so the kernel gets the fifth bits of a whole chunk for all 16 rows with
// one VPSHUFBITQMB against the qh register (AVX512_BITALG), and u = q + 16
// is the nibble plus 16 where that bit is set.

func repackQ5_0(dst, src []byte, n, k int) {
	nb := k / 32
	rb := nb * q5_0Size
	for g := 0; g < n/r16Rows; g++ {
		grp := src[g*r16Rows*rb : (g+1)*r16Rows*rb]
		out := dst[g*r16Rows*rb : (g+1)*r16Rows*rb]
		for b := 0; b < nb; b++ {
			d := out[b*r16Rows*q5_0Size : (b+1)*r16Rows*q5_0Size]
			blk := grp[b*q5_0Size:] // row r's block at blk[r*rb:]
			for r := 0; r < r16Rows; r++ {
				copy(d[2*r:2*r+2], blk[r*rb:r*rb+2])
				copy(d[32+4*r:36+4*r], blk[r*rb+2:r*rb+6])
			}
			transposeWords(d[96:], blk[6:], rb, 4, 64)
		}
	}
}

// q5Slices returns element 4c+j (lo) and 16+4c+j (hi) of row r of a q5_0
// tile as u = q + 16.
func q5Slices(s []byte, r, c, j int) (lo, hi byte) {
	qh := binary.LittleEndian.Uint32(s[32+4*r:])
	q := s[96+64*c+4*r+j]
	return q&0x0f | byte(qh>>(4*c+j)&1)<<4, q>>4 | byte(qh>>(16+4*c+j)&1)<<4
}

// decR16GoQ5_0 is the twin of decR16Q5_0 (decR16Go for q5_0).
func decR16GoQ5_0(w *byte, _, nb int, dst *byte) {
	ws := unsafe.Slice(w, nb*r16Rows*q5_0Size)
	ds := unsafe.Slice(dst, nb*w16BlockSize)
	for b := 0; b < nb; b++ {
		s := ws[b*r16Rows*q5_0Size : (b+1)*r16Rows*q5_0Size]
		d := ds[b*w16BlockSize : (b+1)*w16BlockSize]
		for r := 0; r < r16Rows; r++ {
			for c := 0; c < 4; c++ {
				for j := 0; j < 4; j++ {
					d[64*c+4*r+j], d[256+64*c+4*r+j] = q5Slices(s, r, c, j)
				}
			}
			binary.LittleEndian.PutUint32(d[512+4*r:], math.Float32bits(f16(s[2*r:])))
		}
	}
}

// gemvR16GoQ5_0 is the twin of gemvR16Q5_0.
func gemvR16GoQ5_0(w, x []byte, nb int, out []float32) { gemvR16Go(w, x, nb, out, decR16GoQ5_0) }
