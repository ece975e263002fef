package cuda

import (
	"errors"
	"strings"
	"testing"

	"dayi/internal/synthtest"
	"dayi/weights"
)

// A model the GPU path cannot run, or a caller's bad token, is an error that
// names the problem: never a panic, an out-of-bounds read or a silent result.
func TestLlamaRejects(t *testing.T) {
	em, err := NewEmulated()
	if err != nil {
		t.Fatal(err)
	}
	f := openModel(t, "stories260K-q8_0.gguf")
	if _, err := LoadLlama(em, f, 0); err == nil || !strings.Contains(err.Error(), "context of 0") {
		t.Errorf("ctx 0: %v", err)
	}
	if _, err := LoadLlama(em, f, 1<<30); err == nil {
		t.Error("a 2^30-position cache was accepted")
	}
	m, err := LoadLlama(em, f, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []int{-1, 512, 1 << 40} {
		if _, err := m.Step(tok); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
			t.Errorf("token %d: %v", tok, err)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := m.Step(1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Step(1); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("step past the context: %v", err)
	}

	// Too little device memory: one error with the sizes, before uploading.
	fake := newFake(t)
	fake.capacity = 100 << 10
	d, err := open(fake.api(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = LoadLlama(d, f, 256)
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) || oom.Need <= oom.Free || !strings.Contains(err.Error(), "KV cache") {
		t.Errorf("small device: %v", err)
	}
	if len(fake.used) != 0 {
		t.Errorf("%d allocations made before the memory check failed", len(fake.used))
	}

	// A weight type without a kernel (q2_K here) is refused by name.
	q2 := synthtest.Preset(t, "tiny-llama-k", 7, func(string, []int64) weights.Type { return weights.TypeQ2_K })
	if _, err := LoadLlama(em, q2, 8); err == nil || !strings.Contains(err.Error(), "no GEMV kernel for q2_K") {
		t.Errorf("q2_K model: %v", err)
	}
	// A file with tensors the driver does not apply (an attention output
	// bias) is refused, not decoded without them.
	biased := openModel(t, "stories260K.gguf")
	biased.Tensors = append(biased.Tensors, weights.TensorInfo{Name: "blk.0.attn_output.bias", Dims: []int64{64}, Type: weights.TypeF32})
	if _, err := LoadLlama(em, biased, 8); err == nil || !strings.Contains(err.Error(), "blk.0.attn_output.bias") {
		t.Errorf("model with an output bias: %v", err)
	}
	// Not a llama.
	if _, err := LoadLlama(em, &weights.File{Path: "x.gguf"}, 8); err == nil || !strings.Contains(err.Error(), "llama, qwen2, qwen3 and gemma3 architectures") {
		t.Errorf("no architecture: %v", err)
	}
}
