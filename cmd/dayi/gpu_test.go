package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"dayi/engine/backend/cuda"
	"dayi/internal/testref"
)

func runGPUCmd(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader(""))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// Without a GPU, --gpu and --backend cuda fail with the device's own error
// (this binary has no driver loader / libcuda.so.1 is missing), never a
// panic or a silent CPU fallback; commands without a GPU path say so.
func TestGPUFlagsWithoutGPU(t *testing.T) {
	if d, err := cuda.Open(0); err == nil {
		d.Close()
		t.Skip("a GPU is present")
	}
	for _, args := range [][]string{
		{"run", "--gpu", "--temperature", "0", "Once upon a time"},
		{"run", "--backend", "cuda", "--temperature", "0", "Once upon a time"},
		{"bench", "gpu", "-n", "2", "-p", "2"},
	} {
		_, err := runGPUCmd(args...)
		if err == nil {
			t.Fatalf("dayi %v succeeded without a GPU", args)
		}
		switch {
		case errors.Is(err, cuda.ErrNotBuilt):
			if !strings.Contains(err.Error(), "rebuild with `go build -tags cuda ./cmd/dayi`") {
				t.Errorf("dayi %v: %v", args, err)
			}
		case errors.Is(err, cuda.ErrNoDriver):
			if !strings.Contains(err.Error(), "libcuda.so.1 not found: install the NVIDIA driver") {
				t.Errorf("dayi %v: %v", args, err)
			}
		default:
			t.Errorf("dayi %v: %v, want the no-GPU error", args, err)
		}
	}
	if _, err := runGPUCmd("embed", "--backend", "cuda", "hello"); err == nil || !strings.Contains(err.Error(), "only `dayi run` and `dayi bench gpu`") {
		t.Errorf("embed --backend cuda: %v", err)
	}
	if _, err := runGPUCmd("run", "--gpu-emulate", "Once upon a time"); err == nil || !strings.Contains(err.Error(), "--temperature 0") {
		t.Errorf("sampled --gpu run: %v", err)
	}
}

// dayi run on the GPU path, with the kernels in the CPU emulator, writes
// llama.cpp's greedy continuation of the embedded stories260K model.
func TestRunGPUEmulatedMatchesLlamaCpp(t *testing.T) {
	data, err := os.ReadFile(testref.File(t, "reference", "stories260K.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Prompt        string `json:"prompt"`
			GeneratedText string `json:"generated_text"`
			GeneratedIDs  []int  `json:"generated_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	c := ref.Cases[0]
	out, err := runGPUCmd("run", "--gpu-emulate", "--temperature", "0", "-n", "12", "--json", c.Prompt)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Response string `json:"response"`
		Tokens   []int  `json:"tokens"`
		Device   string `json:"device"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if len(res.Tokens) != 12 || !strings.HasPrefix(c.GeneratedText, res.Response) {
		t.Fatalf("generated %q (%v), llama.cpp %q", res.Response, res.Tokens, c.GeneratedText)
	}
	for i, id := range res.Tokens {
		if id != c.GeneratedIDs[i] {
			t.Fatalf("token %d = %d, llama.cpp %d", i, id, c.GeneratedIDs[i])
		}
	}
	if !strings.Contains(res.Device, "emulator") {
		t.Errorf("device %q", res.Device)
	}
}

// dayi bench gpu reports the device and decode speed (here on the emulator).
func TestBenchGPUEmulated(t *testing.T) {
	out, err := runGPUCmd("bench", "gpu", "--gpu-emulate", "-p", "3", "-n", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	for _, k := range []string{"device", "load_s", "prompt_tok_s", "decode_tok_s", "decode_median_ms"} {
		if _, ok := res[k]; !ok {
			t.Errorf("bench gpu --json has no %q: %v", k, res)
		}
	}
	if tps, _ := res["decode_tok_s"].(float64); !(tps > 0) {
		t.Errorf("decode_tok_s %v", res["decode_tok_s"])
	}
	if _, err := runGPUCmd("bench", "gpu", "--gpu-emulate", "-p", "300", "-n", "300", "-c", "64"); err == nil || !strings.Contains(err.Error(), "exceed the context") {
		t.Errorf("prompt+gen past the context: %v", err)
	}
}
