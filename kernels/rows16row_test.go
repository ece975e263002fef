package kernels

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestRows16RowReader repacks random matrices of every Rows16 type and
// reads each row back: it must be the row's original GGUF bytes.
func TestRows16RowReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []weights.Type{weights.TypeQ4_0, weights.TypeQ5_0, weights.TypeQ8_0, weights.TypeQ4_K,
		weights.TypeQ5_K, weights.TypeQ6_K} {
		const n = 48
		k := 3 * typ.BlockSize()
		rs := k / typ.BlockSize() * typ.TypeSize()
		src := make([]byte, n*rs)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		packed := make([]byte, len(src))
		if err := Repack(packed, src, typ, n, k); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(packed, src) {
			t.Fatalf("%s: repack left the bytes in place; the test would prove nothing", typ)
		}
		read, err := Rows16RowReader(typ)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]byte, rs)
		for r := 0; r < n; r++ {
			read(row, packed, k, r)
			if !bytes.Equal(row, src[r*rs:(r+1)*rs]) {
				t.Fatalf("%s row %d: read back %x, want %x", typ, r, row[:16], src[r*rs:r*rs+16])
			}
		}
	}
	if _, err := Rows16RowReader(weights.TypeQ5_1); err == nil {
		t.Error("q5_1 has no Rows16 layout, yet a reader was made")
	}
}

// BenchmarkRepack times Repack (what loading a model does to every weight
// of these types) on 256 rows × 4096: MB/s of GGUF bytes.
//
//	go test ./kernels -run '^$' -bench Repack
func BenchmarkRepack(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range []weights.Type{weights.TypeQ4_0, weights.TypeQ5_0, weights.TypeQ8_0, weights.TypeQ4_K,
		weights.TypeQ5_K, weights.TypeQ6_K} {
		const n, k = 256, 4096
		src := make([]byte, n*k/typ.BlockSize()*typ.TypeSize())
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		dst := make([]byte, len(src))
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if err := Repack(dst, src, typ, n, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
