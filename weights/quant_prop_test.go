package weights

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// Property and edge-case tests. Expected values come from the C semantics
// ggml relies on (roundf rounds half away from zero, nearest_int rounds half
// to even, ggml-quants.c's formulas for d), not from our own output.

// codecTypes lists every type with both codecs in the table.
func codecTypes() []Type {
	var out []Type
	for i := Type(0); i < typeCount; i++ {
		if tr, ok := i.Traits(); ok && tr.Quantize != nil && tr.Dequantize != nil {
			out = append(out, i)
		}
	}
	return out
}

func TestCodecCoverage(t *testing.T) {
	want := []Type{TypeF32, TypeF16, TypeBF16, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0, TypeQ8_1,
		TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K, TypeQ8_K, TypeIQ4_NL, TypeMXFP4}
	for _, typ := range want {
		if tr, _ := typ.Traits(); tr.Quantize == nil || tr.Dequantize == nil {
			t.Errorf("%s: codec missing from the type table", typ)
		}
	}
}

func TestNearestIntRoundsHalfToEven(t *testing.T) {
	cases := map[float32]int{0.5: 0, 1.5: 2, 2.5: 2, -2.5: -2, 3.5: 4, -0.49999997: 0, 126.5: 126, -127.5: -128, 4194303: 4194303}
	for in, want := range cases {
		if got := nearestInt(in); got != want {
			t.Errorf("nearestInt(%v) = %d, want %d", in, got, want)
		}
	}
}

// TestQ8_0RoundsHalfAwayFromZero: with amax 127 the scale is exactly 1, so
// the codes are roundf(x): ties go away from zero (quantize_row_q8_0_ref).
func TestQ8_0RoundsHalfAwayFromZero(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1], x[2], x[3], x[4] = 127, 2.5, -2.5, 0.5, -126.5
	b := make([]byte, 34)
	if err := QuantizeRow(TypeQ8_0, b, x); err != nil {
		t.Fatal(err)
	}
	if d := le16(b); d != 0x3c00 {
		t.Fatalf("d = %#04x, want 1.0 (0x3c00)", d)
	}
	want := []int8{127, 3, -3, 1, -127}
	for i, w := range want {
		if got := int8(b[2+i]); got != w {
			t.Errorf("code %d: got %d want %d", i, got, w)
		}
	}
}

// TestQ8_1Block: q8_1 is q8_0 plus s = d*sum(codes) (quantize_row_q8_1_ref).
func TestQ8_1Block(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1], x[2], x[31] = -127, 2.5, 10, 1.25
	b := make([]byte, 36)
	if err := QuantizeRow(TypeQ8_1, b, x); err != nil {
		t.Fatal(err)
	}
	if d := le16(b); d != 0x3c00 {
		t.Fatalf("d = %#04x, want 1.0", d)
	}
	if got := []int8{int8(b[4]), int8(b[5]), int8(b[6]), int8(b[35])}; got[0] != -127 || got[1] != 3 || got[2] != 10 || got[3] != 1 {
		t.Fatalf("codes %v, want [-127 3 10 1]", got)
	}
	if s := FP16ToFP32(le16(b[2:])); s != -113 {
		t.Fatalf("s = %v, want -113", s)
	}
}

// TestQ8_KBlock: d = max/-127 (as the f32 1/iscale), codes nearest_int (half
// to even), bsums the sums of 16 codes (quantize_row_q8_K_ref).
func TestQ8_KBlock(t *testing.T) {
	x := make([]float32, 256)
	x[0] = 127 // signed max: iscale = -1
	x[1], x[2], x[17] = 2.5, 3.5, -0.5
	b := make([]byte, 292)
	if err := QuantizeRow(TypeQ8_K, b, x); err != nil {
		t.Fatal(err)
	}
	if d := math.Float32frombits(binary.LittleEndian.Uint32(b)); d != -1 {
		t.Fatalf("d = %v, want -1", d)
	}
	qs := b[4:260]
	if q := []int8{int8(qs[0]), int8(qs[1]), int8(qs[2]), int8(qs[17])}; q[0] != -127 || q[1] != -2 || q[2] != -4 || q[3] != 0 {
		t.Fatalf("codes %v, want [-127 -2 -4 0]", q)
	}
	if s0, s1 := int16(binary.LittleEndian.Uint16(b[260:])), int16(binary.LittleEndian.Uint16(b[262:])); s0 != -133 || s1 != 0 {
		t.Fatalf("bsums %d %d, want -133 0", s0, s1)
	}
	y := make([]float32, 256)
	if err := DequantizeRow(TypeQ8_K, y, b); err != nil {
		t.Fatal(err)
	}
	if y[0] != 127 || y[1] != 2 || y[2] != 4 {
		t.Fatalf("dequantized %v %v %v, want 127 2 4", y[0], y[1], y[2])
	}
}

