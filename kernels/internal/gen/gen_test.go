package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestGenerated regenerates the kernels' assembly into a temporary
// directory through the command's own path and compares it with the committed
// files byte for byte: a hand edit of a generated file, or a generator
// change without go generate, fails here.
func TestGenerated(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"-dir", dir}); err != nil {
		t.Fatal(err)
	}
	generated := regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)
	for _, f := range files(defaults) {
		got, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("kernels/%s differs from the generator's output: run go generate ./kernels (%d bytes generated, %d committed)",
				f.name, len(got), len(want))
		}
		if loc := generated.FindIndex(got); loc == nil || loc[0] != 0 {
			t.Errorf("%s: no \"// Code generated ... DO NOT EDIT.\" header on the first line", f.name)
		}
	}
}
