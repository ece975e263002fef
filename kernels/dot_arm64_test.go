package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestNEONDotTwins checks the NEON q4_0/q8_0 dots against their pure-Go
// twins bit for bit: random blocks, scales from f16 subnormals to 1e3,
// the extreme nibbles and int8 values, and block counts around the loop's
// edges. CI runs it under qemu-aarch64 (scripts/ci-arm64.sh), whose CPU has
// the dot-product extension.
func TestNEONDotTwins(t *testing.T) {
	if !hasNEONDot {
		t.Skip("this arm64 CPU lacks the dot-product extension (HWCAP_ASIMDDP): the pure-Go twins run, nothing to compare")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	scales := []float64{6e-8, 1e-5, 0.01, 1, 1000}
	cases := []struct {
		name   string
		wsize  int
		neon   func(w, x []byte, nb int) float32
		twin   func(w, x []byte, nb int) float32
		active func(w, x []byte, nb int) float32
	}{
		{"q4_0", 18, wrap32(q4_0DotNEON, 18), dotQ4_0, kq4_0},
		{"q8_0", 34, wrap32(q8_0DotNEON, 34), dotQ8_0, kq8_0},
	}
	for _, c := range cases {
		for _, nb := range []int{0, 1, 2, 3, 5, 8, 31, 64, 129} {
			for trial := 0; trial < 24; trial++ {
				w := randBlocks(rng, nb, c.wsize)
				x := randBlocks(rng, nb, q8_0Size)
				for b := 0; b < nb; b++ {
					sw := scales[rng.IntN(len(scales))] * (rng.Float64() + 0.5)
					sx := scales[rng.IntN(len(scales))] * (rng.Float64() + 0.5)
					if rng.IntN(2) == 0 {
						sw = -sw
					}
					binary.LittleEndian.PutUint16(w[b*c.wsize:], weights.FP32ToFP16(float32(sw)))
					binary.LittleEndian.PutUint16(x[b*q8_0Size:], weights.FP32ToFP16(float32(sx)))
					// Trials 0 and 1 fill the quants with the extremes: the
					// largest magnitudes (q4_0 nibble 0 = -8, int8 -128), then
					// the largest positives (nibble 15 = +7, int8 +127).
					if trial < 2 {
						wq, xq := [2]byte{0x80, 0x7F}[trial], [2]byte{0x80, 0x7F}[trial]
						if c.wsize == 18 {
							wq = [2]byte{0x00, 0xFF}[trial]
						}
						fill(w[b*c.wsize+2:(b+1)*c.wsize], wq)
						fill(x[b*q8_0Size+2:(b+1)*q8_0Size], xq)
					}
				}
				want := c.twin(w, x, nb)
				got := c.neon(w, x, nb)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s nb=%d trial %d: NEON %v (%#08x), Go twin %v (%#08x)", c.name, nb, trial,
						got, math.Float32bits(got), want, math.Float32bits(want))
				}
				if a := c.active(w, x, nb); math.Float32bits(a) != math.Float32bits(want) {
					t.Fatalf("%s nb=%d: the dispatched kernel gives %v, the twin %v", c.name, nb, a, want)
				}
			}
		}
	}
	if SIMD() != SIMDNEONDot {
		t.Errorf("SIMD() = %q with the dot-product extension, want %q", SIMD(), SIMDNEONDot)
	}
}

