package compare

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/internal/testref"
	"dayi/weights"
)

// The testdata files were captured once from the llama-bench that
// BuildLlamaBench makes (node-llama-cpp 3.22.1, llama.cpp v0.5.0) on
// stories260K-q8_0.gguf (testdata/models at the repository root):
//
//	llama-bench -m stories260K-q8_0.gguf -p 128 -n 64 -t 1 -r 3 -o jsonl -lm none,mmap
//	llama-bench --help

func TestParseBenchJSONL(t *testing.T) {
	fd, err := os.Open(filepath.Join("testdata", "llama-bench-stories260K-q8_0.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	lines, err := ParseBenchJSONL(fd)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("%d tests, want 4 (pp128 and tg64 for -lm none and mmap)", len(lines))
	}
	modes := map[string]int{}
	for _, l := range lines {
		modes[l.LoadMode]++
		if l.Threads != 1 || l.TypeK != "f16" || !strings.HasSuffix(l.ModelFilename, "stories260K-q8_0.gguf") {
			t.Errorf("fields: %+v", l)
		}
		if (l.Prompt == 128) == (l.Gen == 64) {
			t.Errorf("test is neither pp128 nor tg64: %+v", l)
		}
		// llama-bench's avg_ts is the mean of its samples_ts.
		var sum float64
		for _, s := range l.SamplesTs {
			sum += s
		}
		if len(l.SamplesTs) != 3 || math.Abs(sum/3-l.AvgTs) > 1e-3*l.AvgTs {
			t.Errorf("avg_ts %v vs samples %v", l.AvgTs, l.SamplesTs)
		}
	}
	if modes["none"] != 2 || modes["mmap"] != 2 {
		t.Errorf("load modes %v", modes)
	}
	// llama.cpp's model_size is every tensor's bytes: ours must agree.
	f, err := weights.Open(testref.File(t, "models", "stories260K-q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all int64
	for _, ti := range f.Tensors {
		all += ti.Size
	}
	if all != lines[0].ModelSize {
		t.Errorf("tensor bytes %d, llama-bench model_size %d", all, lines[0].ModelSize)
	}
	emb, _ := f.Tensor("token_embd.weight")
	rows, _ := emb.Rows()
	if got, want := WeightBytesPerToken(f), lines[0].ModelSize-emb.Size+emb.Size/rows; got != want {
		t.Errorf("weight bytes per token %d, want %d", got, want)
	}
}

func TestLoadModeFlags(t *testing.T) {
	help, err := os.ReadFile(filepath.Join("testdata", "llama-bench-help.txt"))
	if err != nil {
		t.Fatal(err)
	}
	no, mm := LoadModeFlags(string(help))
	if strings.Join(no, " ") != "-lm none" || strings.Join(mm, " ") != "-lm mmap" {
		t.Errorf("v0.5.0 flags: %v %v", no, mm)
	}
	no, mm = LoadModeFlags("  -mmp, --mmap <0|1>   (default: 1)\n")
	if strings.Join(no, " ") != "-mmp 0" || strings.Join(mm, " ") != "-mmp 1" {
		t.Errorf("old flags: %v %v", no, mm)
	}
}

// TestPatchAMXTileConfig runs the AMX tile-config fix on ggml_tile_config_init
// as llama.cpp v0.5.0 has it (testdata: lines 204-225 of
// ggml/src/ggml-cpu/amx/mmq.cpp from node-llama-cpp 3.22.1's bundle): the
// barrier goes right before the one _tile_loadconfig, a second run changes
// nothing, and a source without the call is left alone.
func TestPatchAMXTileConfig(t *testing.T) {
	src, err := os.ReadFile("testdata/amx-mmq-tile-config.cpp.txt")
	if err != nil {
		t.Fatal(err)
	}
	out, changed := patchAMXTileConfig(src)
	if !changed {
		t.Fatal("the v0.5.0 function was not patched")
	}
	want := amxBarrier + amxLoadConfig
	if !bytes.Contains(out, []byte(want)) || len(out) != len(src)+len(amxBarrier) {
		t.Fatalf("patched source lacks the barrier right before _tile_loadconfig:\n%s", out)
	}
	if again, changed := patchAMXTileConfig(out); changed || !bytes.Equal(again, out) {
		t.Fatal("a second patch changed the source again")
	}
	other := bytes.ReplaceAll(src, []byte("_tile_loadconfig"), []byte("_tile_loadconfig_v2"))
	if _, changed := patchAMXTileConfig(other); changed {
		t.Fatal("a source without the call was patched")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, amxTileConfigFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := fixAMXTileConfig(dir, &log); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, out) || !strings.Contains(log.String(), "PR #26954") {
		t.Fatalf("fixAMXTileConfig did not write the patched file (log %q)", log.String())
	}
	if err := fixAMXTileConfig(t.TempDir(), &log); err != nil {
		t.Fatalf("a source tree without the AMX file: %v", err)
	}
}
