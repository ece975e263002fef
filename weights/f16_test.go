package weights

import (
	"math"
	"testing"
)

// TestFP16RoundTripAll checks every binary16 bit pattern: decode then encode
// must give the same bits (NaNs stay NaNs). Conversion rules: IEEE 754-2008.
func TestFP16RoundTripAll(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := FP16ToFP32(uint16(h))
		back := FP32ToFP16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("%#04x: NaN came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
}

// TestFP16RoundingIEEE checks round-half-even at and between binary16 points
// against float64 arithmetic (the exact midpoint of two neighbours).
func TestFP16RoundingIEEE(t *testing.T) {
	for h := 0; h < 0x7bff; h++ { // positive finite, below max
		a, b := float64(FP16ToFP32(uint16(h))), float64(FP16ToFP32(uint16(h+1)))
		mid := float32((a + b) / 2)
		want := uint16(h)
		if h&1 == 1 {
			want = uint16(h + 1)
		}
		if got := FP32ToFP16(mid); got != want {
			t.Fatalf("midpoint of %#04x,%#04x: got %#04x want %#04x", h, h+1, got, want)
		}
		if got := FP32ToFP16(math.Nextafter32(mid, 0)); got != uint16(h) {
			t.Fatalf("just below midpoint %#04x: got %#04x", h, got)
		}
	}
	if FP32ToFP16(70000) != 0x7c00 {
		t.Fatal("overflow must give +inf")
	}
}
