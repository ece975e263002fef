package weights

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDequantize feeds arbitrary bytes to every dequantizer through
// DequantizeRow: whole blocks must decode without panicking, and a length that
// is not whole blocks must be refused with an error.
func FuzzDequantize(f *testing.F) {
	bins, _ := filepath.Glob(filepath.Join(quantDir(), "*.bin"))
	for _, p := range bins {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:min(len(b), 600)])
		}
	}
	f.Add([]byte{0xff, 0x7f, 0x00, 0x7c, 0xff, 0xff})
	types := codecTypes()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range types {
			ts, bs := typ.TypeSize(), typ.BlockSize()
			n := len(data) / ts
			dst := make([]float32, n*bs)
			if err := DequantizeRow(typ, dst, data[:n*ts]); err != nil {
				t.Fatalf("%s: %d whole blocks refused: %v", typ, n, err)
			}
			if len(data)%ts != 0 {
				if err := DequantizeRow(typ, dst, data); err == nil {
					t.Fatalf("%s: %d bytes for %d elements accepted", typ, len(data), len(dst))
				}
			}
			if bs > 1 && len(dst) > 0 {
				if err := DequantizeRow(typ, dst[:len(dst)-1], data[:n*ts]); err == nil {
					t.Fatalf("%s: partial block accepted", typ)
				}
			}
		}
	})
}

// FuzzQuantize reads the bytes as float32s (NaN, Inf, subnormals included)
// and runs every quantizer: it must never panic.
func FuzzQuantize(f *testing.F) {
	in, err := os.ReadFile(filepath.Join(quantDir(), "input.f32"))
	if err == nil {
		f.Add(in[:1024])
	}
	nan := make([]byte, 1024)
	for i := 0; i < len(nan); i += 4 {
		binary.LittleEndian.PutUint32(nan[i:], math.Float32bits(float32(math.NaN())))
	}
	f.Add(nan)
	types := codecTypes()
	f.Fuzz(func(t *testing.T, data []byte) {
		x := make([]float32, len(data)/4)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		y := make([]float32, 0, len(x))
		for _, typ := range types {
			bs := typ.BlockSize()
			xs := x[:len(x)/bs*bs]
			q := make([]byte, len(xs)/bs*typ.TypeSize())
			if err := QuantizeRow(typ, q, xs); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if err := DequantizeRow(typ, y[:len(xs)], q); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	})
}