// BenchmarkNEONDot times the NEON q4_0/q8_0/q4_K/q5_K/q6_K dots against their Go
// twins on one 4096-wide row (in L1): run it on the arm64 box itself,
//
//	go test ./kernels -run '^$' -bench NEONDot
//
// (under qemu the figures measure the emulator, not a CPU).
func BenchmarkNEONDot(b *testing.B) {
	if !hasNEONDot {
		b.Skip("no dot-product extension on this CPU")
	}
	const nb = 128
	rng := rand.New(rand.NewPCG(33, 34))
	x := randActQ8_0(rng, nb)
	for _, c := range []struct {
		name  string
		wsize int
		f     func(w, x []byte, nb int) float32
	}{
		{"q4_0/neon", 18, wrap32(q4_0DotNEON, 18)},
		{"q4_0/go", 18, dotQ4_0},
		{"q8_0/neon", 34, wrap32(q8_0DotNEON, 34)},
		{"q8_0/go", 34, dotQ8_0},
	} {
		w := randBlocks(rng, nb, c.wsize, 0)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(nb * c.wsize))
			var s float32
			for b.Loop() {
				s += c.f(w, x, nb)
			}
			_ = s
		})
	}
	const nbK = nb / 8 // the same 4096 values in super-blocks
	xf := make([]float32, nbK*256)
	for i := range xf {
		xf[i] = float32(rng.NormFloat64())
	}
	xk := make([]byte, nbK*q8_KSize)
	quantizeQ8_K(xk, xf)
	var kb kblock
	for _, c := range []struct {
		name string
		t    weights.Type
		dOff []int
		f    func(w, x []byte, nb int, kb *kblock) float32
	}{
		{"q4_K/neon", weights.TypeQ4_K, []int{0, 2}, wrapK(q4_KDotNEON, 144)},
		{"q4_K/go", weights.TypeQ4_K, []int{0, 2}, func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ4_K, w, x, nb, kb) }},
		{"q5_K/neon", weights.TypeQ5_K, []int{0, 2}, wrapK(q5_KDotNEON, 176)},
		{"q5_K/go", weights.TypeQ5_K, []int{0, 2}, func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ5_K, w, x, nb, kb) }},
		{"q6_K/neon", weights.TypeQ6_K, []int{208}, wrapK(q6_KDotNEON, 210)},
		{"q6_K/go", weights.TypeQ6_K, []int{208}, func(w, x []byte, nb int, kb *kblock) float32 { return dotK(weights.TypeQ6_K, w, x, nb, kb) }},
	} {
		w := randBlocks(rng, nbK, c.t.TypeSize(), c.dOff...)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(nbK * c.t.TypeSize()))
			var s float32
			for b.Loop() {
				s += c.f(w, xk, nbK, &kb)
			}
			_ = s
		})
	}
}

// TestNEONKDotTwins checks the NEON q4_K/q5_K/q6_K dots against dotK bit
// for bit, over block counts from 0 to 65, with activations from quantizeQ8_K and
// raw random bytes (extreme int8 values, bsums that need not match).
func TestNEONKDotTwins(t *testing.T) {
	if !hasNEONDot {
		t.Skip("this arm64 CPU lacks the dot-product extension (HWCAP_ASIMDDP): the pure-Go twins run, nothing to compare")
	}
	rng := rand.New(rand.NewPCG(35, 36))
	cases := []struct {
		t      weights.Type
		dOffs  []int
		neon   func(w, x []byte, nb int, kb *kblock) float32
		active func(w, x []byte, nb int, kb *kblock) float32
	}{
		{weights.TypeQ4_K, []int{0, 2}, wrapK(q4_KDotNEON, 144), kq4_K},
		{weights.TypeQ6_K, []int{208}, wrapK(q6_KDotNEON, 210), kq6_K},
		{weights.TypeQ5_K, []int{0, 2}, wrapK(q5_KDotNEON, 176), kq5_K},
	}
	var kb kblock
	for _, c := range cases {
		ws := c.t.TypeSize()
		for _, nb := range []int{0, 1, 2, 3, 31, 32, 33, 64, 65} {
			for trial := 0; trial < 12; trial++ {
				w := randBlocks(rng, nb, ws, c.dOffs...)
				var x []byte
				if trial%2 == 0 {
					xf := make([]float32, nb*256)
					for i := range xf {
						xf[i] = float32(rng.NormFloat64())
					}
					x = make([]byte, nb*q8_KSize)
					quantizeQ8_K(x, xf)
				} else {
					x = randBlocks(rng, nb, q8_KSize)
					for b := 0; b < nb; b++ {
						binary.LittleEndian.PutUint32(x[b*q8_KSize:], math.Float32bits(float32(rng.NormFloat64()*0.01)))
					}
				}
				want := dotK(c.t, w, x, nb, &kb)
				if got := c.neon(w, x, nb, &kb); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s nb=%d trial %d: NEON %v (%#08x), dotK %v (%#08x)", c.t, nb, trial,
						got, math.Float32bits(got), want, math.Float32bits(want))
				}
				if a := c.active(w, x, nb, &kb); math.Float32bits(a) != math.Float32bits(want) {
					t.Fatalf("%s nb=%d: the dispatched kernel gives %v, dotK %v", c.t, nb, a, want)
				}
				// A dot runs per weight row per token: no allocation (an
				// earlier Go finish once moved its sums to the heap).
				if a := testing.AllocsPerRun(5, func() { c.neon(w, x, nb, &kb) }); a != 0 {
					t.Fatalf("%s nb=%d: %v allocations per dot", c.t, nb, a)
				}
			}
		}
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
