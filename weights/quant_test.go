package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"dayi/internal/testref"
)

// The references in testdata/quant are ggml's own output (llama.cpp v0.5.0,
// ggml_quantize_chunk without imatrix and type_traits to_float), kept in
// testdata/reference/quant at the repository root; see its README.md.

// quantDir is the folder of ggml's quantized bytes and dequantized floats.
func quantDir() string { return testref.Path("reference", "quant") }

type quantManifest struct {
	Input struct {
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
	} `json:"input"`
	Types []struct {
		Name       string  `json:"name"`
		GGMLType   uint32  `json:"ggml_type"`
		BlockElems int     `json:"block_elems"`
		BlockBytes int     `json:"block_bytes"`
		TotalBytes int     `json:"total_bytes"`
		BinSHA256  string  `json:"bin_sha256"`
		DeqSHA256  string  `json:"deq_sha256"`
		MaxAbsErr  float64 `json:"max_abs_err"`
	} `json:"types"`
}

func readQuantFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(quantDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadManifest(t testing.TB) quantManifest {
	t.Helper()
	var m quantManifest
	if err := json.Unmarshal(readQuantFile(t, "manifest.json"), &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(m.Types) == 0 {
		t.Fatal("manifest.json lists no types")
	}
	return m
}

func f32sFromBytes(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// referenceInput is the generator of testdata/reference/quant/README.md.
func referenceInput() []float32 {
	a := make([]float32, 2048)
	x := uint32(42)
	for i := range a {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		a[i] = float32(float64(x>>8)/8388608.0 - 1.0)
	}
	a[0*512+7] = 8.0
	a[1*512+100] = -12.5
	a[2*512+300] = 31.0
	for c := 0; c < 32; c++ {
		a[3*512+c] = 0
	}
	for c := 256; c < 512; c++ {
		a[3*512+c] /= 1024
	}
	return a
}

func TestQuantTestdataMatchesManifest(t *testing.T) {
	m := loadManifest(t)
	if got := sha256Hex(readQuantFile(t, m.Input.File)); got != m.Input.SHA256 {
		t.Errorf("%s: sha256 %s, manifest says %s", m.Input.File, got, m.Input.SHA256)
	}
	for _, e := range m.Types {
		if got := sha256Hex(readQuantFile(t, e.Name+".bin")); got != e.BinSHA256 {
			t.Errorf("%s.bin: sha256 %s, manifest says %s", e.Name, got, e.BinSHA256)
		}
		if got := sha256Hex(readQuantFile(t, e.Name+".deq.f32")); got != e.DeqSHA256 {
			t.Errorf("%s.deq.f32: sha256 %s, manifest says %s", e.Name, got, e.DeqSHA256)
		}
		typ, ok := TypeByName(e.Name)
		if !ok {
			t.Errorf("manifest type %q unknown to the type table", e.Name)
			continue
		}
		if uint32(typ) != e.GGMLType || typ.BlockSize() != e.BlockElems || typ.TypeSize() != e.BlockBytes {
			t.Errorf("%s: table says id %d, %d elems/%d bytes; manifest says id %d, %d/%d",
				e.Name, uint32(typ), typ.BlockSize(), typ.TypeSize(), e.GGMLType, e.BlockElems, e.BlockBytes)
		}
	}
}

// TestQuantInputGenerator checks that the README's generator reproduces
// input.f32 bit for bit (so benchmarks and property tests can regenerate it).
func TestQuantInputGenerator(t *testing.T) {
	want := readQuantFile(t, "input.f32")
	a := referenceInput()
	got := make([]byte, 4*len(a))
	quantF32(got, a)
	if !bytes.Equal(got, want) {
		t.Fatal("generator output differs from input.f32")
	}
	if a[0] != float32(-0.994712233543396) || a[1] != float32(0.32062387466430664) {
		t.Fatalf("first values %v %v differ from the README", a[0], a[1])
	}
}

// TestDequantizeReference: our dequantizer on ggml's bytes must give ggml's
// floats bit for bit.
func TestDequantizeReference(t *testing.T) {
	m := loadManifest(t)
	for _, e := range m.Types {
		t.Run(e.Name, func(t *testing.T) {
			typ, _ := TypeByName(e.Name)
			src := readQuantFile(t, e.Name+".bin")
			want := readQuantFile(t, e.Name+".deq.f32")
			dst := make([]float32, len(want)/4)
			if err := DequantizeRow(typ, dst, src); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			quantF32(got, dst)
			if i := firstDiff(got, want); i >= 0 {
				w := f32sFromBytes(want)
				t.Fatalf("element %d: got %v (%#08x), ggml %v (%#08x)", i/4, dst[i/4],
					math.Float32bits(dst[i/4]), w[i/4], math.Float32bits(w[i/4]))
			}
		})
	}
}

// TestQuantizeReference: our quantizer on input.f32 must give ggml's bytes
// byte for byte.
func TestQuantizeReference(t *testing.T) {
	m := loadManifest(t)
	in := f32sFromBytes(readQuantFile(t, "input.f32"))
	for _, e := range m.Types {
		t.Run(e.Name, func(t *testing.T) {
			typ, _ := TypeByName(e.Name)
			want := readQuantFile(t, e.Name+".bin")
			got := make([]byte, len(want))
			if err := QuantizeRow(typ, got, in); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, want); i >= 0 {
				bs := typ.TypeSize()
				t.Fatalf("byte %d (block %d, offset %d): got %#02x, ggml %#02x\n got block %x\nwant block %x",
					i, i/bs, i%bs, got[i], want[i], got[i/bs*bs:i/bs*bs+bs], want[i/bs*bs:i/bs*bs+bs])
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
