package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"dayi/engine/sample"
	"dayi/internal/synthtest"
	"dayi/weights"
)

func loadLM(t *testing.T, model string, opt Options) *LM {
	t.Helper()
	m, err := Load(openShared(t, model), opt)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// specLMs loads the Q8_0 twin of the embedded model as the target twice:
// plain, and speculating with the embedded F32 model as its draft (same
// vocabulary) or with n-gram lookup.
func specLMs(t *testing.T, kv string, sp Speculation, draftOpt Options) (plain, spec *LM) {
	return specLMsDraft(t, kv, sp, "stories260K.gguf", draftOpt)
}

func specLMsDraft(t *testing.T, kv string, sp Speculation, draft string, draftOpt Options) (plain, spec *LM) {
	t.Helper()
	opt := Options{Backend: "dayi", KVType: kv, Buckets: []int{8, 32}, PrefixCacheBytes: -1}
	plain = loadLM(t, "stories260K-q8_0.gguf", opt)
	spec = loadLM(t, "stories260K-q8_0.gguf", opt)
	if !sp.NGram {
		sp.Draft = loadLM(t, draft, draftOpt)
	}
	if err := spec.SetSpeculation(sp); err != nil {
		t.Fatal(err)
	}
	return plain, spec
}

// Greedy speculative decoding gives token for token what plain decoding
// gives, and both are llama.cpp's greedy ids for the Q8_0 model (its
// reference of 64 tokens per prompt, F16 cache), with a draft model and
// with n-gram lookup. The embedded F32 model drafting for its Q8_0 twin
// agrees with it on every token of these prompts, so the Q4_0 twin drafts
// too (and n-gram lookup guesses) to exercise rejection and the rollback:
// those cases must see both accepted and rejected proposals.
func TestSpeculativeGreedyMatchesLlamaCpp(t *testing.T) {
	ref := loadRef(t, "stories260K-q8_0.json")
	for _, kv := range []string{"f16", "f32"} {
		for _, c := range []struct {
			name, draft string
			sp          Speculation
			mustReject  bool
		}{
			{"draft-f32", "stories260K.gguf", Speculation{}, false},
			{"draft-q4_0-max4", "stories260K-q4_0.gguf", Speculation{DraftMax: 4, PMin: -1}, true},
			{"ngram", "", Speculation{NGram: true}, true},
		} {
			t.Run(kv+"/"+c.name, func(t *testing.T) {
				plain, spec := specLMsDraft(t, kv, c.sp, c.draft, Options{Backend: "dayi", KVType: kv, Buckets: []int{8, 32}})
				for _, rc := range ref {
					req := func() *Request { return &Request{Tokens: rc.PromptIDs, MaxTokens: len(rc.GeneratedIDs)} }
					want := generate(t, plain, req())
					got := generate(t, spec, req())
					if !slices.Equal(got.Tokens, want.Tokens) {
						t.Fatalf("%q: speculative %v\nplain       %v", rc.Prompt, got.Tokens, want.Tokens)
					}
					if kv == "f16" && !slices.Equal(got.Tokens, rc.GeneratedIDs) {
						t.Errorf("%q: speculative %v\nllama.cpp   %v", rc.Prompt, got.Tokens, rc.GeneratedIDs)
					}
					t.Logf("%q: drafted %d accepted %d", rc.Prompt, got.Drafted, got.DraftAccepted)
				}
				st := spec.SpecStats()
				if st.Accepted == 0 || c.mustReject && st.Accepted == st.Drafted {
					t.Fatalf("drafted %d accepted %d: the test needs accepted (and here rejected) proposals", st.Drafted, st.Accepted)
				}
			})
		}
	}
}

// N-gram lookup on a text that repeats: proposals are accepted and
// rejected, and the output is still the plain greedy text. (The tiny story
// model copies little of its prompt; the speed-up on a transcript is
// measured on a real model, docs/speculative.md.)
func TestSpeculativeNGramRepeats(t *testing.T) {
	plain, spec := specLMs(t, "f16", Speculation{NGram: true}, Options{})
	story := "Lily saw a big red ball in the park. She wanted to play with it. "
	req := func() *Request { return &Request{Prompt: strings.Repeat(story, 3), MaxTokens: 60} }
	want, got := generate(t, plain, req()), generate(t, spec, req())
	if !slices.Equal(got.Tokens, want.Tokens) {
		t.Fatalf("speculative %q\nplain       %q", got.Text, want.Text)
	}
	t.Logf("drafted %d accepted %d of %d tokens: %q", got.Drafted, got.DraftAccepted, len(got.Tokens), got.Text)
	if got.DraftAccepted == 0 || got.DraftAccepted == got.Drafted {
		t.Fatalf("drafted %d accepted %d: both outcomes must occur", got.Drafted, got.DraftAccepted)
	}
}

// synthSeed is synthModel with other random weights (same vocabulary).
func synthSeed(t *testing.T, preset string, seed uint64) *weights.File {
	t.Helper()
	return synthtest.Preset(t, preset, seed, nil)
}

// The rollback is exact for quantized caches too: greedy speculation over
// q8_0/q4_0 caches gives the plain text (tiny-llama-k: head size 32, which
// quantized caches need). Its random weights never repeat themselves, so
// drafts come from models: the same weights with an f32 cache (accepted
// runs, rows written by a verification step and read by later ones, and
// the odd rejection where the cache types round apart) and other random
// weights (rejections: rows rolled back and rewritten).
func TestSpeculativeQuantKV(t *testing.T) {
	mk := func(f *weights.File, kv string) *LM {
		m, err := Load(f, Options{Backend: "dayi", KVType: kv, Buckets: []int{8, 32}, PrefixCacheBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		lm, err := NewLM(m)
		if err != nil {
			t.Fatal(err)
		}
		return lm
	}
	prompt := "The patient reports chest pain and shortness of breath since yesterday."
	for _, c := range []struct {
		typ  string
		seed uint64
	}{{"q4_0", 7}, {"q8_0", 8}} {
		plain := mk(synthModel(t, "tiny-llama-k"), c.typ)
		want := generate(t, plain, &Request{Prompt: prompt, MaxTokens: 32})
		spec := mk(synthModel(t, "tiny-llama-k"), c.typ)
		if err := spec.SetSpeculation(Speculation{Draft: mk(synthSeed(t, "tiny-llama-k", c.seed), "f32"), DraftMax: 4, PMin: -1}); err != nil {
			t.Fatal(err)
		}
		got := generate(t, spec, &Request{Prompt: prompt, MaxTokens: 32})
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Fatalf("%s, draft seed %d: speculative %v\nplain       %v", c.typ, c.seed, got.Tokens, want.Tokens)
		}
		t.Logf("%s, draft seed %d: drafted %d accepted %d", c.typ, c.seed, got.Drafted, got.DraftAccepted)
		// Seed 7 (the target's weights, another cache type) must see runs
		// accepted and some rejected; seed 8 rejections.
		if c.seed == 7 && (got.DraftAccepted == 0 || got.DraftAccepted == got.Drafted) || c.seed == 8 && got.DraftAccepted == got.Drafted {
			t.Fatalf("%s, draft seed %d: drafted %d accepted %d", c.typ, c.seed, got.Drafted, got.DraftAccepted)
		}
	}
}

// Under the scheduler, speculating requests (their own verification steps)
// and plain batched ones each get their solo text; the prefix cache stores
// only accepted rows, so a second turn from it matches a cold run.
func TestSpeculativeScheduler(t *testing.T) {
	opt := Options{Backend: "dayi", Buckets: []int{8, 32}}
	plain := loadLM(t, "stories260K-q8_0.gguf", Options{Backend: "dayi", Buckets: []int{8, 32}, PrefixCacheBytes: -1})
	spec := loadLM(t, "stories260K-q8_0.gguf", opt)
	if err := spec.SetSpeculation(Speculation{Draft: loadLM(t, "stories260K.gguf", opt)}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prompts := []string{"Once upon a time", "The little dog", "Lily and Ben went to the park", "Tom had a red ball", "One day, a cat"}
	mkReq := func(i int) *Request {
		so := sample.Options{}
		if i%2 == 1 {
			so = sample.Options{Temperature: 0.8, TopK: 40, Seed: int64(i)}
		}
		return &Request{Prompt: prompts[i], MaxTokens: 30 + 7*i, Sampling: so}
	}
	want := make([]string, len(prompts))
	for i := range prompts {
		if i%2 == 0 { // greedy: speculation must not change the text
			want[i] = generate(t, plain, mkReq(i)).Text
		}
	}
	s := spec.NewScheduler(4, 4)
	defer s.Close()
	got := make([]*Result, len(prompts))
	errs := make([]error, len(prompts))
	var wg sync.WaitGroup
	for i := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Generate(ctx, mkReq(i), func(string) error { return nil })
		}()
	}
	wg.Wait()
	for i := range prompts {
		if errs[i] != nil {
			t.Fatalf("%q: %v", prompts[i], errs[i])
		}
		if i%2 == 0 && got[i].Text != want[i] {
			t.Errorf("%q: scheduled speculative %q, plain %q", prompts[i], got[i].Text, want[i])
		}
		// A seeded sampled request through the scheduler is what it is alone.
		if i%2 == 1 {
			if solo := generate(t, spec, mkReq(i)); solo.Text != got[i].Text {
				t.Errorf("%q: scheduled %q, solo %q", prompts[i], got[i].Text, solo.Text)
			}
		}
	}
	// Second turn from the prefix cache (stored by speculative requests)
	// equals a cold plain run.
	hist := append(spec.Tok.Encode(prompts[0], true, false), got[0].Tokens...)
	turn2 := append(slices.Clone(hist), spec.Tok.Encode(" The end. Then", false, false)...)
	warm := generate(t, spec, &Request{Tokens: turn2, MaxTokens: 20})
	cold := generate(t, plain, &Request{Tokens: turn2, MaxTokens: 20})
	if warm.PromptCached == 0 {
		t.Fatal("second turn reused nothing from the prefix cache")
	}
	if !slices.Equal(warm.Tokens, cold.Tokens) {
		t.Fatalf("second turn from the cache %v, cold %v", warm.Tokens, cold.Tokens)
	}
}

// Context shift during speculation: a generation that runs past a small
// context shifts and goes on, with the greedy text of plain decoding.
func TestSpeculativeContextShift(t *testing.T) {
	opt := Options{Backend: "dayi", KVType: "f32", ContextLength: 48, Buckets: []int{8}, PrefixCacheBytes: -1}
	plain := loadLM(t, "stories260K-q8_0.gguf", opt)
	for _, sp := range []Speculation{{NGram: true}, {Draft: loadLM(t, "stories260K.gguf", opt)}} {
		spec := loadLM(t, "stories260K-q8_0.gguf", opt)
		if err := spec.SetSpeculation(sp); err != nil {
			t.Fatal(err)
		}
		req := func() *Request { return &Request{Prompt: "Once upon a time", MaxTokens: 120, Shift: true, NumKeep: 4} }
		want, got := generate(t, plain, req()), generate(t, spec, req())
		if want.Shifts == 0 || got.Shifts != want.Shifts {
			t.Fatalf("shifts: plain %d, speculative %d", want.Shifts, got.Shifts)
		}
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Fatalf("ngram=%v: speculative %v\nplain       %v", sp.NGram, got.Tokens, want.Tokens)
		}
	}
}

