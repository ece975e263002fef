package cuda

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"dayi/internal/synthtest"
	"dayi/weights"
)

// The decode driver with an f32 KV cache on the tiny synthetic llama, qwen2
// (Q/K/V biases, neox rope), qwen3 (per-head Q/K norms, neox rope) and
// gemma3 (√dim embeddings, Q/K and post norms, GeGLU, five sliding-window
// layers of 4 positions with their own rope, tied output) models matches
// llama.cpp's top-40 first-position logits (--cache-type f32) and its
// greedy ids, on the emulator (17 s for the four on two cores, qwen's
// 152k-row and gemma's 262k-row outputs included) and on a GPU when there
// is one.
func TestSynthDecodeF32Cache(t *testing.T) {
	for _, preset := range []string{"tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-gemma3"} {
		t.Run(preset, func(t *testing.T) {
			devs := decodeDevices(t)
			f := synthF32(t, preset, "")
			data, err := os.ReadFile("testdata/" + preset + "-f32kv.json")
			if err != nil {
				t.Fatal(err)
			}
			var ref struct{ Cases []refCase }
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			for name, b := range devs {
				m, err := LoadLlamaWith(b, f, Options{Ctx: 64, F32Cache: true})
				if err != nil {
					t.Fatal(err)
				}
				cases := ref.Cases
				if name == "emulator" {
					cases = cases[:1]
				}
				for _, c := range cases {
					worst, same := decodeCase(t, m, c, 2)
					t.Logf("%s %q: top-40 max |logit diff| %.3g, %d greedy ids agree", name, c.Prompt, worst, same)
					if worst > 1e-4 || math.IsNaN(worst) {
						t.Errorf("%s %q: logits differ by %g (tolerance 1e-4)", name, c.Prompt, worst)
					}
					if same < 2 {
						t.Errorf("%s %q: %d greedy ids agree with llama.cpp", name, c.Prompt, same)
					}
				}
			}
		})
	}
}

// synthF32 builds a tiny synthetic preset in f32 (seed 7, as the
// references were made) in memory, with the vocabulary file vocab if not
// empty (a 32k one keeps the emulator's output projections short).
func synthF32(t *testing.T, preset, vocab string) *weights.File {
	t.Helper()
	spec := synthtest.Spec(t, preset)
	if vocab != "" {
		spec.VocabFile = vocab
	}
	return synthtest.Model(t, spec, 7, nil)
}

// TestPrefillMatchesSteps: a prompt through Prefill, in batches of 3 tokens
// (two whole and a last partial one), gives bit for bit the logits of
// stepping its tokens one by one, and so does the decode step after it, on
// qwen2 (per-token biases) and gemma3 (two ropes, sliding windows of 4
// crossed within a batch; with an f16 and an f32 cache), both with a 32k
// vocabulary here.
func TestPrefillMatchesSteps(t *testing.T) {
	for name, dev := range decodeDevices(t) {
		t.Run(name, func(t *testing.T) { prefillMatchesSteps(t, dev) })
	}
}

func prefillMatchesSteps(t *testing.T, em Backend) {
	prompt := []int{2, 651, 1156, 305, 1022, 14, 3000}
	for _, c := range []struct {
		preset string
		f32    bool
	}{{"tiny-qwen2", false}, {"tiny-gemma3", false}, {"tiny-gemma3", true}} {
		preset, f32 := c.preset, c.f32
		f := synthF32(t, preset, "ggml-vocab-llama-spm.gguf")
		{
			m, err := LoadLlamaWith(em, f, Options{Ctx: 32, F32Cache: f32, Batch: 3})
			if err != nil {
				t.Fatal(err)
			}
			var want []float32
			for _, id := range prompt {
				l, err := m.Step(id)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want[:0], l...)
			}
			next, err := m.Step(5)
			if err != nil {
				t.Fatal(err)
			}
			wantNext := append([]float32(nil), next...)
			m.Reset()
			got, err := m.Prefill(prompt)
			if err != nil {
				t.Fatal(err)
			}
			if m.Pos() != len(prompt) {
				t.Fatalf("%s: position %d after a prompt of %d", preset, m.Pos(), len(prompt))
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s f32 cache %v: prefill logit %d = %g, steps %g", preset, f32, i, got[i], want[i])
				}
			}
			gotNext, err := m.Step(5)
			if err != nil {
				t.Fatal(err)
			}
			for i := range wantNext {
				if math.Float32bits(gotNext[i]) != math.Float32bits(wantNext[i]) {
					t.Fatalf("%s f32 cache %v: decode after prefill, logit %d = %g, after steps %g", preset, f32, i, gotNext[i], wantNext[i])
				}
			}
			if err := m.Free(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// decodeDevices returns the backends the decode tests run on: the emulator
// unless -short, and the first GPU when this binary can open one (closed
// when t ends); it skips t when there is neither.
func decodeDevices(t *testing.T) map[string]Backend {
	t.Helper()
	devs := map[string]Backend{}
	if !testing.Short() {
		em, err := NewEmulated()
		if err != nil {
			t.Fatal(err)
		}
		devs["emulator"] = em
	}
	if gpu, err := Open(0); err == nil {
		t.Cleanup(func() { gpu.Close() })
		devs["gpu"] = gpu
	}
	if len(devs) == 0 {
		t.Skip("no GPU, and -short skips the emulator")
	}
	return devs
}
