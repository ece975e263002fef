package weights

import (
	"bytes"
	"errors"
	"io"
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

// TestReadAtParallel reads a file in 1–7 concurrent parts (parts smaller
// than a real load's 64 MiB so that a small file splits): the bytes must
// be the file's; a file shorter than the buffer (truncated under us) must
// be an error naming the short part, not a buffer left partly zero.
func TestReadAtParallel(t *testing.T) {
	want := make([]byte, 1<<20+13)
	for i := range want {
		want[i] = byte(i*7 + i>>9)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	for par := 1; par <= 7; par++ {
		got := make([]byte, len(want))
		if err := readAtParallel(fd, got, par, 4096); err != nil {
			t.Fatalf("%d parts: %v", par, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d parts: the bytes differ from the file's", par)
		}
		long := make([]byte, len(want)+5000)
		if err := readAtParallel(fd, long, par, 4096); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d parts, buffer 5000 bytes longer than the file: err = %v, want io.ErrUnexpectedEOF", par, err)
		}
	}
}
