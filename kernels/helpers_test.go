package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"dayi/weights"
)

// randBlocks fills nb blocks of size bs with random bytes and a random finite
// f16 scale at each offset in dOffs.
func randBlocks(rng *rand.Rand, nb, bs int, dOffs ...int) []byte {
	b := make([]byte, nb*bs)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for i := 0; i < nb; i++ {
		for _, o := range dOffs {
			binary.LittleEndian.PutUint16(b[i*bs+o:], weights.FP32ToFP16(float32(rng.NormFloat64()*0.01)))
		}
	}
	return b
}

func randActQ8_0(rng *rand.Rand, nb int) []byte {
	x := make([]float32, nb*32)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	q := make([]byte, nb*q8_0Size)
	quantizeQ8_0(q, x)
	return q
}

// sameBits returns the first index where a and b differ in their bits, or
// -1.
func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
