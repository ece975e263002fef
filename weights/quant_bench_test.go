package weights

import "testing"

// Codec throughput. Dequantize reports GB/s of quantized bytes read;
// quantize reports GB/s of float32 bytes read. One buffer of 2^20 elements
// (256 rows of 4096) per op keeps a run short on shared machines:
//
//	go test ./weights -run '^$' -bench 'Quantize' -benchtime 5x

const benchElems = 1 << 20

func benchInput() []float32 {
	x := make([]float32, benchElems)
	s := uint32(42)
	for i := range x {
		s ^= s << 13
		s ^= s >> 17
		s ^= s << 5
		x[i] = float32(float64(s>>8)/8388608.0 - 1.0)
	}
	return x
}

func BenchmarkDequantize(b *testing.B) {
	x := benchInput()
	y := make([]float32, len(x))
	for _, typ := range codecTypes() {
		q := make([]byte, mustRowSize(b, typ, len(x)))
		if err := QuantizeRow(typ, q, x); err != nil {
			b.Fatal(err)
		}
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(q)))
			for b.Loop() {
				if err := DequantizeRow(typ, y, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkQuantize(b *testing.B) {
	x := benchInput()
	for _, typ := range codecTypes() {
		q := make([]byte, mustRowSize(b, typ, len(x)))
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if err := QuantizeRow(typ, q, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
