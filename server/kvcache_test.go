package server

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"dayi/engine"
)

type genResp struct {
	Response   string  `json:"response"`
	DoneReason string  `json:"done_reason"`
	EvalCount  int     `json:"eval_count"`
	PromptEval int     `json:"prompt_eval_count"`
	Context    []int32 `json:"context"`
	Error      string  `json:"error"`
}

func generateOnce(t *testing.T, post func(body any) (int, []byte), body map[string]any) (int, genResp) {
	t.Helper()
	st, data := post(body)
	var r genResp
	if st == 200 {
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
	} else {
		_ = json.Unmarshal(data, &r)
	}
	return st, r
}

// A generation asked for more tokens than the context holds shifts the
// context and goes on (as Ollama does); options.shift=false and
// --no-ctx-shift stop it at the context end with done_reason "length";
// /metrics counts prefix-cache hits, reused tokens and shifts.
func TestServerContextShiftAndPrefixMetrics(t *testing.T) {
	const ctxLen = 64
	for _, noShift := range []bool{false, true} {
		_, hs := testServer(t, Config{Engine: engine.Options{Backend: "dayi", ContextLength: ctxLen}, NoCtxShift: noShift})
		postGen := func(body any) (int, []byte) { st, b, _ := post(t, hs, "/api/generate", body); return st, b }
		opts := greedy(150)
		opts["num_keep"] = 8
		body := map[string]any{"model": "dayi-tiny", "prompt": "Once upon a time", "stream": false, "options": opts}
		st, r := generateOnce(t, postGen, body)
		if st != 200 {
			t.Fatalf("status %d: %s", st, r.Error)
		}
		if noShift {
			if r.DoneReason != "length" || r.EvalCount != ctxLen-r.PromptEval+1 {
				t.Fatalf("--no-ctx-shift: %d tokens after a %d-token prompt, %q", r.EvalCount, r.PromptEval, r.DoneReason)
			}
			continue
		}
		if r.DoneReason != "length" || r.EvalCount != 150 {
			t.Fatalf("shift: %d tokens, %q (want 150, past the context of %d)", r.EvalCount, r.DoneReason, ctxLen)
		}
		// The same request again starts from the cached prompt.
		if st, r2 := generateOnce(t, postGen, body); st != 200 || r2.Response != r.Response {
			t.Fatalf("repeat: %d %q vs %q", st, r2.Response, r.Response)
		}
		opts["shift"] = false
		st, r = generateOnce(t, postGen, body)
		if st != 200 || r.DoneReason != "length" || r.EvalCount != ctxLen-r.PromptEval+1 {
			t.Fatalf("options.shift=false: %d, %d tokens, %q", st, r.EvalCount, r.DoneReason)
		}
		delete(opts, "shift")
		opts["num_predict"] = -2 // fill the context: no shift
		if st, r = generateOnce(t, postGen, body); st != 200 || r.EvalCount != ctxLen-r.PromptEval+1 {
			t.Fatalf("num_predict -2: %d, %d tokens, %q", st, r.EvalCount, r.DoneReason)
		}
		// Ollama's request-level "shift": false stops too.
		opts["num_predict"] = 150
		body["shift"] = false
		if st, r = generateOnce(t, postGen, body); st != 200 || r.DoneReason != "length" || r.EvalCount != ctxLen-r.PromptEval+1 {
			t.Fatalf(`"shift": false: %d, %d tokens, %q`, st, r.EvalCount, r.DoneReason)
		}
		delete(body, "shift")
		// A prompt longer than the context is refused unless truncate is
		// asked for; then its first num_keep tokens and its end are kept.
		long := strings.Repeat("Once upon a time there was a dog. ", 20)
		lb := map[string]any{"model": "dayi-tiny", "prompt": long, "stream": false, "options": greedy(3)}
		if st, r = generateOnce(t, postGen, lb); st != 400 || !strings.Contains(r.Error, "prompt is") {
			t.Fatalf("long prompt: %d %q", st, r.Error)
		}
		lb["truncate"] = true
		if st, r = generateOnce(t, postGen, lb); st != 200 || r.PromptEval != ctxLen-1 || r.EvalCount != 3 {
			t.Fatalf("truncated prompt: %d, %d prompt tokens, %d generated, %q", st, r.PromptEval, r.EvalCount, r.Error)
		}
		opts["num_keep"] = -7
		if st, r = generateOnce(t, postGen, body); st != 400 {
			t.Fatalf("num_keep -7: status %d %q", st, r.Error)
		}
		mv := func(name string) int { return int(metricValue(t, hs, name+`{model="dayi-tiny"}`)) }
		if h := mv("dayi_prefix_cache_hits_total"); h < 3 {
			t.Errorf("prefix cache hits %d, want ≥ 3", h)
		}
		if n := mv("dayi_prefix_cache_misses_total"); n != 1 {
			t.Errorf("prefix cache misses %d, want 1", n)
		}
		if n := mv("dayi_prefix_cache_tokens_reused_total"); n < 3*(r.PromptEval-1) {
			t.Errorf("tokens reused %d", n)
		}
		if n := mv("dayi_context_shifts_total"); n < 4 {
			t.Errorf("context shifts %d, want ≥ 4 (two generations of 150 tokens in a context of %d)", n, ctxLen)
		}
	}
}

// truncatePrompt keeps the first num_keep tokens (at most half the limit)
// and the most recent ones.
func TestTruncatePrompt(t *testing.T) {
	ids := make([]int32, 100)
	for i := range ids {
		ids[i] = int32(i)
	}
	cases := []struct {
		keep       *int
		limit      int
		head, tail int
	}{
		{nil, 10, 4, 6}, {ptr(0), 10, 0, 10}, {ptr(2), 10, 2, 8}, {ptr(50), 10, 5, 5}, {ptr(-1), 10, 5, 5},
	}
	for _, c := range cases {
		got := truncatePrompt(ids, c.limit, &options{NumKeep: c.keep})
		want := append(append([]int32(nil), ids[:c.head]...), ids[100-c.tail:]...)
		if len(got) != c.limit || !slices.Equal(got, want) {
			t.Errorf("keep %v limit %d: %v, want %v", c.keep, c.limit, got, want)
		}
	}
}
