package engine

import (
	"context"
	"slices"
	"sync"
	"testing"

	"dayi/engine/sample"
)

// prefillLogits runs req's prefill on lm and returns a copy of the logits
// predicting the first generated token and how many prompt tokens came from
// the prefix cache.
func prefillLogits(t *testing.T, lm *LM, toks []int32) ([]float32, int) {
	t.Helper()
	g, err := lm.start(context.Background(), &Request{Tokens: toks}, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer g.sess.Close()
	return slices.Clone(g.sess.Logits()), g.res.PromptCached
}

func generate(t *testing.T, lm *LM, req *Request) *Result {
	t.Helper()
	res, err := lm.Generate(context.Background(), req, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A chat's second turn starts from the first turn's cached KV (its prompt and
// the model's reply) and gets the greedy text and logits of a cold run that
// computes everything. With an f32 cache the logits are bit-identical: every
// row's K, V and hidden state are computed the same whatever step computes
// them. With the default f16 cache they agree within 2e-3 (observed ≤
// 1.1e-3 on logits of magnitude ~10): the attention adds an f16 cache in
// ggml's orders, which depend on the step's query count and the filled cache
// length rounded to 32 (kernels.f16Order), as llama.cpp's do, so the last
// prompt rows differ in the float order of the attention sums when they are
// evaluated in a different step than in the cold run (llama.cpp's own prompt
// cache reuse has the same property).
func TestPrefixCacheMatchesColdRun(t *testing.T) {
	for _, kv := range []string{"f16", "f32"} {
		tol := 0.0
		if kv == "f16" {
			tol = 2e-3
		}
		check := func(t *testing.T, what string, a, b []float32) {
			t.Helper()
			if d, at := maxDiff(a, b); d > tol || argmax(a) != argmax(b) {
				t.Fatalf("%s: logits with the prefix cache differ from a cold run by %g at %d (tolerance %g; argmax %d vs %d)",
					what, d, at, tol, argmax(a), argmax(b))
			}
		}
		t.Run(kv, func(t *testing.T) {
			// Small buckets: the cached and the cold prompt are split into
			// steps differently.
			opt := Options{Backend: "dayi", KVType: kv, Buckets: []int{8, 32}}
			warm := tinyLM(t, opt)
			opt.PrefixCacheBytes = -1
			cold := tinyLM(t, opt)
			if cold.prefix != nil || warm.prefix == nil {
				t.Fatalf("prefix cache on=%v off=%v", warm.prefix != nil, cold.prefix != nil)
			}
			turn1 := warm.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside.", true, false)
			r1 := generate(t, warm, &Request{Tokens: turn1, MaxTokens: 40})
			if r1.PromptCached != 0 {
				t.Fatalf("first request reused %d tokens from an empty cache", r1.PromptCached)
			}
			if c1 := generate(t, cold, &Request{Tokens: turn1, MaxTokens: 40}); c1.Text != r1.Text {
				t.Fatalf("turn 1 differs: %q vs %q", r1.Text, c1.Text)
			}
			// Turn 2: turn 1's prompt, the reply (all but the last generated
			// token was fed to the session) and a new question.
			hist := append(slices.Clone(turn1), r1.Tokens...)
			turn2 := append(slices.Clone(hist), warm.Tok.Encode(" One day, her mom said", false, false)...)
			wl, n := prefillLogits(t, warm, turn2)
			cl, _ := prefillLogits(t, cold, turn2)
			if want := len(hist); n != want {
				t.Fatalf("turn 2 reused %d tokens, want %d (turn 1's prompt and reply)", n, want)
			}
			check(t, "turn 2", wl, cl)
			w2 := generate(t, warm, &Request{Tokens: turn2, MaxTokens: 60})
			c2 := generate(t, cold, &Request{Tokens: turn2, MaxTokens: 60})
			if w2.Text != c2.Text || w2.PromptCached == 0 {
				t.Fatalf("turn 2 text (reused %d): %q, cold: %q", w2.PromptCached, w2.Text, c2.Text)
			}
			// The very same prompt again: all but its last token come from
			// the cache (its logits must be computed).
			wl, n = prefillLogits(t, warm, turn2)
			if n != len(turn2)-1 {
				t.Fatalf("repeated prompt reused %d of %d tokens", n, len(turn2))
			}
			check(t, "repeated prompt", wl, cl)
			// A prompt that diverges after the first tokens reuses only them.
			other := append(slices.Clone(turn1[:5]), warm.Tok.Encode(" a big red dog ran", false, false)...)
			wl, n = prefillLogits(t, warm, other)
			cl, _ = prefillLogits(t, cold, other)
			if n != 5 {
				t.Fatalf("diverging prompt reused %d tokens, want 5", n)
			}
			check(t, "diverging prompt", wl, cl)
			st := warm.PrefixCacheStats()
			if st.Hits < 3 || st.Misses != 1 || st.TokensReused < int64(len(hist)+len(turn2)) || st.Bytes > st.Budget || st.Entries == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Several requests sharing one system prompt run at once through the
// scheduler (continuous batching) from one cached entry, each getting the
// text of its cold run.
func TestPrefixCacheSharedPrefixConcurrent(t *testing.T) {
	opt := Options{Backend: "dayi", Buckets: []int{8, 32}}
	warm := tinyLM(t, opt)
	opt.PrefixCacheBytes = -1
	cold := tinyLM(t, opt)
	system := warm.Tok.Encode("Once upon a time, in a small town, there lived a kind old man who had a garden.", true, false)
	generate(t, warm, &Request{Tokens: system, MaxTokens: 1}) // fills the cache
	tails := []string{" He liked", " One day", " The garden", " A little bird", " Every morning", " His dog"}
	reqs := make([]*Request, len(tails))
	want := make([]string, len(tails))
	for i, tail := range tails {
		toks := append(slices.Clone(system), warm.Tok.Encode(tail, false, false)...)
		opt := sample.Options{}
		if i%2 == 1 {
			opt = sample.Options{Temperature: 0.8, TopK: 40, Seed: int64(i)}
		}
		reqs[i] = &Request{Tokens: toks, MaxTokens: 30, Sampling: opt}
		want[i] = generate(t, cold, reqs[i]).Text
	}
	s := warm.NewScheduler(8, 8)
	defer s.Close()
	var wg sync.WaitGroup
	got := make([]*Result, len(tails))
	errs := make([]error, len(tails))
	for i := range reqs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], errs[i] = s.Generate(context.Background(), reqs[i], func(string) error { return nil })
		}(i)
	}
	wg.Wait()
	for i := range reqs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i].Text != want[i] {
			t.Errorf("request %d: %q, cold %q", i, got[i].Text, want[i])
		}
		if got[i].PromptCached < len(system) {
			t.Errorf("request %d reused %d tokens, want at least the %d shared ones", i, got[i].PromptCached, len(system))
		}
	}
}

// The cache holds at most its budget, evicting the least recently used
// entry; a sequence larger than the whole budget is not stored; an entry
// that a longer one extends is replaced by it.
func TestPrefixCacheBudgetLRU(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}, PrefixCacheBytes: 1})
	var perTok int64
	for _, r := range lm.prefix.rowKV {
		perTok += int64(r)
	}
	budget := 100 * perTok
	lm = tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}, PrefixCacheBytes: budget})
	seq := func(seed, n int) []int32 {
		out := []int32{lm.Tok.BOS()}
		for i := 1; i < n; i++ {
			out = append(out, int32(300+(seed*37+i*11)%200))
		}
		return out
	}
	a, b, c := seq(1, 40), seq(2, 40), seq(3, 40)
	for _, s := range [][]int32{a, b} {
		prefillLogits(t, lm, s)
	}
	if st := lm.PrefixCacheStats(); st.Entries != 2 || st.Bytes != 80*perTok {
		t.Fatalf("after two prompts: %+v", st)
	}
	prefillLogits(t, lm, a) // a is now more recent than b
	prefillLogits(t, lm, c) // 120 tokens > 100: b goes
	st := lm.PrefixCacheStats()
	if st.Entries != 2 || st.Bytes > budget {
		t.Fatalf("after the third prompt: %+v", st)
	}
	if _, n := prefillLogits(t, lm, b); n != 1 { // only BOS is left of b (a and c start with it)
		t.Fatalf("evicted entry still served %d tokens", n)
	}
	// Extending a: the longer entry replaces it.
	lm2 := tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}, PrefixCacheBytes: budget})
	prefillLogits(t, lm2, a)
	prefillLogits(t, lm2, append(slices.Clone(a), 5, 6, 7))
	if st := lm2.PrefixCacheStats(); st.Entries != 1 || st.Bytes != 43*perTok {
		t.Fatalf("extended prompt: %+v", st)
	}
	prefillLogits(t, lm2, seq(4, 101))
	if st := lm2.PrefixCacheStats(); st.Bytes > budget || st.Entries != 1 {
		t.Fatalf("a prompt over the whole budget was stored: %+v", st)
	}
	// Off: nothing is kept or counted.
	off := tinyLM(t, Options{Backend: "dayi", PrefixCacheBytes: -1})
	prefillLogits(t, off, a)
	if _, n := prefillLogits(t, off, a); n != 0 || off.PrefixCacheStats() != (PrefixCacheStats{}) {
		t.Fatalf("disabled cache reused %d tokens", n)
	}
}

