package weights

import (
	"bytes"
	"testing"

	"dayi/assets"
)

// FuzzParse: whatever the bytes, Parse must not panic; when it accepts a file,
// every tensor view must lie inside the image, and writing the file back and
// parsing it again must give the same metadata and tensors (and writing that
// again the same bytes).
//
//	go test -fuzz=FuzzParse -fuzztime=3m ./weights
func FuzzParse(f *testing.F) {
	f.Add(assets.DefaultModel)
	f.Add(smallFile(f))
	f.Add(header(0, 0).b)
	f.Add(header(1, 1).kvU32("general.alignment", 64).tinfo("w", TypeQ4_0, 0, 32, 2).data(128).b)
	f.Add(header(2, 0).tinfo("a", TypeF32, 0, 8).tinfo("b", TypeF16, 32, 4, 4).data(64).b)
	deep := header(0, 1).str("deep").u32(uint32(ValArray))
	for i := 0; i < 4; i++ {
		deep.u32(uint32(ValArray)).u64(2)
	}
	f.Add(deep.u32(uint32(ValString)).u64(1).str("x").b)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		for i := range g.Tensors {
			ti := &g.Tensors[i]
			if ti.Offset < 0 || ti.Size < 0 || g.DataOffset+ti.Offset+ti.Size > int64(len(data)) {
				t.Fatalf("tensor %q [%d+%d, +%d) outside the %d-byte image", ti.Name, g.DataOffset, ti.Offset, ti.Size, len(data))
			}
			if int64(len(g.TensorData(ti))) != ti.Size {
				t.Fatalf("tensor %q view has %d bytes, size %d", ti.Name, len(g.TensorData(ti)), ti.Size)
			}
		}
		var out bytes.Buffer
		if err := CopyFile(&out, g); err != nil {
			t.Fatalf("Parse accepted a file that CopyFile rejects: %v", err)
		}
		h, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("re-parsing the rewritten file: %v", err)
		}
		sameFileContent(t, g, h)
		var again bytes.Buffer
		if err := CopyFile(&again, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), again.Bytes()) {
			t.Fatal("writing is not idempotent")
		}
	})
}

// sameFileContent compares metadata by encoding (so NaN payloads compare by
// bits) and tensors by name, type, dims and bytes.
func sameFileContent(t *testing.T, a, b *File) {
	t.Helper()
	if len(a.KV) != len(b.KV) || len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d/%d keys, %d/%d tensors", len(a.KV), len(b.KV), len(a.Tensors), len(b.Tensors))
	}
	for i := range a.KV {
		x, y := a.KV[i], b.KV[i]
		if x.Key != y.Key || x.Value.Type != y.Value.Type || x.Value.Elem != y.Value.Elem ||
			!bytes.Equal(appendValue(nil, x.Value), appendValue(nil, y.Value)) {
			t.Fatalf("metadata %q changed: %v -> %v", x.Key, x.Value, y.Value)
		}
	}
	if a.Alignment != b.Alignment {
		t.Fatalf("alignment %d -> %d", a.Alignment, b.Alignment)
	}
	for i := range a.Tensors {
		x, y := &a.Tensors[i], &b.Tensors[i]
		if x.Name != y.Name || x.Type != y.Type || len(x.Dims) != len(y.Dims) || x.Size != y.Size {
			t.Fatalf("tensor %q changed: %+v -> %+v", x.Name, *x, *y)
		}
		for j := range x.Dims {
			if x.Dims[j] != y.Dims[j] {
				t.Fatalf("tensor %q dims %v -> %v", x.Name, x.Dims, y.Dims)
			}
		}
		if !bytes.Equal(a.TensorData(x), b.TensorData(y)) {
			t.Fatalf("tensor %q data changed", x.Name)
		}
	}
}
