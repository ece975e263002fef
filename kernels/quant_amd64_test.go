package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// quantRow makes a row of n floats of the given kind, chosen to reach every
// branch of the twins: rounding ties, saturation, zero blocks, huge and
// subnormal magnitudes, NaN and Inf.
func quantRow(rng *rand.Rand, kind string, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		v := float32(rng.NormFloat64())
		switch kind {
		case "normal":
		case "wide":
			v *= float32(math.Exp2(float64(rng.IntN(60) - 30)))
		case "ties":
			// integers and halves times max/127, so x*id lands on or next
			// to .5 after the scaling.
			v = float32(rng.IntN(255)-127) / 2
			if i%32 == 0 {
				v = 63.5
			}
		case "ints":
			v = float32(rng.IntN(255) - 127)
		case "zeroblocks":
			if (i/32)%3 != 1 {
				v = 0
			}
			if rng.IntN(50) == 0 {
				v = float32(math.Copysign(0, -1))
			}
		case "sparse":
			if rng.IntN(40) != 0 {
				v = 0
			}
		case "huge":
			v *= 3e38 / 4
		case "tiny":
			v *= 1e-38
		case "subnormal":
			v = math.Float32frombits(rng.Uint32() & 0x807fffff)
			if rng.IntN(4) == 0 {
				v = 0
			}
		case "mixedsign":
			// equal magnitudes of both signs: q8_K must take the first.
			v = 2.5
			if rng.IntN(2) == 0 {
				v = -2.5
			}
			if rng.IntN(3) == 0 {
				v = float32(rng.NormFloat64())
			}
		case "special":
			switch rng.IntN(12) {
			case 0:
				v = float32(math.NaN())
			case 1:
				v = float32(math.Inf(1))
			case 2:
				v = float32(math.Inf(-1))
			case 3:
				v = math.Float32frombits(0x7f800001 | rng.Uint32()&0x807fffff) // signalling / payload NaNs
			case 4:
				v = math.MaxFloat32
			}
		case "somenan":
			if rng.IntN(40) == 0 {
				v = float32(math.NaN())
			}
		case "allnan":
			v = float32(math.NaN())
			if rng.IntN(8) == 0 {
				v = 0
			}
		default:
			panic(kind)
		}
		x[i] = v
	}
	return x
}

var quantKinds = []string{"normal", "wide", "ties", "ints", "zeroblocks", "sparse", "huge", "tiny",
	"subnormal", "mixedsign", "special", "somenan", "allnan"}

// TestQuantizeAVX2 compares the assembly quantizers byte for byte with the Go
// twins (which follow ggml's x86 quantize_row_q8_0/q8_1 and
// quantize_row_q8_K_ref and are checked against ggml outputs elsewhere).
func TestQuantizeAVX2(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA on this CPU")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name      string
		bs, size  int
		goF, asmF func(dst []byte, x []float32)
	}{
		{"q8_0", 32, q8_0Size, quantizeQ8_0Go, quantizeQ8_0},
		{"q8_1", 32, q8_1Size, quantizeQ8_1Go, quantizeQ8_1},
		{"q8_K", 256, q8_KSize, quantizeQ8_KGo, quantizeQ8_K},
	}
	for _, c := range cases {
		for _, kind := range quantKinds {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				for row := 0; row < 200; row++ {
					nb := 1 + rng.IntN(12)
					x := quantRow(rng, kind, nb*c.bs)
					want := make([]byte, nb*c.size)
					got := make([]byte, nb*c.size)
					for i := range got {
						got[i] = 0xa5 // every byte must be written
					}
					c.goF(want, x)
					c.asmF(got, x)
					if !bytes.Equal(got, want) {
						t.Fatalf("row %d (%d blocks): %s", row, nb, firstDiff(got, want, c.size, x, c.bs))
					}
				}
			})
		}
	}
}

func firstDiff(got, want []byte, size int, x []float32, bs int) string {
	for i := range got {
		if got[i] != want[i] {
			b := i / size
			return fmt.Sprintf("block %d byte %d: got %#02x want %#02x; x=%v", b, i%size, got[i], want[i], x[b*bs:(b+1)*bs])
		}
	}
	return "equal"
}

// TestQuantizeAVX2Known checks the assembly against values worked out by
// hand from ggml's definitions, independent of the Go twins.
func TestQuantizeAVX2Known(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA on this CPU")
	}
	// max 127 -> d = 1 (f16 0x3c00), id = 1; halves round to even.
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i)/2 - 8
	}
	x[31] = 127
	x[30] = -127
	got := make([]byte, q8_1Size)
	quantizeQ8_1(got, x)
	want := []byte{0x00, 0x3c, 0, 0}
	var sum int
	for _, v := range x {
		q := int(math.RoundToEven(float64(v)))
		sum += q
		want = append(want, byte(int8(q)))
	}
	// s = d*sum = sum, exactly representable in f16 here.
	want[2], want[3] = byte(f16Int(sum)), byte(f16Int(sum)>>8)
	if !bytes.Equal(got, want) {
		t.Fatalf("q8_1 got %x\nwant %x", got, want)
	}
}

// f16Int is the binary16 encoding of a small integer (|v| < 2048).
func f16Int(v int) uint16 {
	if v == 0 {
		return 0
	}
	var sign uint16
	if v < 0 {
		sign, v = 0x8000, -v
	}
	e := 0
	for v>>e > 1 {
		e++
	}
	m := (v << (10 - e)) & 0x3ff
	return sign | uint16(e+15)<<10 | uint16(m)
}

// BenchmarkQuantize reports MB/s of float input for the Go twins and the
// assembly, over a 2048-wide row (the llama-1b hidden size).
func BenchmarkQuantize(b *testing.B) {
	const k = 2048
	rng := rand.New(rand.NewPCG(3, 4))
	x := quantRow(rng, "normal", k)
	dst := make([]byte, k/32*q8_1Size+q8_KSize)
	cases := []struct {
		name string
		f    func(dst []byte, x []float32)
	}{
		{"q8_0/go", quantizeQ8_0Go}, {"q8_0/asm", quantizeQ8_0},
		{"q8_1/go", quantizeQ8_1Go}, {"q8_1/asm", quantizeQ8_1},
		{"q8_K/go", quantizeQ8_KGo}, {"q8_K/asm", quantizeQ8_K},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(4 * k)
			for b.Loop() {
				c.f(dst, x)
			}
		})
	}
}