// A draft model with another vocabulary is refused, naming both files.
func TestSpeculativeDraftVocabRefused(t *testing.T) {
	target := loadLM(t, "stories260K-q8_0.gguf", Options{Backend: "dayi"})
	other := loadLM(t, "llama-2-tiny-random.gguf", Options{Backend: "dayi"})
	err := target.SetSpeculation(Speculation{Draft: other})
	if err == nil || !strings.Contains(err.Error(), "llama-2-tiny-random.gguf") || !strings.Contains(err.Error(), "stories260K-q8_0.gguf") {
		t.Fatalf("different vocabulary: %v", err)
	}
	for _, sp := range []Speculation{
		{NGram: true, DraftMax: 65}, {NGram: true, DraftMax: 4, DraftMin: 5}, {NGram: true, NGramMin: 3, NGramMax: 2},
		{NGram: true, Draft: target},
	} {
		if err := target.SetSpeculation(sp); err == nil {
			t.Errorf("%+v accepted", sp)
		}
	}
	if target.Speculating() {
		t.Fatal("a refused configuration turned speculation on")
	}
}

func TestNGramLookup(t *testing.T) {
	seq := []int32{1, 2, 3, 4, 9, 2, 3, 5, 6, 7, 2, 3}
	// "2 3" last occurred at 5 (followed by 5 6 7); the 3-gram "7 2 3" never did.
	if got := ngramLookup(seq, 1, 3, 4, nil); !slices.Equal(got, []int32{5, 6, 7, 2}) {
		t.Fatalf("got %v", got)
	}
	if got := ngramLookup(seq, 3, 3, 4, nil); len(got) != 0 {
		t.Fatalf("3-gram: got %v", got)
	}
	// A period-1 run proposes its continuation.
	if got := ngramLookup([]int32{8, 8, 8}, 1, 2, 5, nil); !slices.Equal(got, []int32{8}) {
		t.Fatalf("run: got %v", got)
	}
}

