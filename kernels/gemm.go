package kernels

import (
	"encoding/binary"
	"math"
)

// Packed activations for the VNNI block kernels (gemm_amd64.s). VPDPBUSD
// multiplies unsigned by signed bytes, so weights enter as u = q + c (c = 8
// for q4_0's nibbles, 128 for q8_0 through xor 0x80) and each 4-element lane
// gets the bias -c*sum(x) that makes the integer lane sum exact again.
// Activation rows are packed in pairs (2p, 2p+1), so that one ZMM register
// holds the same block of two rows; an odd last row is paired with itself.
// Per pair and block: 64 quants [row a | row b], 16 int32 biases (8 per
// row), 16 float32 scales (each row's f16 d, 8 times): xpBlockSize bytes.
// Keeping the biases and broadcast scales in memory costs activation bytes,
// which are reused for every weight row, and saves instructions per
// weight-block x activation-row pair, the inner loop of prefill.
const xpBlockSize = 192

// packQ8 packs nb q8_0 blocks of x into half h (0 or 1) of the row pair at
// dst (nb*xpBlockSize bytes) for weights biased by c.
func packQ8(dst []byte, h int, x []byte, nb int, c int32) {
	for b := 0; b < nb; b++ {
		d := dst[b*xpBlockSize : (b+1)*xpBlockSize]
		blk := x[b*q8_0Size : (b+1)*q8_0Size]
		copy(d[32*h:32*h+32], blk[2:34])
		ds := math.Float32bits(f16(blk))
		for l := 0; l < 8; l++ {
			var s int32
			for _, q := range blk[2+4*l : 6+4*l] {
				s += int32(int8(q))
			}
			binary.LittleEndian.PutUint32(d[64+32*h+4*l:], uint32(-c*s))
			binary.LittleEndian.PutUint32(d[128+32*h+4*l:], ds)
		}
	}
}
