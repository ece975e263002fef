package weights

import (
	"math"
	"reflect"
	"testing"
)

// TestParseArrayElements decodes one metadata array of every fixed-size
// element type from hand-written little-endian bytes (two's complement and
// IEEE 754 values worked out by hand, not produced by our writer).
func TestParseArrayElements(t *testing.T) {
	cases := []struct {
		elem ValueType
		raw  []byte
		want any
	}{
		{ValUint8, []byte{0x00, 0xff}, []uint8{0, 255}},
		{ValInt8, []byte{0x80, 0x7f, 0xff}, []int8{-128, 127, -1}},
		{ValBool, []byte{0, 1, 1}, []bool{false, true, true}},
		{ValUint16, []byte{0x34, 0x12, 0xff, 0xff}, []uint16{0x1234, 0xffff}},
		{ValInt16, []byte{0xff, 0xff, 0x00, 0x80}, []int16{-1, math.MinInt16}},
		{ValUint32, []byte{0x78, 0x56, 0x34, 0x12}, []uint32{0x12345678}},
		{ValInt32, []byte{0xfe, 0xff, 0xff, 0xff, 0x05, 0x00, 0x00, 0x00}, []int32{-2, 5}},
		{ValFloat32, []byte{0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x80, 0xff}, []float32{1.5, float32(math.Inf(-1))}},
		{ValUint64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []uint64{math.MaxUint64}},
		{ValInt64, []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80}, []int64{math.MinInt64}},
		{ValFloat64, []byte{0, 0, 0, 0, 0, 0, 0x00, 0xc0}, []float64{-2}},
	}
	for _, c := range cases {
		n := reflect.ValueOf(c.want).Len()
		b := header(0, 1).str("k").u32(uint32(ValArray)).u32(uint32(c.elem)).u64(uint64(n)).raw(c.raw...).b
		f, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", c.elem, err)
			continue
		}
		v, ok := f.Get("k")
		if !ok || v.Type != ValArray || v.Elem != c.elem || !reflect.DeepEqual(v.V, c.want) {
			t.Errorf("%s: got %+v (%T), want %v", c.elem, v, v.V, c.want)
		}
	}
}

// TestParseHostileBoolArray: a bool element other than 0 or 1 is refused
// with the key and the element's index.
func TestParseHostileBoolArray(t *testing.T) {
	b := header(0, 1).str("flags").u32(uint32(ValArray)).u32(uint32(ValBool)).u64(3).raw(1, 2, 0).b
	expectFormatError(t, b, `metadata "flags"[1]: bool byte 2`)
}
