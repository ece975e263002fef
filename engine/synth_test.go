package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"dayi/benchmarks/synth"
	"dayi/weights"
)

// synthModel rebuilds a tiny synthetic model exactly as the references in
// testdata/synth were made (see its README).
func synthModel(t *testing.T, preset string) *weights.File {
	t.Helper()
	spec, err := synth.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	vf, err := weights.Open("../../shared/vocab/" + spec.VocabFile)
	if err != nil {
		t.Skipf("vocabulary %s not present (../shared absent?): %v", spec.VocabFile, err)
	}
	defer vf.Close()
	var buf bytes.Buffer
	if err := synth.Write(&buf, spec, vf, 7, func(string, []int64) weights.Type { return weights.TypeF32 }, nil); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkTop compares logits at llama.cpp's top ids and greedy decoding,
// accepting a divergence only where llama.cpp's own margin is within tol.
func checkSynth(t *testing.T, preset string, opt Options, tol float64) {
	f := synthModel(t, preset)
	data, err := os.ReadFile("testdata/synth/" + preset + "-f32kv.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range ref.Cases {
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		logits, err := s.Eval(ctx, c.PromptIDs)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for _, top := range c.FirstPosition.Top {
			worst = math.Max(worst, math.Abs(float64(logits[top.ID]-top.Logit)))
		}
		t.Logf("%s %q: max |diff| over llama.cpp's top-%d: %.3g", preset, c.Prompt, len(c.FirstPosition.Top), worst)
		if worst > tol {
			t.Errorf("%s %q: first-position logits differ by %g (tolerance %g)", preset, c.Prompt, worst, tol)
		}
		for i, st := range c.StepsTop {
			got := argmax(logits)
			if got != st.Token {
				margin := st.Top[0][1] - st.Top[1][1]
				if margin > 2*tol {
					t.Errorf("%s %q: greedy step %d: got %d want %d (llama.cpp margin %.3g)", preset, c.Prompt, i, got, st.Token, margin)
				} else {
					t.Logf("%s %q: step %d diverges within llama.cpp's margin %.3g", preset, c.Prompt, i, margin)
				}
				break
			}
			if i+1 < len(c.StepsTop) {
				if logits, err = s.Eval(ctx, []int32{got}); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.Close()
	}
}

func TestSynthPortable(t *testing.T) {
	for _, p := range []string{"tiny-llama", "tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-gemma3"} {
		tol := 1e-4
		if p == "tiny-gemma3" {
			// ggml's GELU reads a table indexed by the f16-rounded input: a
			// 1e-7 upstream difference that crosses an f16 rounding boundary
			// moves one activation by an f16 ulp. Measured: 6e-6 typical,
			// 2.6e-4 worst over the three prompts.
			tol = 1e-3
		}
		t.Run(p, func(t *testing.T) { checkSynth(t, p, Options{Backend: "go", Buckets: []int{8, 32}}, tol) })
	}
}

func TestSynthOwnBackend(t *testing.T) {
	for _, p := range []string{"tiny-llama", "tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-gemma3"} {
		tol := 1e-4
		if p == "tiny-gemma3" {
			tol = 1e-3 // see TestSynthPortable
		}
		t.Run(p, func(t *testing.T) {
			checkSynth(t, p, Options{Backend: "dayi", KVType: "f32", Buckets: []int{8, 32}}, tol)
		})
	}
}