// chiSquareCritical is the chi-square quantile at upper tail 1e-3 for df
// degrees of freedom (Wilson–Hilferty; z = 3.09).
func chiSquareCritical(df int) float64 {
	d := float64(df)
	a := 2 / (9 * d)
	return d * math.Pow(1-a+3.09*math.Sqrt(a), 3)
}

// chiSquare compares counts of n draws with probabilities p (bins with an
// expected count under 5 are pooled) and returns the statistic and its
// degrees of freedom.
func chiSquare(counts map[string]int, p map[string]float64, n int) (float64, int) {
	stat, bins := 0.0, 0
	var poolE, poolO float64
	for k, pk := range p {
		e, o := pk*float64(n), float64(counts[k])
		if e < 5 {
			poolE, poolO = poolE+e, poolO+o
			continue
		}
		stat += (o - e) * (o - e) / e
		bins++
	}
	for k, o := range counts {
		if _, ok := p[k]; !ok {
			poolO += float64(o) // drawn with probability 0: counts against the test
			poolE += 1e-9
		}
	}
	if poolE > 0 {
		stat += (poolO - poolE) * (poolO - poolE) / math.Max(poolE, 1e-9)
		bins++
	}
	return stat, bins - 1
}

// Sampled speculative decoding keeps the target's distribution: over many
// seeded runs, the first three generated tokens (the second and third are
// judged by the acceptance rule against the draft model's, or the n-gram
// lookup's, proposals) follow the distribution plain sampling draws from,
// computed exactly from the target's logits position by position. The
// chi-square statistic must stay under its 1e-3 upper quantile (seeds are
// fixed, so the outcome is deterministic); 1,500 runs make a biased rule
// (accepting every proposal) fail it by far (TestVerifyKeepsDistribution
// shows that on the rule itself).
func TestSpeculativeSampledDistribution(t *testing.T) {
	so := sample.Options{Temperature: 2, TopK: 3, TopP: 1}
	prompt := "The dog ran. The cat ran. The"
	opt := Options{Backend: "dayi", ContextLength: 64, Buckets: []int{32}, PrefixCacheBytes: 1 << 20}
	target := loadLM(t, "stories260K-q8_0.gguf", opt)
	ids := target.Tok.Encode(prompt, true, false)
	// Exact distribution of the first three tokens under plain sampling.
	exact := map[string]float64{}
	ctx := context.Background()
	var walk func(prefix []int32, pr float64)
	walk = func(prefix []int32, pr float64) {
		if len(prefix) == len(ids)+3 {
			exact[key3(prefix[len(ids):])] = pr
			return
		}
		s, err := target.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		logits, err := s.Eval(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		smp := sample.New(so)
		p, _ := smp.Probs(logits, nil, make([]float32, len(logits)))
		s.Close()
		for id, q := range p {
			if q > 0 {
				walk(append(slices.Clone(prefix), int32(id)), pr*float64(q))
			}
		}
	}
	walk(ids, 1)
	for _, sp := range []Speculation{{NGram: true}, {Draft: loadLM(t, "stories260K.gguf", opt), PMin: -1}} {
		spec := loadLM(t, "stories260K-q8_0.gguf", opt)
		if err := spec.SetSpeculation(sp); err != nil {
			t.Fatal(err)
		}
		const runs = 1000
		counts := map[string]int{}
		for i := range runs {
			o := so
			o.Seed = int64(1000 + i)
			res := generate(t, spec, &Request{Tokens: ids, MaxTokens: 3, Sampling: o})
			if len(res.Tokens) != 3 {
				t.Fatalf("run %d: %d tokens", i, len(res.Tokens))
			}
			counts[key3(res.Tokens)]++
		}
		st := spec.SpecStats()
		stat, df := chiSquare(counts, exact, runs)
		t.Logf("ngram=%v: %d sequences, chi-square %.1f (df %d, 1e-3 critical %.1f); drafted %d accepted %d",
			sp.NGram, len(exact), stat, df, chiSquareCritical(df), st.Drafted, st.Accepted)
		if st.Accepted == 0 || st.Accepted == st.Drafted {
			t.Fatalf("drafted %d accepted %d: both outcomes of the rule must occur", st.Drafted, st.Accepted)
		}
		if stat > chiSquareCritical(df) {
			t.Fatalf("ngram=%v: chi-square %.1f > %.1f (df %d): speculative sampling changed the distribution", sp.NGram, stat, chiSquareCritical(df), df)
		}
	}
}

func key3(ids []int32) string { return fmt.Sprint(ids) }

// The portable backend (simplego) runs the all-rows verification graph too.
func TestSpeculativePortable(t *testing.T) {
	opt := Options{Backend: "go", Buckets: []int{16}, PrefixCacheBytes: -1}
	plain := loadLM(t, "stories260K-q8_0.gguf", opt)
	spec := loadLM(t, "stories260K-q8_0.gguf", opt)
	if err := spec.SetSpeculation(Speculation{Draft: loadLM(t, "stories260K-q4_0.gguf", opt), DraftMax: 4, PMin: -1}); err != nil {
		t.Fatal(err)
	}
	req := func() *Request { return &Request{Prompt: "Once upon a time", MaxTokens: 24} }
	want, got := generate(t, plain, req()), generate(t, spec, req())
	if !slices.Equal(got.Tokens, want.Tokens) || got.DraftAccepted == 0 {
		t.Fatalf("speculative %v (accepted %d of %d)\nplain       %v", got.Tokens, got.DraftAccepted, got.Drafted, want.Tokens)
	}
}

// Stop strings met inside an accepted run, repeat penalties (each accepted
// proposal counts for the next position's penalty) and a JSON grammar
// (proposals the grammar forbids are rejected) all give the plain result.
func TestSpeculativeStopPenaltiesGrammar(t *testing.T) {
	for _, sp := range []Speculation{{NGram: true}, {DraftMax: 6, PMin: -1}} {
		plain, spec := specLMsDraft(t, "f16", sp, "stories260K-q4_0.gguf", Options{Backend: "dayi", Buckets: []int{8, 32}})
		for _, req := range []func() *Request{
			func() *Request { return &Request{Prompt: "Once upon a time", MaxTokens: 80, Stop: []string{"park"}} },
			func() *Request {
				return &Request{Prompt: "Lily and Ben went to the park", MaxTokens: 60,
					Sampling: sample.Options{RepeatPenalty: 1.3, RepeatLastN: 32, PresencePenalty: 0.2}}
			},
			func() *Request { return &Request{Prompt: "Lily said", MaxTokens: 30, Format: []byte(`"json"`)} },
		} {
			want, got := generate(t, plain, req()), generate(t, spec, req())
			if got.Text != want.Text || !slices.Equal(got.Tokens, want.Tokens) || got.DoneReason != want.DoneReason || got.StopString != want.StopString {
				t.Fatalf("ngram=%v %+v:\nspeculative %q %s %q\nplain       %q %s %q", sp.NGram, req(), got.Text, got.DoneReason, got.StopString,
					want.Text, want.DoneReason, want.StopString)
			}
			if got.Drafted == 0 {
				t.Errorf("ngram=%v %q: nothing proposed", sp.NGram, req().Prompt)
			}
			t.Logf("ngram=%v: %q %s %q, drafted %d accepted %d", sp.NGram, got.Text, got.DoneReason, got.StopString, got.Drafted, got.DraftAccepted)
			if r := req(); len(r.Stop) > 0 && got.StopString != "park" || r.Format != nil && len(got.Tokens) == 0 {
				t.Fatalf("the case did not exercise its feature: %q %q", got.Text, got.StopString)
			}
		}
	}
}

// Speculation allocates nothing per token beyond what a plain step does:
// the allocations a generation makes per extra token are no more with
// n-gram speculation than without (its scratch is allocated once per
// request).
func TestSpeculativeAllocsPerToken(t *testing.T) {
	plain, spec := specLMs(t, "f32", Speculation{NGram: true}, Options{})
	prompt := strings.Repeat("Lily saw a big red ball. ", 4)
	perToken := func(lm *LM) (float64, *Result) {
		var res *Result
		at := func(n int) float64 {
			return testing.AllocsPerRun(3, func() { res = generate(t, lm, &Request{Prompt: prompt, MaxTokens: n}) })
		}
		short, long := at(20), at(120)
		return (long - short) / 100, res
	}
	p, _ := perToken(plain)
	s, res := perToken(spec)
	t.Logf("allocations per generated token: plain %.2f, n-gram speculation %.2f (drafted %d accepted %d)", p, s, res.Drafted, res.DraftAccepted)
	if res.Drafted == 0 {
		t.Fatal("nothing proposed")
	}
	if s > p+0.5 {
		t.Fatalf("speculation allocates %.2f per token, plain decoding %.2f", s, p)
	}
}
