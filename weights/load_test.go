package weights

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenWithModes checks that every memory mode yields the same tensors as
// the plain mmap Open of llama.cpp's stories260K (its Q8_0 quantization, so
// quantized blocks are compared byte for byte).
func TestOpenWithModes(t *testing.T) {
	path := testModel(t, "stories260K-q8_0.gguf")
	ref, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, opt := range []OpenOptions{{NoMmap: true}, {Mlock: true}, {NoMmap: true, Mlock: true}} {
		f, err := OpenWith(path, opt)
		if err != nil {
			if opt.Mlock {
				t.Logf("%+v: %v (mlock not permitted here)", opt, err)
				continue
			}
			t.Fatalf("%+v: %v", opt, err)
		}
		if len(f.Tensors) != len(ref.Tensors) || len(f.Tensors) == 0 {
			t.Fatalf("%+v: %d tensors, want %d", opt, len(f.Tensors), len(ref.Tensors))
		}
		for i := range ref.Tensors {
			if !bytes.Equal(f.TensorData(&f.Tensors[i]), ref.TensorData(&ref.Tensors[i])) {
				t.Fatalf("%+v: tensor %s differs", opt, ref.Tensors[i].Name)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatalf("%+v: close: %v", opt, err)
		}
	}
}

func TestOpenWithErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.gguf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, []byte("not a gguf file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{empty, bad, filepath.Join(dir, "missing.gguf"), dir} {
		if _, err := OpenWith(p, OpenOptions{NoMmap: true}); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}
