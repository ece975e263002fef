package kernels

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// rows16Types are the weight types with a Rows16 layout.
var rows16Types = []weights.Type{weights.TypeQ4_0, weights.TypeQ5_0, weights.TypeQ8_0, weights.TypeQ4_K,
	weights.TypeQ5_K, weights.TypeQ6_K}

// randomBytes returns n bytes from rng (weights or rows of any layout:
// the repacks move bytes without reading them).
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestRows16RowReader repacks random matrices of every Rows16 type and
// reads each row back: it must be the row's original GGUF bytes.
func TestRows16RowReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range rows16Types {
		const n = 48
		k := 3 * typ.BlockSize()
		rs := k / typ.BlockSize() * typ.TypeSize()
		src := randomBytes(rng, n*rs)
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
	for _, typ := range rows16Types {
		const n, k = 256, 4096
		src := randomBytes(rng, n*k/typ.BlockSize()*typ.TypeSize())
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

// TestRepackTwins checks Repack, whose word moves run through
// transposeWords (assembly on amd64), against its twins one row at a
// time: r16kPut for the k-quants and the layout loops below (rows16.go,
// rows16q5.go) for q4_0/q8_0/q5_0; and transposeWords against
// transposeWordsGo for 1–40 words, odd row strides and chunk strides.
func TestRepackTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, typ := range rows16Types {
		const n = 48
		k := 3 * typ.BlockSize()
		ts, nb := typ.TypeSize(), 3
		rb := nb * ts
		src := randomBytes(rng, n*rb)
		got := make([]byte, len(src))
		if err := Repack(got, src, typ, n, k); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(src))
		for g := 0; g < n/r16Rows; g++ {
			for b := 0; b < nb; b++ {
				d := want[g*r16Rows*rb+b*r16Rows*ts : g*r16Rows*rb+(b+1)*r16Rows*ts]
				for r := 0; r < r16Rows; r++ {
					blk := src[(g*r16Rows+r)*rb+b*ts : (g*r16Rows+r)*rb+(b+1)*ts]
					switch typ {
					case weights.TypeQ5_0:
						copy(d[2*r:], blk[0:2])
						copy(d[32+4*r:], blk[2:6])
						for c := 0; c < 4; c++ {
							copy(d[96+64*c+4*r:], blk[6+4*c:10+4*c])
						}
					case weights.TypeQ4_0, weights.TypeQ8_0:
						copy(d[2*r:], blk[0:2])
						for c := 0; c < (ts-2)/4; c++ {
							copy(d[32+64*c+4*r:], blk[2+4*c:6+4*c])
						}
					default:
						r16kPut(typ, d, r, blk)
					}
				}
			}
		}
		if !bytes.Equal(got, want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: Repack differs from its row-by-row twin first at byte %d", typ, i)
		}
	}
	for nw := 1; nw <= 40; nw++ {
		for _, rb := range []int{4 * nw, 4*nw + 2, 4*nw + 37} {
			for _, cs := range []int{64, 128, 192} {
				src := randomBytes(rng, 15*rb+4*nw+3)
				got, want := randomBytes(rng, cs*nw+5), make([]byte, cs*nw+5)
				copy(want, got) // bytes between chunks stay as they were
				transposeWords(got[1:], src[1:], rb, nw, cs)
				transposeWordsGo(want[1:], src[1:], rb, nw, cs)
				if !bytes.Equal(got, want) {
					t.Fatalf("transposeWords, %d words, rows %d bytes apart, chunks %d apart: differs from transposeWordsGo", nw, rb, cs)
				}
			}
		}
	}
}