// TestQuantizeZeros: all-zero input encodes to scale 0 and decodes to zeros.
func TestQuantizeZeros(t *testing.T) {
	for _, typ := range codecTypes() {
		x := make([]float32, 512)
		b := make([]byte, mustRowSize(t, typ, len(x)))
		for i := range b {
			b[i] = 0xa5 // quantizers must overwrite everything
		}
		y := make([]float32, len(x))
		if err := QuantizeRow(typ, b, x); err != nil {
			t.Fatal(err)
		}
		if err := DequantizeRow(typ, y, b); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if v != 0 {
				t.Fatalf("%s: zeros came back as %v at %d", typ, v, i)
			}
		}
	}
}

// TestQuantizeMagnitudes quantizes scaled copies of the reference input, from
// tiny to large (inside binary16 range for the f16-scaled types), and checks
// that every output is finite and within the type's worst relative error of
// the block maximum.
func TestQuantizeMagnitudes(t *testing.T) {
	// Rough bound on |error| / max|x| of a block, per type: half a step of
	// the grid, or for q4_0/q5_0 the clamp of the code opposite the signed
	// maximum (1/8, 1/16 of it). It is checked where the block maximum keeps
	// the f16 scales out of binary16's subnormal range; below that only
	// |error| <= max|x| (the scale may underflow to 0) is required.
	bound := map[Type]float64{TypeF32: 0, TypeF16: 1e-3, TypeBF16: 4e-3, TypeQ8_0: 0.01, TypeQ8_1: 0.01, TypeQ8_K: 0.01,
		TypeQ6_K: 0.05, TypeQ5_0: 0.07, TypeQ5_1: 0.05, TypeQ5_K: 0.08, TypeQ4_0: 0.13, TypeQ4_1: 0.1, TypeQ4_K: 0.15,
		TypeIQ4_NL: 0.15, TypeQ3_K: 0.3, TypeQ2_K: 0.6, TypeMXFP4: 0.5}
	base := referenceInput()
	for _, scale := range []float32{1e-3, 0.25, 1, 300, 1500} {
		x := make([]float32, len(base))
		for i, v := range base {
			x[i] = v * scale
		}
		for _, typ := range codecTypes() {
			b := make([]byte, mustRowSize(t, typ, len(x)))
			y := make([]float32, len(x))
			if err := QuantizeRow(typ, b, x); err != nil {
				t.Fatal(err)
			}
			if err := DequantizeRow(typ, y, b); err != nil {
				t.Fatal(err)
			}
			bs := max(typ.BlockSize(), 256)
			for blk := 0; blk < len(x)/bs; blk++ {
				var amax, emax float64
				for i := blk * bs; i < blk*bs+bs; i++ {
					if math.IsNaN(float64(y[i])) || math.IsInf(float64(y[i]), 0) {
						t.Fatalf("%s scale %v: element %d decoded to %v", typ, scale, i, y[i])
					}
					amax = math.Max(amax, math.Abs(float64(x[i])))
					emax = math.Max(emax, math.Abs(float64(x[i]-y[i])))
				}
				lim := bound[typ] * amax
				if amax < 1e-2 {
					lim = amax
				}
				if emax > lim {
					t.Errorf("%s scale %v block %d: max error %g of block max %g (bound %g)", typ, scale, blk, emax, amax, bound[typ])
				}
			}
		}
	}
}

