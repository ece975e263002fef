// Package testref finds the fixtures that dayi's parity tests compare with:
// llama.cpp's vocabularies and test vectors, small GGUF models and
// llama.cpp's outputs on them, kept in the repository's top-level testdata/
// folder (see testdata/README.md) so that a fresh clone runs every parity
// test, as llama.cpp keeps models/ggml-vocab-*.gguf next to its tests.
//
// Tests call Require (or File) instead of t.Skip when a fixture is missing:
// a developer with a partial checkout gets a skip that names the file, and CI
// (DAYI_REQUIRE_REFS=1 in .ci/run) gets a failure, because a skipped parity
// test proves nothing.
package testref

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RequireEnv is the environment variable that turns a missing fixture from
// a skip into a failure when it is "1".
const RequireEnv = "DAYI_REQUIRE_REFS"

// Root returns the repository root: the nearest directory at or above the
// working directory (a test's package directory) that holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testref: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("testref: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testref: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of a fixture under the repository's testdata/
// folder, e.g. Path("vocab", "ggml-vocab-qwen2.gguf"). It does not check that
// the file exists (Require does). If the root cannot be found the path is
// relative to a testdata/ that does not exist, so Require reports it.
func Path(elem ...string) string {
	root, err := Root()
	if err != nil {
		root = "."
	}
	return filepath.Join(append([]string{root, "testdata"}, elem...)...)
}

// Require skips the test when path does not exist, or fails it when
// DAYI_REQUIRE_REFS=1, naming the file either way.
func Require(tb testing.TB, path string) {
	tb.Helper()
	_, err := os.Stat(path)
	if err == nil {
		return
	}
	Missing(tb, "fixture %s: %v (see testdata/README.md)", path, err)
}

// File returns Path(elem...) after Require has checked it.
func File(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := Path(elem...)
	Require(tb, p)
	return p
}

// Missing reports a reference that a test cannot get: a skip normally, a
// failure when DAYI_REQUIRE_REFS=1.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if Required() {
		tb.Fatalf(format+" ("+RequireEnv+"=1)", args...)
	} else {
		tb.Skipf(format, args...)
	}
}

// Required reports whether missing fixtures fail tests (DAYI_REQUIRE_REFS=1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }
