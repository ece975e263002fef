package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"dayi/assets"
)

// hb builds GGUF bytes by hand, so that tests can write what no honest writer
// would.
type hb struct{ b []byte }

func (h *hb) u32(v uint32) *hb  { h.b = binary.LittleEndian.AppendUint32(h.b, v); return h }
func (h *hb) u64(v uint64) *hb  { h.b = binary.LittleEndian.AppendUint64(h.b, v); return h }
func (h *hb) str(s string) *hb  { h.u64(uint64(len(s))); h.b = append(h.b, s...); return h }
func (h *hb) raw(b ...byte) *hb { h.b = append(h.b, b...); return h }

// header starts a file: magic, version 3, counts.
func header(nTensors, nKV uint64) *hb {
	h := &hb{}
	return h.u32(Magic).u32(3).u64(nTensors).u64(nKV)
}

// kvU32 appends a u32 metadata pair.
func (h *hb) kvU32(key string, v uint32) *hb { return h.str(key).u32(uint32(ValUint32)).u32(v) }

// tinfo appends a tensor info.
func (h *hb) tinfo(name string, typ Type, off uint64, dims ...uint64) *hb {
	h.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		h.u64(d)
	}
	return h.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n bytes of tensor data.
func (h *hb) data(n int) *hb {
	for len(h.b)%DefaultAlignment != 0 {
		h.b = append(h.b, 0)
	}
	h.b = append(h.b, make([]byte, n)...)
	return h
}

// expectFormatError parses b and requires an ErrFormat naming all of want.
func expectFormatError(t *testing.T, b []byte, want ...string) {
	t.Helper()
	f, err := Parse(b)
	if err == nil {
		t.Fatalf("Parse accepted a hostile file (%d tensors, %d keys); want error mentioning %q", len(f.Tensors), len(f.KV), want)
	}
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("error %q does not wrap ErrFormat", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not mention %q", err, w)
		}
	}
}

func TestParseHostileHeader(t *testing.T) {
	expectFormatError(t, []byte("GGML\x03\x00\x00\x00"), "magic")
	expectFormatError(t, nil, "magic")
	for _, v := range []uint32{0, 1, 4, 0xffffffff} {
		h := &hb{}
		expectFormatError(t, h.u32(Magic).u32(v).u64(0).u64(0).b, "version")
	}
	// Counts that the file cannot possibly hold.
	expectFormatError(t, header(0, 1<<40).b, "metadata count")
	expectFormatError(t, header(1<<40, 0).b, "tensor count")
	expectFormatError(t, header(math.MaxUint64, math.MaxUint64).b, "count")
}

func TestParseHostileMetadata(t *testing.T) {
	// key length beyond the file
	expectFormatError(t, header(0, 1).u64(1<<50).raw(make([]byte, 20)...).b, "metadata key #0 length")
	// string value length beyond the file
	expectFormatError(t, header(0, 1).str("general.name").u32(uint32(ValString)).u64(1<<62).raw(make([]byte, 8)...).b,
		"value of general.name", "exceeds")
	// array length beyond the file
	expectFormatError(t, header(0, 1).str("tokens").u32(uint32(ValArray)).u32(uint32(ValString)).u64(1<<40).raw(make([]byte, 16)...).b,
		"tokens", "array length")
	expectFormatError(t, header(0, 1).str("scores").u32(uint32(ValArray)).u32(uint32(ValFloat32)).u64(5).raw(make([]byte, 16)...).b,
		"scores", "array length")
	// unknown value types, scalar and element
	expectFormatError(t, header(0, 1).str("weird").u32(13).raw(make([]byte, 16)...).b, "weird", "unknown value type 13")
	expectFormatError(t, header(0, 1).str("weird").u32(uint32(ValArray)).u32(77).u64(1).raw(make([]byte, 16)...).b,
		"weird", "unknown array element type 77")
	// bool that is neither 0 nor 1
	expectFormatError(t, header(0, 1).str("flag").u32(uint32(ValBool)).raw(2).b, "flag", "bool")
	// duplicate keys
	expectFormatError(t, header(0, 2).kvU32("a.b", 1).kvU32("a.b", 2).b, `duplicate metadata key "a.b"`)
	// deep nesting: arrays of arrays, one element each, deeper than the limit
	h := header(0, 1).str("deep").u32(uint32(ValArray))
	for i := 0; i < maxNesting+1; i++ {
		h.u32(uint32(ValArray)).u64(1)
	}
	h.u32(uint32(ValUint8)).u64(0).raw(make([]byte, 16)...)
	expectFormatError(t, h.b, "deep", "nested")
	// just within the limit parses
	h = header(0, 1).str("deep").u32(uint32(ValArray))
	for i := 0; i < maxNesting-1; i++ {
		h.u32(uint32(ValArray)).u64(1)
	}
	h.u32(uint32(ValUint8)).u64(1).raw(7)
	f, err := Parse(h.b)
	if err != nil {
		t.Fatalf("nesting depth %d rejected: %v", maxNesting, err)
	}
	v, _ := f.Get("deep")
	for i := 0; i < maxNesting-1; i++ {
		v = v.Index(0)
	}
	if v.Index(0).V != uint8(7) {
		t.Fatalf("innermost value %v", v)
	}
}

