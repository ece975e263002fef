package eval

import (
	"context"
	"math"
	"testing"

	"dayi/assets"
	"dayi/engine"
	"dayi/internal/synthtest"
	"dayi/weights"
)

func tinyLM(t *testing.T) *engine.LM {
	t.Helper()
	f, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(f, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// refLogProb is the test's own log-softmax: log p(id) = logit[id] − log Σ exp(logit),
// summed in float64 after subtracting the largest logit.
func refLogProb(logits []float32, id int32) float64 {
	mx := float64(logits[0])
	for _, v := range logits[1:] {
		if float64(v) > mx {
			mx = float64(v)
		}
	}
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v) - mx)
	}
	return float64(logits[id]) - mx - math.Log(z)
}

// TestTinyModelLoglik checks EngineModel's log-likelihoods and the choices
// made from them on the embedded model against values computed here from raw
// session logits: (1) feeding the context, then the continuation token by
// token (the same steps — must agree exactly); (2) a fresh session per
// prefix, fed in one batch (a different graph — agrees to float32 rounding);
// (3) engine.LM.LogLikelihood (exactly).
func TestTinyModelLoglik(t *testing.T) {
	lm := tinyLM(t)
	em := &EngineModel{LM: lm}
	ctx := context.Background()
	items := []Item{
		{ID: "story", Question: "Lily went to the park and saw a big", Options: []string{"dog", "tree that was very tall", "ball"}, Answer: []int{1}, Style: Cloze},
		{ID: "letters", Question: "What did Tom eat?", Options: []string{"an apple", "a cake", "some soup", "a toy"}, Answer: []int{0}, Style: Letters},
	}
	for i := range items {
		var err error
		if items[i], err = finish(items[i]); err != nil {
			t.Fatal(err)
		}
	}
	var results []*Result
	s, err := Run(ctx, em, items, Options{MaxLen: lm.Ctx, OnResult: func(r *Result) error { results = append(results, r); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	correct, correctNorm := 0, 0
	for k, it := range items {
		prompt := Prompt(&it)
		var lls, norm []float64
		for i, label := range it.Labels {
			// The split, from scratch: tokens of prompt+" label" after the prompt's own.
			whole := lm.Tok.Encode(prompt+" "+label, true, false)
			ctxIDs := lm.Tok.Encode(prompt, true, false)
			cont := whole[len(ctxIDs):]
			if len(cont) == 0 {
				t.Fatalf("%s: option %q has no tokens", it.ID, label)
			}
			// (1) incremental
			sess, err := lm.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			logits, err := sess.Eval(ctx, ctxIDs)
			if err != nil {
				t.Fatal(err)
			}
			want := 0.0
			for j, id := range cont {
				want += refLogProb(logits, id)
				if j+1 < len(cont) {
					if logits, err = sess.Eval(ctx, []int32{id}); err != nil {
						t.Fatal(err)
					}
				}
			}
			sess.Close()
			if got := results[k].LogLik[i]; got != want {
				t.Errorf("%s option %q: loglik %.17g, reference %.17g", it.ID, label, got, want)
			}
			// (2) batched prefixes
			batched := 0.0
			for j, id := range cont {
				sess, _ := lm.NewSession()
				prefix := append(append([]int32{}, ctxIDs...), cont[:j]...)
				logits, err := sess.Eval(ctx, prefix)
				if err != nil {
					t.Fatal(err)
				}
				batched += refLogProb(logits, id)
				sess.Close()
			}
			if math.Abs(batched-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s option %q: batched-prefix loglik %.9g vs %.9g", it.ID, label, batched, want)
			}
			// (3) the engine's own single-request path
			ll, _, err := lm.LogLikelihood(ctx, ctxIDs, cont)
			if err != nil {
				t.Fatal(err)
			}
			if ll != want {
				t.Errorf("%s option %q: engine.LogLikelihood %.17g vs %.17g", it.ID, label, ll, want)
			}
			lls = append(lls, want)
			norm = append(norm, want/float64(len([]rune(label))))
		}
		pick := func(v []float64) int {
			b := 0
			for i := range v {
				if v[i] > v[b] {
					b = i
				}
			}
			return b
		}
		p, pn := pick(lls), pick(norm)
		if results[k].Pred != it.Labels[p] || results[k].PredNorm != it.Labels[pn] {
			t.Errorf("%s: pred %q/%q, reference %q/%q", it.ID, results[k].Pred, results[k].PredNorm, it.Labels[p], it.Labels[pn])
		}
		if p == it.Answer[0] {
			correct++
		}
		if pn == it.Answer[0] {
			correctNorm++
		}
		t.Logf("%s: lls %v → %s (norm %s)", it.ID, lls, it.Labels[p], it.Labels[pn])
	}
	if s.Correct != correct || s.CorrectNorm != correctNorm || s.Scored != 2 {
		t.Errorf("summary %+v, reference correct %d norm %d", s, correct, correctNorm)
	}
}

// TestTinyModelGenerate runs generation mode end to end on the sample files.
func TestTinyModelGenerate(t *testing.T) {
	lm := tinyLM(t)
	items, _, err := ReadFile("testdata/mcq_sample.jsonl", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var results []*Result
	s, err := Run(context.Background(), &EngineModel{LM: lm}, items, Options{Mode: ModeGenerate, MaxTokens: 8,
		OnResult: func(r *Result) error { results = append(results, r); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Scored+s.Skipped != len(items) || len(results) != len(items) {
		t.Fatalf("summary %+v", s)
	}
	for i, r := range results {
		if r.Skipped == "" {
			// the grade must follow from the recorded output
			want := equalInts(Extract(&items[i], r.Output), items[i].Answer)
			if r.Correct != want {
				t.Errorf("%s: output %q graded %v", r.ID, r.Output, r.Correct)
			}
		}
	}
}

// TestLoglikCompactSWARewind: on a model whose sliding-window layers have
// compact caches (engine/swa.go: tiny-gemma3, window 4, 192 rows at a
// 256-token context), a continuation long enough to move the cache's rows
// leaves the session unable to rewind to the end of the context
// (engine.ErrRewind): LogLikelihoods evaluates the context again and still
// gives every continuation engine.LM.LogLikelihood's value exactly.
func TestLoglikCompactSWARewind(t *testing.T) {
	f := synthtest.Preset(t, "tiny-gemma3", 7, nil)
	opt := engine.Options{Backend: "dayi", KVType: "f32", Buckets: []int{4, 16}}
	m, err := engine.Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.NoCompactSWA = true
	full, err := engine.Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.KVBytes() >= full.KVBytes() {
		t.Fatalf("KV cache %d bytes, full layout %d: the test needs compact caches", m.KVBytes(), full.KVBytes())
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(n, off int) []int32 {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(300 + (i*37+off)%2000)
		}
		return out
	}
	ctx := context.Background()
	context_ := ids(10, 0)
	conts := [][]int32{ids(200, 1), ids(5, 2), ids(200, 3)}
	got, err := (&EngineModel{LM: lm}).LogLikelihoods(ctx, context_, conts)
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range conts {
		want, _, err := lm.LogLikelihood(ctx, context_, c)
		if err != nil {
			t.Fatal(err)
		}
		if got[k] != want {
			t.Errorf("continuation %d: %.17g, LogLikelihood %.17g", k, got[k], want)
		}
	}
}
