package server

import (
	"encoding/json"
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