// TestQuantizeTiny: values far below binary16's range make f16 scales
// underflow to 0; the output must then be zeros, never NaN.
func TestQuantizeTiny(t *testing.T) {
	base := referenceInput()
	x := make([]float32, len(base))
	for i, v := range base {
		x[i] = v * 1e-30
	}
	for _, typ := range codecTypes() {
		b := make([]byte, mustRowSize(t, typ, len(x)))
		y := make([]float32, len(x))
		if err := QuantizeRow(typ, b, x); err != nil {
			t.Fatal(err)
		}
		if err := DequantizeRow(typ, y, b); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e-25 {
				t.Fatalf("%s: tiny input %g decoded to %g at %d", typ, x[i], v, i)
			}
		}
	}
}

// TestQuantizeNonFiniteNoPanic: NaN and Inf inputs give garbage, as in ggml,
// but must not panic.
func TestQuantizeNonFiniteNoPanic(t *testing.T) {
	x := referenceInput()
	x[3] = float32(math.NaN())
	x[600] = float32(math.Inf(1))
	x[1300] = float32(math.Inf(-1))
	x[1800] = 1e38
	for _, typ := range codecTypes() {
		b := make([]byte, mustRowSize(t, typ, len(x)))
		y := make([]float32, len(x))
		if err := QuantizeRow(typ, b, x); err != nil {
			t.Fatal(err)
		}
		if err := DequantizeRow(typ, y, b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRowErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"unknown", DequantizeRow(Type(4), make([]float32, 32), make([]byte, 20)), "unknown"}, // id 4 was removed from ggml
		{"unknown q", QuantizeRow(Type(99), nil, nil), "unknown"},
		{"unsupported", DequantizeRow(TypeIQ2_XXS, make([]float32, 256), make([]byte, 66)), "iq2_xxs"},
		{"unsupported q", QuantizeRow(TypeI8, make([]byte, 4), make([]float32, 4)), "i8"},
		{"partial block", DequantizeRow(TypeQ4_0, make([]float32, 31), make([]byte, 18)), "q4_0"},
		{"short src", DequantizeRow(TypeQ4_K, make([]float32, 256), make([]byte, 143)), "q4_K"},
		{"long src", DequantizeRow(TypeQ8_0, make([]float32, 32), make([]byte, 35)), "q8_0"},
		{"short dst", QuantizeRow(TypeQ6_K, make([]byte, 209), make([]float32, 256)), "q6_K"},
		{"partial q", QuantizeRow(TypeQ2_K, make([]byte, 84), make([]float32, 255)), "q2_K"},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		} else if !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %q does not name %q", c.name, c.err, c.want)
		}
	}
	if err := DequantizeRow(TypeQ4_0, nil, nil); err != nil {
		t.Errorf("empty row: %v", err)
	}
}

// TestCodecsDoNotAllocate: the row codecs are used per tensor row on hot
// paths.
func TestCodecsDoNotAllocate(t *testing.T) {
	x := referenceInput()
	y := make([]float32, len(x))
	for _, typ := range codecTypes() {
		b := make([]byte, mustRowSize(t, typ, len(x)))
		if n := testing.AllocsPerRun(3, func() { _ = QuantizeRow(typ, b, x) }); n != 0 {
			t.Errorf("%s quantize: %v allocations", typ, n)
		}
		if n := testing.AllocsPerRun(3, func() { _ = DequantizeRow(typ, y, b) }); n != 0 {
			t.Errorf("%s dequantize: %v allocations", typ, n)
		}
	}
}

func mustRowSize(t testing.TB, typ Type, n int) int {
	t.Helper()
	s, err := typ.RowSize(int64(n))
	if err != nil {
		t.Fatal(err)
	}
	return int(s)
}

// TestFP16Table: the lookup table used by the F16 dequantizer agrees with
// FP16ToFP32 (itself tested exhaustively against IEEE rules) on every bit
// pattern, NaN payloads included.
func TestFP16Table(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		if a, b := math.Float32bits(fp16Table[h]), math.Float32bits(FP16ToFP32(uint16(h))); a != b {
			t.Fatalf("%#04x: table %#08x, conversion %#08x", h, a, b)
		}
	}
}
