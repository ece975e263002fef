package testref

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of ending
// the test, so Require's choice can be observed.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestRootAndPath(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	// This package lives at internal/testref below the module root.
	if _, err := os.Stat(filepath.Join(root, "internal", "testref", "testref.go")); err != nil {
		t.Fatalf("Root() = %s, which does not hold internal/testref: %v", root, err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(mod), "module dayi\n") {
		t.Fatalf("%s/go.mod is not dayi's: %v", root, err)
	}
	if got, want := Path("vocab", "x.gguf"), filepath.Join(root, "testdata", "vocab", "x.gguf"); got != want {
		t.Errorf("Path = %s, want %s", got, want)
	}
}

func TestRequire(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.gguf")
	present := Path("README.md")

	t.Setenv(RequireEnv, "")
	r := &recorder{}
	Require(r, missing)
	if r.failed != "" || !strings.Contains(r.skipped, missing) {
		t.Errorf("missing file without %s: skipped %q, failed %q; want a skip naming the file", RequireEnv, r.skipped, r.failed)
	}

	t.Setenv(RequireEnv, "1")
	r = &recorder{}
	Require(r, missing)
	if r.skipped != "" || !strings.Contains(r.failed, missing) || !strings.Contains(r.failed, RequireEnv) {
		t.Errorf("missing file with %s=1: skipped %q, failed %q; want a failure naming the file", RequireEnv, r.skipped, r.failed)
	}

	r = &recorder{}
	Require(r, present)
	if r.skipped != "" || r.failed != "" {
		t.Errorf("present %s: skipped %q, failed %q", present, r.skipped, r.failed)
	}
	if p := File(r, "README.md"); p != present || r.skipped != "" || r.failed != "" {
		t.Errorf("File(README.md) = %s (skipped %q, failed %q)", p, r.skipped, r.failed)
	}
}

// TestFixturesREADME checks testdata/README.md against the folder: every
// fixture is listed once with the sha256 of its bytes, and every listed file
// exists. A fixture changed by accident (an editor's newline, a re-export)
// or added without its source and licence fails here.
func TestFixturesREADME(t *testing.T) {
	dir := Path()
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		Missing(t, "testdata/README.md: %v", err)
		return
	}
	defer f.Close()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		sum := strings.Trim(strings.TrimSpace(cells[2]), "`")
		if _, dup := listed[name]; dup {
			t.Errorf("README.md lists %s twice", name)
		}
		listed[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "README.md" {
			return nil
		}
		seen++
		want, ok := listed[rel]
		if !ok {
			t.Errorf("%s is not listed in testdata/README.md (source, licence, sha256, readers)", rel)
			return nil
		}
		delete(listed, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != want {
			t.Errorf("%s: sha256 %x, README.md says %s", rel, h, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range listed {
		t.Errorf("README.md lists %s, which is not in testdata/", name)
	}
	if seen < 90 {
		t.Errorf("only %d fixtures under %s", seen, dir)
	}
}
