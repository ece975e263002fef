package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/internal/testref"
)

// llamaCppModels are files llama.cpp wrote, with the sha256 recorded in
// testdata/models/README.md at the repository root.
var llamaCppModels = map[string]string{
	"stories260K.gguf":         "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d",
	"llama-2-tiny-random.gguf": "81f226c62d28ed4a1a9b9fa080fcd9f0cc40e0f9d5680036583ff98fbcd035cb",
	"stories260K-q8_0.gguf":    "ff8701a45da28293b7af11a695ab33575b692e9b109a2eae6238c906c31415da",
	"stories260K-q4_0.gguf":    "fd93abd9957992763c863e7e3f30934baf1e7a2e31b6c911a720cd109daed40d",
	"stories260K-q4_k_m.gguf":  "7f61512f1889080c73b2afd3ac7fdfe55a368e83570b20e5019829adfa734a2a",
}

// modelPath is a test model: stories260K.gguf is the embedded default model
// (assets/), the others are in the repository's testdata/models.
func modelPath(name string) string {
	if name == "stories260K.gguf" {
		return filepath.Join("..", "assets", name)
	}
	return testref.Path("models", name)
}

// testModel is modelPath after testref.Require has checked the file.
func testModel(t *testing.T, name string) string {
	t.Helper()
	p := modelPath(name)
	testref.Require(t, p)
	return p
}

// TestCopyFileByteIdentical: parsing then re-writing a file llama.cpp wrote
// must reproduce it byte for byte. This pins our layout to llama.cpp's.
func TestCopyFileByteIdentical(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		f, err := Parse(assets.DefaultModel)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := CopyFile(&buf, f); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), assets.DefaultModel) {
			t.Fatalf("rewritten embedded model differs: %s", ggufByteDiff(buf.Bytes(), assets.DefaultModel))
		}
	})
	for name, sum := range llamaCppModels {
		t.Run(name, func(t *testing.T) {
			p := testModel(t, name)
			orig, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256(orig); hex.EncodeToString(h[:]) != sum {
				t.Fatalf("%s: sha256 %x, README says %s", name, h, sum)
			}
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out := filepath.Join(t.TempDir(), name)
			if err := WriteFileAtomic(out, func(w io.Writer) error { return CopyFile(w, f) }); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, orig) {
				t.Fatalf("rewritten %s differs: %s", name, ggufByteDiff(got, orig))
			}
		})
	}
}

func ggufByteDiff(a, b []byte) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d (sizes %d vs %d)", i, len(a), len(b))
		}
	}
	return fmt.Sprintf("sizes %d vs %d", len(a), len(b))
}

// allValueKVs has one key of every value type, arrays of every element type
// and nested arrays (which llama.cpp's writer cannot produce but its reader
// format allows).
func allValueKVs() []KV {
	mk := func(x any) Value {
		v, err := ValueOf(x)
		if err != nil {
			panic(err)
		}
		return v
	}
	return []KV{
		{"u8", mk(uint8(200))}, {"i8", mk(int8(-100))}, {"u16", mk(uint16(60000))},
		{"i16", mk(int16(-30000))}, {"u32", mk(uint32(4000000000))}, {"i32", mk(int32(-2000000000))},
		{"f32", mk(float32(1.5e-5))}, {"bool", mk(true)}, {"str", mk("héllo\x00world")},
		{"u64", mk(uint64(1) << 63)}, {"i64", mk(int64(-1) << 62)}, {"f64", mk(3.141592653589793)},
		{"a.u8", mk([]uint8{1, 2, 255})}, {"a.i8", mk([]int8{-1, 2})}, {"a.u16", mk([]uint16{7})},
		{"a.i16", mk([]int16{-7, 7})}, {"a.u32", mk([]uint32{})}, {"a.i32", mk([]int32{-3, 0, 3})},
		{"a.f32", mk([]float32{0.25, -2})}, {"a.bool", mk([]bool{true, false, true})},
		{"a.str", mk([]string{"", "a", "bc"})}, {"a.u64", mk([]uint64{1 << 40})},
		{"a.i64", mk([]int64{-1 << 40})}, {"a.f64", mk([]float64{1e300})},
		{"a.nested", mk([]Value{mk([]uint32{1, 2}), mk([]Value{mk([]string{"x"}), mk([]bool{})})})},
	}
}

func TestWriterAllValueTypesRoundTrip(t *testing.T) {
	kvs := allValueKVs()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range kvs {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.KV, kvs) {
		t.Fatalf("metadata changed in the round trip:\n got %v\nwant %v", f.KV, kvs)
	}
	if f.Version != 3 || len(f.Tensors) != 0 {
		t.Fatalf("version %d, %d tensors", f.Version, len(f.Tensors))
	}
	// A file without tensors is header + metadata padded to the alignment.
	if buf.Len()%DefaultAlignment != 0 {
		t.Fatalf("size %d not padded to %d", buf.Len(), DefaultAlignment)
	}
}

