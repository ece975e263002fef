package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// leftovers lists the directory's entries other than want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
outer:
	for _, e := range ents {
		for _, w := range want {
			if e.Name() == w {
				continue outer
			}
		}
		out = append(out, e.Name())
	}
	return out
}

func TestWriteReplacesWholeFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(p, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 3*bufSize+17) // more than the buffer: several flushes
	if err := Write(p, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, big); return err }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != big {
		t.Fatalf("content: %d bytes, %v", len(b), err)
	}
	if st, _ := os.Stat(p); runtime.GOOS != "windows" && st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", st.Mode().Perm())
	}
	if l := leftovers(t, dir, "m.gguf"); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
}

func TestWriteFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.gguf")
	os.WriteFile(p, []byte("old"), 0o644)
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom wrapped", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("destination changed to %q", b)
	}
	if l := leftovers(t, dir, "m.gguf"); len(l) != 0 {
		t.Fatalf("temporary files left: %v", l)
	}
}

func TestWriteFileNewAndMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys.json")
	if err := WriteFile(p, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

// TestCloseThenCommit is the pack's pattern: every file finished first, all
// renamed at the end; before Commit nothing is visible at the destination.
func TestCloseThenCommit(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	fa, err := Create(a, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := Create(b, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fa.Write([]byte("A"))
	fb.Write([]byte("B"))
	for _, f := range []*File{fa, fb} {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(f.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s visible before Commit", f.Path())
		}
		if got, _ := os.ReadFile(f.TempName()); len(got) != 1 {
			t.Fatalf("temporary file holds %q after Close", got)
		}
	}
	if _, err := fa.Write([]byte("more")); err == nil {
		t.Fatal("write after Close accepted")
	}
	if err := fa.Commit(); err != nil {
		t.Fatal(err)
	}
	fb.Abort()
	fa.Abort() // no-op after Commit
	if got, _ := os.ReadFile(a); string(got) != "A" {
		t.Fatalf("a = %q", got)
	}
	if l := leftovers(t, dir, "a"); len(l) != 0 {
		t.Fatalf("left behind: %v", l)
	}
	if err := fa.Commit(); err == nil {
		t.Fatal("second Commit succeeded")
	}
}

func TestReadFromCopies(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := strings.Repeat("0123456789", 300000)
	os.WriteFile(src, []byte(data), 0o644)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := Create(filepath.Join(dir, "dst"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if n, err := io.Copy(f, in); err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dst")); string(got) != data {
		t.Fatalf("copy differs (%d bytes)", len(got))
	}
}

func TestRenameMovesAndSyncs(t *testing.T) {
	dir := t.TempDir()
	old, dst := filepath.Join(dir, "db.compact"), filepath.Join(dir, "db")
	os.WriteFile(old, []byte("new"), 0o600)
	os.WriteFile(dst, []byte("old"), 0o600)
	if err := Rename(old, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "new" {
		t.Fatalf("dst = %q", got)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("source still there")
	}
	if err := Rename(old, dst); err == nil {
		t.Fatal("renaming a missing file succeeded")
	}
}