func TestDefaultPrefixCacheBytes(t *testing.T) {
	if got := DefaultPrefixCacheBytes(10 << 20); got != 20<<20 {
		t.Fatalf("default for a 10 MiB context: %d", got)
	}
	if got := DefaultPrefixCacheBytes(4 << 30); got != 1<<30 {
		t.Fatalf("default for a 4 GiB context: %d", got)
	}
	f := openShared(t, "stories260K.gguf")
	fp, err := EstimateFootprint(f, Options{Backend: "dayi"})
	if err != nil {
		t.Fatal(err)
	}
	if fp.PrefixCache != 2*fp.KV || fp.Total() != fp.Weights+fp.KV+fp.PrefixCache {
		t.Fatalf("footprint %+v", fp)
	}
	fp, _ = EstimateFootprint(f, Options{Backend: "dayi", PrefixCacheBytes: -1})
	if fp.PrefixCache != 0 {
		t.Fatalf("disabled cache reserved %d bytes", fp.PrefixCache)
	}
}

// The portable path (simplego, f32 cache) restores prefixes and shifts too.
func TestPrefixCachePortable(t *testing.T) {
	warm := tinyLM(t, Options{Backend: "go", Buckets: []int{8, 32}})
	cold := tinyLM(t, Options{Backend: "go", Buckets: []int{8, 32}, PrefixCacheBytes: -1})
	if warm.prefix == nil {
		t.Skip("backend go exposes no shared buffers")
	}
	p1 := warm.Tok.Encode("Once upon a time, there was a little girl named Lily.", true, false)
	prefillLogits(t, warm, p1)
	p2 := append(slices.Clone(p1), warm.Tok.Encode(" She had a cat", false, false)...)
	wl, n := prefillLogits(t, warm, p2)
	cl, _ := prefillLogits(t, cold, p2)
	if n != len(p1) {
		t.Fatalf("reused %d tokens, want %d", n, len(p1))
	}
	if d, at := maxDiff(wl, cl); d != 0 {
		t.Fatalf("portable path: logits differ by %g at %d", d, at)
	}
}

// Entries are per scope: another client's identical prompt is computed,
// not restored, so its time to first token reveals nothing.
func TestPrefixCacheScopes(t *testing.T) {
	lm := tinyLM(t, Options{Backend: "dayi", Buckets: []int{8, 32}})
	p := lm.Tok.Encode("Once upon a time, there was a little girl named Lily.", true, false)
	start := func(scope string) int {
		g, err := lm.start(context.Background(), &Request{Tokens: p, CacheScope: scope}, func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		defer g.sess.Close()
		return g.res.PromptCached
	}
	if n := start("key-a"); n != 0 {
		t.Fatalf("first request reused %d", n)
	}
	if n := start("key-b"); n != 0 {
		t.Fatalf("another scope reused %d tokens of key-a's prompt", n)
	}
	if n := start("key-a"); n != len(p)-1 {
		t.Fatalf("same scope reused %d, want %d", n, len(p)-1)
	}
	if st := lm.PrefixCacheStats(); st.Entries != 2 {
		t.Fatalf("entries %d, want one per scope", st.Entries)
	}
}
