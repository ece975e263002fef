package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/benchmarks/serve"
)

func TestBenchServeHelp(t *testing.T) {
	help, err := runDayiCmd(t, "bench", "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--streams", "--prompt", "--gen", "--shared-prefix", "--llama-batched-bench",
		"--model", "--json", "--threads", "llama-batched-bench", "decode_ratio="} {
		if !strings.Contains(help, want) {
			t.Errorf("bench serve --help lacks %q", want)
		}
	}
}

// TestBenchServeEmbedded runs the whole command, dayi side only, on the
// embedded model written to a file: the JSON report has one round per
// --streams entry with the requested prompt counts.
func TestBenchServeEmbedded(t *testing.T) {
	model := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := os.WriteFile(model, assets.DefaultModel, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runDayiCmd(t, "bench", "serve", "--model", model, "--no-llama", "--streams", "1,2",
		"-p", "8", "-n", "4", "-t", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep serve.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Dayi) != 2 || rep.Dayi[0].Streams != 1 || rep.Dayi[1].Streams != 2 {
		t.Fatalf("rounds %+v", rep.Dayi)
	}
	for _, r := range rep.Dayi {
		if r.PromptTokens != 8*r.Streams || r.GenTokens < r.Streams || r.GenTokens > 4*r.Streams {
			t.Errorf("%d streams: %d prompt, %d generated tokens", r.Streams, r.PromptTokens, r.GenTokens)
		}
	}
}

// TestBenchServeRejectsFlags: bounds on the stream counts and sizes.
func TestBenchServeRejectsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--streams", "0"}, {"--streams", "1000"}, {"-p", "1"}, {"-n", "0"}, {"-p", "100000000"},
	} {
		_, err := runDayiCmd(t, append([]string{"bench", "serve", "--model", "none.gguf", "--no-llama"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: err %v, want a flag error", args, err)
		}
	}
}
