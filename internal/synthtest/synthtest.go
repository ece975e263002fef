// Package synthtest builds the synthetic models that tests across the
// repository run on (benchmarks/synth's presets with the llama.cpp
// vocabularies copied into testdata), in memory: each test package had its
// own copy of the same open-write-parse steps.
package synthtest

import (
	"bytes"
	"testing"

	"dayi/benchmarks/synth"
	"dayi/internal/testref"
	"dayi/weights"
)

// Bytes synthesises spec with seed, matrices typed by typeFor (nil: f32),
// and returns the GGUF file's bytes.
func Bytes(tb testing.TB, spec synth.Spec, seed uint64, typeFor synth.TypeFunc) []byte {
	tb.Helper()
	vf, err := weights.Open(testref.File(tb, "vocab", spec.VocabFile))
	if err != nil {
		tb.Fatal(err)
	}
	defer vf.Close()
	var buf bytes.Buffer
	if err := synth.Write(&buf, spec, vf, seed, typeFor, nil); err != nil {
		tb.Fatalf("synthesising %s: %v", spec.Arch, err)
	}
	return buf.Bytes()
}

// Model is Bytes parsed.
func Model(tb testing.TB, spec synth.Spec, seed uint64, typeFor synth.TypeFunc) *weights.File {
	tb.Helper()
	f, err := weights.Parse(Bytes(tb, spec, seed, typeFor))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Spec returns the named preset.
func Spec(tb testing.TB, preset string) synth.Spec {
	tb.Helper()
	spec, err := synth.Preset(preset)
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

// Preset is Model of the named preset.
func Preset(tb testing.TB, preset string, seed uint64, typeFor synth.TypeFunc) *weights.File {
	tb.Helper()
	return Model(tb, Spec(tb, preset), seed, typeFor)
}
