package kernels

import (
	"encoding/binary"
	"math"
)

// Packed activations for the VNNI block kernels (gemm_amd64.s). VPDPBUSD
// multiplies unsigned by signed bytes, so weights enter as u = q + c (c = 8
// for q4_0's nibbles, 128 for q8_0 through xor 0x80) and each 4-element lane
// gets the bias -c*sum(x) that makes the integer lane sum exact again. Per
// pair of q8_0 activation blocks the layout is: 64 quants, 16 int32 biases
// (8 per block), 16 float32 scales (each block's f16 d, 8 times), 192 bytes.
// Keeping the biases and broadcast scales in memory costs activation bytes,
// which are reused for every weight row, and saves instructions per
// weight-block x activation-row pair, the inner loop of prefill.
const xpPairSize = 192

// packQ8 packs nb (even) q8_0 blocks of x into dst (nb/2*xpPairSize bytes)
// for weights biased by c.
func packQ8(dst, x []byte, nb int, c int32) {
	for p := 0; p < nb/2; p++ {
		d := dst[p*xpPairSize : (p+1)*xpPairSize]
		for h := 0; h < 2; h++ {
			blk := x[(2*p+h)*q8_0Size : (2*p+h+1)*q8_0Size]
			copy(d[32*h:32*h+32], blk[2:34])
			for l := 0; l < 8; l++ {
				var s int32
				for _, q := range blk[2+4*l : 6+4*l] {
					s += int32(int8(q))
				}
				binary.LittleEndian.PutUint32(d[64+4*(8*h+l):], uint32(-c*s))
				binary.LittleEndian.PutUint32(d[128+4*(8*h+l):], math.Float32bits(f16(blk)))
			}
		}
	}
}
