package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// releaseTensors are the tensors of the test file: several pages each, with
// sizes that are not page multiples so that tensor boundaries fall inside
// pages (Release must leave those shared pages alone), plus one tensor too
// small to own a whole page.
var releaseTensors = []struct {
	name string
	n    int64 // f32 elements
}{
	{"a", 512*1024 + 13},
	{"b", 512*1024 + 7},
	{"tiny", 5},
	{"c", 256*1024 + 3},
}

// writeReleaseModel writes a GGUF file with random tensor bytes (seeded) and
// returns each tensor's bytes as written.
func writeReleaseModel(t *testing.T, path string, seed uint64) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	want := map[string][]byte{}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddKV("general.architecture", Value{Type: ValString, V: "llama"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range releaseTensors {
		if err := w.AddTensor(d.name, TypeF32, []int64{d.n}); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4*d.n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want[d.name] = b
	}
	for _, d := range releaseTensors {
		if err := w.WriteTensor(d.name, want[d.name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkTensors fails unless every tensor of f holds the bytes written.
func checkTensors(t *testing.T, f *File, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("tensor %s missing", name)
		}
		if !bytes.Equal(f.TensorData(ti), w) {
			t.Fatalf("tensor %s differs from what was written", name)
		}
	}
}

// pageRange is the whole-page range [lo,hi) of f.Data() inside tensor ti,
// computed here independently of Release.
func pageRange(f *File, ti *TensorInfo) (lo, hi int) {
	ps := os.Getpagesize()
	start := int(f.DataOffset + ti.Offset)
	end := start + int(ti.Size)
	return (start + ps - 1) / ps * ps, end / ps * ps
}

// residentPages counts the pages of b that are mapped in this process's page
// tables (Linux /proc/self/pagemap bit 63), and how many of those map a file
// page rather than anonymous memory (bit 61). Unlike mincore, which reports
// the page cache, this sees what Release actually drops.
func residentPages(t *testing.T, b []byte) (present, file int) {
	t.Helper()
	ps := uintptr(os.Getpagesize())
	addr := uintptr(unsafe.Pointer(&b[0]))
	if addr%ps != 0 || uintptr(len(b))%ps != 0 {
		t.Fatalf("residentPages: range not page-aligned")
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skipf("no /proc/self/pagemap: %v", err)
	}
	defer pm.Close()
	n := uintptr(len(b)) / ps
	raw := make([]byte, 8*n)
	if _, err := pm.ReadAt(raw, int64(addr/ps*8)); err != nil {
		t.Skipf("read /proc/self/pagemap: %v", err)
	}
	for i := uintptr(0); i < n; i++ {
		e := binary.LittleEndian.Uint64(raw[8*i:])
		if e&(1<<63) != 0 {
			present++
			if e&(1<<61) != 0 {
				file++
			}
		}
	}
	return present, file
}

// rssAnon reads RssAnon from /proc/self/status, in bytes.
func rssAnon(t *testing.T) int64 {
	t.Helper()
	fd, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer fd.Close()
	sc := bufio.NewScanner(fd)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("RssAnon %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}

// touch reads one byte per 512 so that every page of b is faulted in. It is
// not inlined: inlined with its result unused, the loads could be removed.
//
//go:noinline
func touch(b []byte) (s byte) {
	for i := 0; i < len(b); i += 512 {
		s += b[i]
	}
	return s
}

// TestRelease releases tensor b in every memory mode and checks that its
// pages left the process (Linux) while every tensor still reads back as
// written.
func TestRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.gguf")
	want := writeReleaseModel(t, path, 42)
	onLinux := runtime.GOOS == "linux"
	for _, tc := range []struct {
		name string
		opt  OpenOptions
	}{
		{"mmap", OpenOptions{}},
		{"mmap+mlock", OpenOptions{Mlock: true}},
		{"nommap", OpenOptions{NoMmap: true}},
		{"nommap+mlock", OpenOptions{NoMmap: true, Mlock: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenWith(path, tc.opt)
			if err != nil {
				if tc.opt.Mlock {
					t.Skipf("mlock not permitted here (RLIMIT_MEMLOCK too small?): %v", err)
				}
				t.Fatal(err)
			}
			defer f.Close()
			for i := range f.Tensors {
				touch(f.TensorData(&f.Tensors[i]))
			}
			ti, _ := f.Tensor("b")
			lo, hi := pageRange(f, ti)
			ps := os.Getpagesize()
			if hi-lo < 64*ps {
				t.Fatalf("test tensor spans only %d whole pages", (hi-lo)/ps)
			}
			rng := f.Data()[lo:hi]
			var anonBefore int64
			if onLinux {
				if p, _ := residentPages(t, rng); p != (hi-lo)/ps {
					t.Fatalf("before Release: %d of %d pages resident after touching them", p, (hi-lo)/ps)
				}
				anonBefore = rssAnon(t)
			}

			if err := f.Release(ti); err != nil {
				t.Fatalf("Release: %v", err)
			}

			if onLinux {
				if p, _ := residentPages(t, rng); p != 0 {
					t.Errorf("after Release: %d of %d pages still resident", p, (hi-lo)/ps)
				}
				if tc.opt.NoMmap {
					// The anonymous pages shared with the neighbours stay.
					// (With a file mapping the kernel may unmap them too,
					// when the file is mapped by 2 MiB huge pages and must
					// split one; they refault from the page cache.)
					if p, file := residentPages(t, f.Data()[lo-ps:lo]); p != 1 || file != 0 {
						t.Errorf("anonymous page shared with tensor a was replaced or dropped")
					}
					if p, file := residentPages(t, f.Data()[hi:hi+ps]); p != 1 || file != 0 {
						t.Errorf("anonymous page shared with the next tensor was replaced or dropped")
					}
					if drop := anonBefore - rssAnon(t); drop < int64(hi-lo)*3/4 {
						t.Errorf("RssAnon dropped by %d bytes, want at least 3/4 of the %d released", drop, hi-lo)
					}
				}
			}
			checkTensors(t, f, want)
			if onLinux && tc.opt.NoMmap {
				// Read back, the pages now come from the file, not anonymous memory.
				if p, file := residentPages(t, rng); p != (hi-lo)/ps || file != p {
					t.Errorf("after reading back: %d pages resident, %d file-backed, want %d both", p, file, (hi-lo)/ps)
				}
				if drop := anonBefore - rssAnon(t); drop < int64(hi-lo)*3/4 {
					t.Errorf("after reading back, RssAnon is only %d bytes below before Release, want at least %d", drop, int64(hi-lo)*3/4)
				}
			}
			// Releasing again, and every other tensor, is fine.
			for i := range f.Tensors {
				if err := f.Release(&f.Tensors[i]); err != nil {
					t.Fatalf("Release %s: %v", f.Tensors[i].Name, err)
				}
			}
			checkTensors(t, f, want)
			if err := f.Close(); err != nil {
				t.Fatalf("Close after Release: %v", err)
			}
			if err := f.Release(ti); err == nil {
				t.Errorf("Release after Close: no error")
			}
		})
	}
}

// TestReleaseBadTensor: tensors that are not the File's are errors, not
// panics, and leave the File usable.
func TestReleaseBadTensor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.gguf")
	want := writeReleaseModel(t, path, 7)
	f, err := OpenWith(path, OpenOptions{NoMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := f.Tensor("b")
	moved := *b
	moved.Offset += 4096
	huge := *b
	huge.Size = 1 << 40
	for name, ti := range map[string]*TensorInfo{
		"nil":     nil,
		"unknown": {Name: "nope", Type: TypeF32, Size: 4096},
		"moved":   &moved,
		"huge":    &huge,
	} {
		if err := f.Release(ti); err == nil {
			t.Errorf("%s: Release returned nil", name)
		}
	}
	checkTensors(t, f, want)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseParse: a File over caller memory (the embedded model) is left
// alone.
func TestReleaseParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.gguf")
	want := writeReleaseModel(t, path, 9)
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Tensors {
		if err := f.Release(&f.Tensors[i]); err != nil {
			t.Fatalf("Release %s: %v", f.Tensors[i].Name, err)
		}
	}
	checkTensors(t, f, want)
}

// TestReleaseChangedFile: with NoMmap, Release maps the file over the copy, so
// it must refuse once the file is not the one read, and leave the copy as it
// was.
func TestReleaseChangedFile(t *testing.T) {
	dir := t.TempDir()
	for _, change := range []string{"rewritten", "resized", "replaced"} {
		t.Run(change, func(t *testing.T) {
			path := filepath.Join(dir, change+".gguf")
			want := writeReleaseModel(t, path, 1)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := OpenWith(path, OpenOptions{NoMmap: true})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			other := filepath.Join(dir, change+".other")
			writeReleaseModel(t, other, 2) // same size, other bytes
			img, err := os.ReadFile(other)
			if err != nil {
				t.Fatal(err)
			}
			switch change {
			case "rewritten": // same inode and size, new bytes and mtime
				if err := os.WriteFile(path, img, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, st.ModTime(), st.ModTime().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			case "resized": // same inode and mtime, other size
				if err := os.WriteFile(path, append(img, 0), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
					t.Fatal(err)
				}
			case "replaced": // same size and mtime, another file renamed over it
				if err := os.Chtimes(other, st.ModTime(), st.ModTime()); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(other, path); err != nil {
					t.Fatal(err)
				}
			}
			ti, _ := f.Tensor("b")
			if err := f.Release(ti); err == nil {
				t.Fatalf("Release after the file was %s: no error", change)
			} else {
				t.Logf("Release refused as expected: %v", err)
			}
			if runtime.GOOS == "linux" {
				lo, hi := pageRange(f, ti)
				p, file := residentPages(t, f.Data()[lo:hi])
				if p != (hi-lo)/os.Getpagesize() || file != 0 {
					t.Errorf("refused Release changed memory: %d pages resident, %d file-backed", p, file)
				}
			}
			checkTensors(t, f, want)
		})
	}
}

// TestReleaseRange releases the first half of a tensor (NoMmap): exactly the
// whole pages inside that half leave the page tables, the second half stays,
// and every byte still reads as written.
func TestReleaseRange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("page residency is read from /proc/self/pagemap")
	}
	path := filepath.Join(t.TempDir(), "range.gguf")
	want := writeReleaseModel(t, path, 43)
	f, err := OpenWith(path, OpenOptions{NoMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ti, _ := f.Tensor("b")
	touch(f.TensorData(ti))
	lo, hi := pageRange(f, ti)
	ps := os.Getpagesize()
	start := int(f.DataOffset + ti.Offset)
	half := ti.Size / 2
	mid := (start + int(half)) / ps * ps // last whole page of the first half ends here
	if err := f.ReleaseRange(ti, 0, half); err != nil {
		t.Fatal(err)
	}
	if p, _ := residentPages(t, f.Data()[lo:mid]); p != 0 {
		t.Errorf("first half: %d of %d pages still resident", p, (mid-lo)/ps)
	}
	if p, _ := residentPages(t, f.Data()[mid+ps:hi]); p != (hi-mid-ps)/ps {
		t.Errorf("second half: %d of %d pages resident", p, (hi-mid-ps)/ps)
	}
	checkTensors(t, f, want)
	if err := f.ReleaseRange(ti, -1, 10); err == nil {
		t.Error("negative offset: no error")
	}
	if err := f.ReleaseRange(ti, ti.Size+100, 10); err != nil {
		t.Errorf("range past the tensor: %v (want a no-op)", err)
	}
}