func TestParseHostileAlignment(t *testing.T) {
	for _, a := range []uint32{0, 3, 48, 0x80000001} {
		expectFormatError(t, header(0, 1).kvU32("general.alignment", a).b, "general.alignment", "power of two")
	}
	expectFormatError(t, header(0, 1).str("general.alignment").u32(uint32(ValUint64)).u64(32).b, "general.alignment", "u64")
	expectFormatError(t, header(0, 1).str("general.alignment").u32(uint32(ValString)).str("32").b, "general.alignment")
}

func TestParseHostileTensors(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want []string
	}{
		{"unknown type", header(1, 0).tinfo("w", Type(4), 0, 8).data(64).b, []string{`"w"`, "unknown type 4"}},
		{"type past table", header(1, 0).tinfo("w", Type(1000), 0, 8).data(64).b, []string{`"w"`, "unknown type 1000"}},
		{"n_dims > 4", header(1, 0).tinfo("w", TypeF32, 0, 1, 1, 1, 1, 1).data(64).b, []string{`"w"`, "5 dimensions"}},
		{"n_dims huge", header(1, 0).str("w").u32(0xffffffff).raw(make([]byte, 64)...).b, []string{`"w"`, "dimensions"}},
		{"dim > int64", header(1, 0).tinfo("w", TypeF32, 0, 1<<63).data(64).b, []string{`"w"`, "overflows"}},
		{"dims product overflows", header(1, 0).tinfo("w", TypeF32, 0, 1<<32, 1<<32).data(64).b, []string{`"w"`, "overflows"}},
		{"byte size overflows", header(1, 0).tinfo("w", TypeF64, 0, 1<<61).data(64).b, []string{`"w"`, "overflows"}},
		{"row not whole blocks", header(1, 0).tinfo("w", TypeQ4_0, 0, 33).data(64).b, []string{`"w"`, "block size"}},
		{"offset beyond data", header(1, 0).tinfo("w", TypeF32, 64, 8).data(64).b, []string{`"w"`, "outside the data section"}},
		{"offset huge", header(1, 0).tinfo("w", TypeF32, 1<<62, 8).data(64).b, []string{`"w"`, "outside"}},
		{"offset > int64", header(1, 0).tinfo("w", TypeF32, 1<<63, 8).data(64).b, []string{`"w"`, "offset"}},
		{"size beyond data", header(1, 0).tinfo("w", TypeF32, 32, 16).data(64).b, []string{`"w"`, "outside the data section"}},
		{"misaligned", header(1, 0).tinfo("w", TypeF32, 4, 8).data(64).b, []string{`"w"`, "not aligned"}},
		{"misaligned to custom alignment", header(1, 1).kvU32("general.alignment", 64).tinfo("w", TypeF32, 32, 8).data(128).b,
			[]string{`"w"`, "not aligned to 64"}},
		{"overlap", header(2, 0).tinfo("a", TypeF32, 0, 16).tinfo("b", TypeF32, 32, 16).data(128).b, []string{`"a"`, `"b"`, "overlap"}},
		{"same offset", header(2, 0).tinfo("a", TypeF32, 32, 8).tinfo("b", TypeF32, 32, 8).data(128).b, []string{"overlap"}},
		{"duplicate name", header(2, 0).tinfo("a", TypeF32, 0, 8).tinfo("a", TypeF32, 32, 8).data(128).b, []string{`duplicate tensor name "a"`}},
		{"name length beyond file", header(1, 0).u64(1 << 40).raw(make([]byte, 64)...).b, []string{"tensor #0 name"}},
		{"no data section", header(1, 0).tinfo("w", TypeF32, 0, 8).b, []string{"truncated"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectFormatError(t, c.b, c.want...) })
	}
	// Zero-sized tensors may share an offset with anything (llama.cpp files
	// never have them, but they are not overlapping data).
	b := header(2, 0).tinfo("a", TypeF32, 0, 8).tinfo("z", TypeF32, 0, 0).data(32).b
	if _, err := Parse(b); err != nil {
		t.Fatalf("zero-sized tensor rejected: %v", err)
	}
}

