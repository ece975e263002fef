package serve

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"dayi/assets"
	"dayi/auth"
	"dayi/engine"
	"dayi/server"
	"dayi/tokenizer"
	"dayi/weights"
)

// probe is the server's generator for the embedded model: the real
// continuous-batching scheduler, with a look at how many requests it
// decodes together each time a token comes out. Its onText also sleeps a
// little (the scheduler here has no output buffer, so this holds the
// request's step), keeping each stream alive long enough that the
// streams' decoding must overlap if the driver really runs them at once.
type probe struct {
	*engine.Scheduler
	mu   sync.Mutex
	peak int
}

func (p *probe) Generate(ctx context.Context, req *engine.Request, onText func(string) error) (*engine.Result, error) {
	return p.Scheduler.Generate(ctx, req, func(s string) error {
		active, _ := p.Stats()
		p.mu.Lock()
		p.peak = max(p.peak, active)
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		return onText(s)
	})
}

func embeddedTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	f, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRoundEmbeddedTwoStreams drives an in-process dayi server on the
// embedded model with two concurrent streams: every count is what was
// asked for (prompts of exactly P tokens by the server's own count, G
// generated unless the model stopped), the scheduler had both requests in
// its decode batch at once, /metrics showed two running, and each stream's
// text is the greedy text of its prompt run alone.
func TestRoundEmbeddedTwoStreams(t *testing.T) {
	const P, G = 12, 10
	var pr *probe
	var mu sync.Mutex
	s, err := server.New(server.Config{
		MaxActive: 2, MaxQueued: 2,
		AnonymousScopes: auth.All(),
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewGenerator: func(lm *engine.LM) server.Generator {
			mu.Lock()
			defer mu.Unlock()
			pr = &probe{Scheduler: lm.NewScheduler(2, 2)}
			return pr
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer s.Close()
	defer hs.Close()
	c := &Client{URL: hs.URL, Model: assets.DefaultModelName, HTTP: hs.Client()}
	p, err := NewPrompter(embeddedTokenizer(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Client: c, Prompter: p, Prompt: P, Gen: G, Seed: 7}
	prompts, err := cfg.prompts(2, P, 1)
	if err != nil {
		t.Fatal(err)
	}
	if prompts[0] == prompts[1] {
		t.Fatalf("the two streams got the same prompt %q", prompts[0])
	}
	ctx := context.Background()
	r, err := c.RunRound(ctx, prompts, G)
	if err != nil {
		t.Fatal(err)
	}
	if r.Streams != 2 || len(r.Results) != 2 {
		t.Fatalf("round has %d streams, %d results", r.Streams, len(r.Results))
	}
	gen := 0
	for i, st := range r.Results {
		if st.PromptTokens != P {
			t.Errorf("stream %d: server counted %d prompt tokens, want %d", i, st.PromptTokens, P)
		}
		if st.GenTokens != G && st.DoneReason != "stop" || st.GenTokens > G || st.GenTokens < 1 {
			t.Errorf("stream %d: %d tokens generated (%s), want %d", i, st.GenTokens, st.DoneReason, G)
		}
		if st.FirstToken <= 0 || st.LastToken < st.FirstToken || st.Duration < st.LastToken {
			t.Errorf("stream %d: times first %v last %v total %v out of order", i, st.FirstToken, st.LastToken, st.Duration)
		}
		gen += st.GenTokens
	}
	if r.PromptTokens != 2*P || r.GenTokens != gen {
		t.Errorf("round totals %d prompt, %d generated; want %d, %d", r.PromptTokens, r.GenTokens, 2*P, gen)
	}
	if r.PrefillTPS <= 0 || r.DecodeTPS <= 0 || r.TotalTPS <= 0 || r.TTFTMedian <= 0 || r.ITLMedian <= 0 {
		t.Errorf("round rates not all positive: %+v", r)
	}
	mu.Lock()
	peak := pr.peak
	mu.Unlock()
	if peak != 2 {
		t.Errorf("scheduler decoded at most %d requests together, want 2", peak)
	}
	if r.PeakActive != 2 {
		t.Errorf("/metrics showed at most %d active requests, want 2", r.PeakActive)
	}
	for i, st := range r.Results {
		solo, err := c.Generate(ctx, prompts[i], G)
		if err != nil {
			t.Fatal(err)
		}
		if solo.Text != st.Text || solo.GenTokens != st.GenTokens {
			t.Errorf("stream %d: concurrent text %q (%d tokens), alone %q (%d)", i, st.Text, st.GenTokens, solo.Text, solo.GenTokens)
		}
	}
}

// TestSummarize checks the aggregates' definitions on hand-made streams:
// two streams started together, the second's prefill ending when the
// first's decoding is half done.
func TestSummarize(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	res := []Stream{
		{Start: t0, PromptTokens: 100, GenTokens: 11, FirstToken: 100 * ms, LastToken: 300 * ms, Duration: 310 * ms},
		{Start: t0.Add(10 * ms), PromptTokens: 100, GenTokens: 5, FirstToken: 190 * ms, LastToken: 390 * ms, Duration: 400 * ms},
	}
	r := summarize(res, t0, 400*ms, 11)
	// Prefill: 200 tokens by the last first token at 200 ms.
	// Decode: 10+4 tokens over the union [100,300] ∪ [200,400] = 300 ms.
	// Total: 216 tokens in 400 ms.
	for name, got := range map[string][2]float64{
		"prefill": {r.PrefillTPS, 1000}, "decode": {r.DecodeTPS, 14 / 0.3}, "total": {r.TotalTPS, 540},
		"ttft p50": {r.TTFTMedian, 145}, "ttft p90": {r.TTFTP90, 190}, "itl p50": {r.ITLMedian, (20 + 50) / 2.0},
	} {
		if d := got[0] - got[1]; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", name, got[0], got[1])
		}
	}
	if r.ShortStreams != 1 || r.GenTokens != 16 || r.PromptTokens != 200 {
		t.Errorf("counts %+v", r)
	}
}
