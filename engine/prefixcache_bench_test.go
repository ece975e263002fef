package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"dayi/benchmarks/synth"
	"dayi/internal/synthtest"
	"dayi/weights"
)

// BenchmarkChatTurnTTFT measures what the prefix cache is for (issue 17): the
// time to first token of a chat's second turn, whose ~2,000 tokens of
// history the first turn left in the cache, against the first turn's, which
// computes them. The model is $DAYI_BENCH_MODEL, else a synthetic q8_0
// llama with a 4,096-token context built here (dim 512, 8 layers, GQA 8/4,
// the 32k SPM vocabulary: big enough that prefill, not overhead, dominates;
// small enough for a 2-core CI host). Run it once:
//
//	go test ./engine -run '^$' -bench ChatTurnTTFT -benchtime 1x
//
// It reports ttft1_ms (turn 1, 2,000-token prompt, cold), ttft2_ms (turn 2:
// the history plus the reply plus a ~30-token question), cold2_ms (turn 2
// again on the same model with the cache off: what every turn cost before)
// and speedup = ttft1/ttft2, after a warm-up that compiles every step graph.
func BenchmarkChatTurnTTFT(b *testing.B) {
	var f *weights.File
	if p := os.Getenv("DAYI_BENCH_MODEL"); p != "" {
		var err error
		if f, err = weights.Open(p); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	} else {
		f = benchSynth(b)
	}
	load := func(prefix int64) *LM {
		m, err := Load(f, Options{Backend: "dayi", ContextLength: 4096, PrefixCacheBytes: prefix})
		if err != nil {
			b.Fatal(err)
		}
		lm, err := NewLM(m)
		if err != nil {
			b.Fatal(err)
		}
		return lm
	}
	warm, cold := load(0), load(-1)
	passage := "The patient is a 67-year-old man with type 2 diabetes, hypertension and chronic kidney disease stage 3, " +
		"admitted with three days of productive cough, fever to 38.9 C and shortness of breath on exertion. "
	ttft := func(lm *LM, toks []int32, scope string) (time.Duration, *Result) {
		t0 := time.Now()
		var first time.Duration
		res, err := lm.Generate(context.Background(), &Request{Tokens: toks, MaxTokens: 16, CacheScope: scope}, func(string) error {
			if first == 0 {
				first = time.Since(t0)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if first == 0 {
			first = res.PromptDuration
		}
		return first, res
	}
	// Compile every step graph first (prefill buckets, decode) so no turn
	// pays a one-time compile; its own cache scope keeps it from the timed
	// turns' entries.
	for _, lm := range []*LM{warm, cold} {
		for _, n := range []int{300, 20} {
			toks := lm.Tok.Encode(strings.Repeat(passage, 10), true, false)[:n]
			if _, err := lm.Generate(context.Background(), &Request{Tokens: toks, MaxTokens: 2, CacheScope: "warm-up"}, func(string) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
	var t1, t2, c2 time.Duration
	for i := 0; i < b.N; i++ {
		// A different history and cache scope each iteration, so turn 1 is
		// never a hit.
		scope := fmt.Sprint("chat-", i)
		hist := warm.Tok.Encode(strings.Repeat(string(rune('A'+i%26))+": "+passage, 60), true, false)[:2000]
		d1, r1 := ttft(warm, hist, scope)
		if r1.PromptCached != 0 {
			b.Fatalf("turn 1 reused %d tokens", r1.PromptCached)
		}
		turn2 := append(append(append([]int32(nil), hist...), r1.Tokens...),
			warm.Tok.Encode(" Which antibiotic would you start, given his kidney function and a penicillin allergy?", false, false)...)
		d2, r2 := ttft(warm, turn2, scope)
		if r2.PromptCached < len(hist) {
			b.Fatalf("turn 2 reused %d tokens of %d", r2.PromptCached, len(turn2))
		}
		dc, _ := ttft(cold, turn2, scope)
		t1, t2, c2 = t1+d1, t2+d2, c2+dc
		b.Logf("turn 1: %d tokens, ttft %v (prefill %v); turn 2: %d tokens (%d cached), ttft %v (prefill %v); turn 2 without the cache: %v",
			len(hist), d1, r1.PromptDuration, len(turn2), r2.PromptCached, d2, r2.PromptDuration, dc)
	}
	n := float64(b.N)
	b.ReportMetric(float64(t1.Milliseconds())/n, "ttft1_ms")
	b.ReportMetric(float64(t2.Microseconds())/1000/n, "ttft2_ms")
	b.ReportMetric(float64(c2.Milliseconds())/n, "cold2_ms")
	b.ReportMetric(float64(t1)/float64(t2), "speedup")
}

func benchSynth(b *testing.B) *weights.File {
	spec := synth.Spec{Arch: "llama", Dim: 512, Layers: 8, Heads: 8, KVHeads: 4, FFN: 1536, ContextLength: 4096,
		RopeBase: 10000, VocabFile: "ggml-vocab-llama-spm.gguf"}
	typeFor := func(_ string, dims []int64) weights.Type {
		if len(dims) < 2 || dims[0]%32 != 0 {
			return weights.TypeF32
		}
		return weights.TypeQ8_0
	}
	return synthtest.Model(b, spec, 7, typeFor)
}