// smallFile is a valid GGUF image with several value types and two tensors
// whose last byte is the last byte of the file.
func smallFile(t testing.TB) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, kv := range allValueKVs()[:14] {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddKV("a.nested", allValueKVs()[24].Value); err != nil {
		t.Fatal(err)
	}
	w.AddTensor("t.f32", TypeF32, []int64{4, 2})
	w.AddTensor("t.q8", TypeQ8_0, []int64{32, 1})
	data := make([]byte, 32+34)
	for i := range data {
		data[i] = byte(i + 1)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseEveryTruncation(t *testing.T) {
	full := smallFile(t)
	f, err := Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors[len(f.Tensors)-1]
	end := int(f.DataOffset + last.Offset + last.Size)
	for n := 0; n < len(full); n++ {
		b := append([]byte(nil), full[:n]...) // exact capacity: reading past n would fault under -race/ASan-like checks
		g, err := Parse(b)
		if n < end {
			if err == nil {
				t.Fatalf("prefix of %d bytes (of %d) parsed", n, len(full))
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("prefix %d: error %v does not wrap ErrFormat", n, err)
			}
			continue
		}
		// Only the trailing padding is missing: the tensors are whole.
		if err != nil {
			t.Fatalf("prefix %d cuts only padding but failed: %v", n, err)
		}
		if !bytes.Equal(g.TensorData(&g.Tensors[1]), f.TensorData(&f.Tensors[1])) {
			t.Fatalf("prefix %d: tensor data differs", n)
		}
	}
}

func TestOpenReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(path, smallFile(t), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	f, err := Open(path)
	if err != nil {
		t.Fatalf("read-only file in a read-only directory: %v", err)
	}
	defer f.Close()
	if len(f.Tensors) != 2 || f.String("str", "") != "héllo\x00world" {
		t.Fatalf("read back %d tensors, str %q", len(f.Tensors), f.String("str", ""))
	}
	if _, err := Open(filepath.Join(dir, "missing.gguf")); err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Fatalf("missing file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.gguf")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "empty.gguf") {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("opening a directory succeeded")
	}
}

func TestTypedAccessors(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	add := func(k string, x any) {
		v, err := ValueOf(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddKV(k, v); err != nil {
			t.Fatal(err)
		}
	}
	add("general.architecture", "qwen2")
	add("qwen2.context_length", uint32(32768))
	add("neg", int32(-5))
	add("big", uint64(math.MaxUint64))
	add("u8", uint8(7))
	add("f", float32(0.5))
	add("b", true)
	add("names", []string{"a", "b"})
	add("f32s", []float32{1, 2})
	add("u32s", []uint32{1, 2, 3})
	add("u64s", []uint64{1, math.MaxUint32 + 1})
	add("i8s", []int8{-1, 1})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Arch", f.Arch(), "qwen2"},
		{"ArchKey", f.ArchKey("context_length"), "qwen2.context_length"},
		{"Uint ctx", f.Uint(f.ArchKey("context_length"), 1), uint64(32768)},
		{"Uint absent", f.Uint("nope", 9), uint64(9)},
		{"Uint negative", f.Uint("neg", 9), uint64(9)},
		{"Uint u64 max", f.Uint("big", 9), uint64(math.MaxUint64)},
		{"Uint of string", f.Uint("general.architecture", 9), uint64(9)},
		{"Int negative", f.Int("neg", 0), int64(-5)},
		{"Int u8", f.Int("u8", 0), int64(7)},
		{"Int u64 max", f.Int("big", 3), int64(3)},
		{"Int absent", f.Int("nope", -1), int64(-1)},
		{"Float f32", f.Float("f", 0), 0.5},
		{"Float int", f.Float("u8", 0), 7.0},
		{"Float string", f.Float("general.architecture", 2), 2.0},
		{"Bool", f.Bool("b", false), true},
		{"Bool absent", f.Bool("nope", true), true},
		{"Bool wrong type", f.Bool("u8", false), false},
		{"String wrong type", f.String("u8", "def"), "def"},
		{"Strings", strings.Join(f.Strings("names"), ","), "a,b"},
		{"Strings wrong type", f.Strings("f32s") == nil, true},
		{"Float32s", len(f.Float32s("f32s")), 2},
		{"Float32s absent", f.Float32s("nope") == nil, true},
		{"Int32s from u32", len(f.Int32s("u32s")), 3},
		{"Int32s from i8", f.Int32s("i8s")[0], int32(-1)},
		{"Int32s out of range", f.Int32s("u64s") == nil, true},
		{"Int32s of scalar", f.Int32s("u8") == nil, true},
		{"Has", f.Has("b") && !f.Has("nope"), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v (%T)", c.name, c.got, c.got, c.want, c.want)
		}
	}
}

// TestEmbeddedModelFacts checks the parsed embedded model against the facts
// testdata/models/README.md states for stories260K (from llama.cpp).
func TestEmbeddedModelFacts(t *testing.T) {
	f, err := Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	if f.Arch() != "llama" || f.Uint("llama.embedding_length", 0) != 64 || f.Uint("llama.block_count", 0) != 5 ||
		f.Uint("llama.feed_forward_length", 0) != 172 || f.Uint("llama.attention.head_count", 0) != 8 ||
		f.Uint("llama.attention.head_count_kv", 0) != 4 || len(f.Strings("tokenizer.ggml.tokens")) != 512 {
		t.Fatalf("embedded model metadata does not match stories260K")
	}
	if len(f.Tensors) != 48 || f.Size != 1185376 {
		t.Fatalf("%d tensors, %d bytes", len(f.Tensors), f.Size)
	}
	for i := range f.Tensors {
		if f.Tensors[i].Type != TypeF32 {
			t.Fatalf("tensor %s is %s, all are F32", f.Tensors[i].Name, f.Tensors[i].Type)
		}
	}
}

// TestParseHostileCountsAllocateLittle: counts that the file size permits but
// its contents do not back must not make Parse allocate a multiple of the file
// size up front (a 1 GiB file could otherwise cost many GiB before failing).
func TestParseHostileCountsAllocateLittle(t *testing.T) {
	const size = 8 << 20
	for _, b := range [][]byte{
		header(0, size/13).raw(make([]byte, size)...).b,                              // empty keys: the second is a duplicate
		header(size/24, 0).str("a").u32(9).raw(make([]byte, size)...).b,              // first tensor has 9 dims
		header(size/24, 1).kvU32("k", 1).str("").u32(9).raw(make([]byte, size)...).b, // same after a key
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Parse(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatal("hostile counts accepted")
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
			t.Errorf("Parse allocated %d bytes for a %d-byte file before failing (%v)", alloc, len(b), err)
		}
	}
}
