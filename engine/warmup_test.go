package engine

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

// The load-time warm-up builds the decode graph and one prefill graph per
// bucket, and prompts then split into filled buckets; neither may change what
// the model computes. Checked against llama.cpp v0.5.0's first-position
// logits for the tiny-llama synthetic model (testdata/synth, the whole prompt
// in one llama.cpp batch), with buckets of 2 and 4 rows so that the 5-token
// prompts run as a 4-row step and a padded 2-row step, and against a model
// loaded without the warm-up (bit for bit, with the same greedy text).
func TestWarmupAndSplitPrefillKeepLlamaCppLogits(t *testing.T) {
	data, err := os.ReadFile("testdata/synth/tiny-llama-f32kv.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	load := func(noWarmup bool) *LM {
		m, err := Load(synthModel(t, "tiny-llama"), Options{Backend: "dayi", KVType: "f32", Buckets: []int{2, 4}, PrefixCacheBytes: -1, NoWarmup: noWarmup})
		if err != nil {
			t.Fatal(err)
		}
		lm, err := NewLM(m)
		if err != nil {
			t.Fatal(err)
		}
		return lm
	}
	warm, cold := load(false), load(true)
	for _, k := range []graphKey{{T: 1}, {T: 2}, {T: 4}} {
		if _, ok := warm.graphs[k]; !ok {
			t.Errorf("graph of %d rows not built at load", k.T)
		}
	}
	if len(cold.graphs) != 0 {
		t.Errorf("NoWarmup: %d graphs built at load", len(cold.graphs))
	}
	for _, c := range ref.Cases {
		if len(c.PromptIDs) <= 4 {
			t.Fatalf("%q: %d tokens do not cross a bucket", c.Prompt, len(c.PromptIDs))
		}
		wl, _ := prefillLogits(t, warm, c.PromptIDs)
		cl, _ := prefillLogits(t, cold, c.PromptIDs)
		if !slices.Equal(wl, cl) {
			d, at := maxDiff(wl, cl)
			t.Errorf("%q: logits with the warm-up differ from without by %g at %d", c.Prompt, d, at)
		}
		worst := 0.0
		for _, top := range c.FirstPosition.Top {
			worst = math.Max(worst, math.Abs(float64(wl[top.ID]-top.Logit)))
		}
		if worst > 1e-4 { // TestSynthOwnBackend's tolerance for one-step prompts
			t.Errorf("%q: split prefill differs from llama.cpp's logits by %g", c.Prompt, worst)
		}
		req := &Request{Tokens: c.PromptIDs, MaxTokens: len(c.GeneratedIDs)}
		wr, cr := generate(t, warm, req), generate(t, cold, &Request{Tokens: c.PromptIDs, MaxTokens: len(c.GeneratedIDs)})
		if !slices.Equal(wr.Tokens, cr.Tokens) {
			t.Errorf("%q: greedy tokens with the warm-up %v, without %v", c.Prompt, wr.Tokens, cr.Tokens)
		}
		if !slices.Equal(wr.Tokens, c.GeneratedIDs) {
			t.Logf("%q: greedy tokens %v, llama.cpp %v (may diverge where llama.cpp's margin is tiny)", c.Prompt, wr.Tokens, c.GeneratedIDs)
		}
	}
	// With the default f16 cache, a split prompt's logits may differ from
	// one step's in the last place of the attention's f16 sums (measured
	// <= 1.1e-6 here), never more.
	f16 := func(buckets []int) *LM {
		m, err := Load(synthModel(t, "tiny-llama"), Options{Backend: "dayi", KVType: "f16", Buckets: buckets, PrefixCacheBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		lm, err := NewLM(m)
		if err != nil {
			t.Fatal(err)
		}
		return lm
	}
	split, whole := f16([]int{2, 4}), f16([]int{32})
	for _, c := range ref.Cases {
		a, _ := prefillLogits(t, split, c.PromptIDs)
		b, _ := prefillLogits(t, whole, c.PromptIDs)
		if d, at := maxDiff(a, b); d > 1e-5 || argmax(a) != argmax(b) {
			t.Errorf("%q, f16 cache: split prefill differs from one step by %g at %d", c.Prompt, d, at)
		}
	}
}

// SetSpeculation builds the verification graphs of every step length a
// round can take (the token fed plus 1..DraftMax proposals) before the
// first round; with NoWarmup it builds none. The verification steps these
// graphs run are checked against llama.cpp by the speculative tests.
func TestSetSpeculationBuildsVerifyGraphs(t *testing.T) {
	for _, noWarmup := range []bool{false, true} {
		m, err := Load(synthModel(t, "tiny-llama"), Options{Backend: "dayi", KVType: "f32", PrefixCacheBytes: -1, NoWarmup: noWarmup})
		if err != nil {
			t.Fatal(err)
		}
		lm, err := NewLM(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := lm.SetSpeculation(Speculation{NGram: true, DraftMax: 5}); err != nil {
			t.Fatal(err)
		}
		for T := 2; T <= 7; T++ {
			_, ok := lm.graphs[graphKey{T: T, all: true}]
			if want := !noWarmup && T <= 6; ok != want {
				t.Errorf("NoWarmup %v: verification graph of %d rows built: %v, want %v", noWarmup, T, ok, want)
			}
		}
	}
}