// TestWriterLayout checks offsets, padding and alignment against the layout
// rules of ggml's gguf_write_out, with general.alignment honoured, while the
// data arrives in chunks that straddle tensor boundaries.
func TestWriterLayout(t *testing.T) {
	for _, align := range []uint32{0, 1, 64, 256} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if align != 0 {
			if err := w.AddKV("general.alignment", Value{Type: ValUint32, V: align}); err != nil {
				t.Fatal(err)
			}
		}
		decl := []struct {
			name string
			typ  Type
			dims []int64
		}{
			{"a", TypeF32, []int64{3}},
			{"empty", TypeF32, []int64{0, 5}},
			{"b", TypeQ8_0, []int64{64, 3}},
			{"c", TypeF16, []int64{5, 1, 1, 2}},
		}
		var data []byte
		for i, d := range decl {
			if err := w.AddTensor(d.name, d.typ, d.dims); err != nil {
				t.Fatal(err)
			}
			n := w.Tensors()[i].Size
			for k := int64(0); k < n; k++ {
				data = append(data, byte(i*50+int(k)))
			}
		}
		for len(data) > 0 { // odd chunk size
			k := min(7, len(data))
			if n, err := w.Write(data[:k]); err != nil || n != k {
				t.Fatalf("align %d: Write = %d, %v", align, n, err)
			}
			data = data[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		a := int64(align)
		if a == 0 {
			a = DefaultAlignment
		}
		f, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		if f.Alignment != a || f.DataOffset%a != 0 || f.Size%a != 0 {
			t.Fatalf("align %d: alignment %d, data offset %d, size %d", align, f.Alignment, f.DataOffset, f.Size)
		}
		off := int64(0)
		for i, d := range decl {
			ti := &f.Tensors[i]
			if ti.Name != d.name || ti.Type != d.typ || !reflect.DeepEqual(ti.Dims, d.dims) || ti.Offset != off {
				t.Fatalf("align %d: tensor %d = %+v, want %s at offset %d", align, i, *ti, d.name, off)
			}
			got := f.TensorData(ti)
			for k := range got {
				if got[k] != byte(i*50+k) {
					t.Fatalf("align %d: tensor %s byte %d = %d", align, d.name, k, got[k])
				}
			}
			// padding is zero
			end := f.DataOffset + off + ti.Size
			for p := end; p < f.DataOffset+off+padTo(ti.Size, a); p++ {
				if f.data[p] != 0 {
					t.Fatalf("align %d: non-zero padding after %s", align, d.name)
				}
			}
			off += padTo(ti.Size, a)
		}
		if f.Size != f.DataOffset+off {
			t.Fatalf("align %d: file size %d, want %d (the last tensor is padded too)", align, f.Size, f.DataOffset+off)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(io.Discard)
	check := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want it to mention %q", err, want)
		}
	}
	check(w.AddKV("k", Value{Type: ValUint32, V: int32(1)}), `"k"`)
	check(w.AddKV("k", Value{Type: ValArray, Elem: ValString, V: []int32{1}}), `"k"`)
	check(w.AddKV("k", Value{Type: ValArray, Elem: ValArray, V: []Value{{Type: ValUint8, V: uint8(1)}}}), `"k[0]"`)
	check(w.AddKV("general.alignment", Value{Type: ValUint32, V: uint32(48)}), "power of two")
	check(w.AddKV("general.alignment", Value{Type: ValUint64, V: uint64(32)}), "u32")
	deep, _ := ValueOf([]uint8{1})
	for i := 0; i < maxNesting; i++ {
		deep = Value{Type: ValArray, Elem: ValArray, V: []Value{deep}}
	}
	check(w.AddKV("deep", deep), "nested")
	if err := w.AddKV("ok", Value{Type: ValString, V: "x"}); err != nil {
		t.Fatal(err)
	}
	check(w.AddKV("ok", Value{Type: ValString, V: "y"}), `duplicate metadata key "ok"`)
	check(w.AddTensor("t", Type(99), []int64{1}), `"t"`)
	check(w.AddTensor("t", TypeQ4_0, []int64{33}), `"t"`)
	check(w.AddTensor("t", TypeF32, []int64{1, 1, 1, 1, 1}), "dimensions")
	check(w.AddTensor("t", TypeF32, []int64{-1}), "negative")
	check(w.AddTensor("t", TypeF32, []int64{1 << 40, 1 << 40}), "overflows")
	if err := w.AddTensor("t", TypeF32, []int64{2}); err != nil {
		t.Fatal(err)
	}
	check(w.AddTensor("t", TypeF32, []int64{2}), `duplicate tensor name "t"`)
	check(w.WriteTensor("t", make([]byte, 7)), "declared 8")
	check(w.WriteTensor("u", make([]byte, 8)), `"u"`)
	if _, err := w.Write(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	check(w.AddKV("late", Value{Type: ValString, V: "x"}), "after tensor data")
	check(w.Close(), `tensor "t" incomplete: 3 of 8`)

	w = NewWriter(io.Discard)
	if err := w.AddTensor("t", TypeF32, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 5)); err == nil {
		t.Fatal("writing past the declared tensors must fail")
	}
}

func TestWriterSetKVMovesKeyToEnd(t *testing.T) {
	// llama.cpp's gguf_set_val_* removes the key and appends it: quantized
	// files carry general.file_type last even when the input had one.
	w := NewWriter(io.Discard)
	for _, k := range []string{"a", "b", "c"} {
		if err := w.AddKV(k, Value{Type: ValUint32, V: uint32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SetKV("a", Value{Type: ValUint32, V: uint32(2)}); err != nil {
		t.Fatal(err)
	}
	w.DeleteKV("b")
	var keys []string
	for _, kv := range w.kvs {
		keys = append(keys, kv.Key)
	}
	if strings.Join(keys, ",") != "c,a" || w.kvs[1].Value.V != uint32(2) {
		t.Fatalf("keys %v", keys)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		n := f.after
		f.after = 0
		return n, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failing writer function leaves the old file and no temporary behind.
	err := WriteFileAtomic(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("interrupted")
	})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after a failed write", len(ents))
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("old file changed to %q", b)
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("file holds %q", b)
	}
	// Write errors of the underlying writer surface from the Writer.
	gw := NewWriter(&failWriter{after: 10})
	gw.AddTensor("t", TypeF32, []int64{4})
	if err := gw.WriteTensor("t", make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
}
