package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"dayi/engine"
)

const (
	limitsDoc   = "../docs/server.md"
	limitsBegin = "<!-- request-limits:begin (generated from server/limits.go; DAYI_UPDATE_DOCS=1 go test ./server -run TestRequestLimitsDocumented) -->\n"
	limitsEnd   = "<!-- request-limits:end -->"
)

// TestRequestLimitsDocumented keeps docs/server.md's "Request limits" table
// equal to the table the server enforces.
func TestRequestLimitsDocumented(t *testing.T) {
	data, err := os.ReadFile(limitsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, limitsBegin), strings.Index(doc, limitsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated request-limits block", limitsDoc)
	}
	want := limitsMarkdown()
	got := doc[i+len(limitsBegin) : j]
	if got == want {
		return
	}
	if os.Getenv("DAYI_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(limitsDoc, []byte(doc[:i+len(limitsBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's request limits differ from server/limits.go; regenerate with DAYI_UPDATE_DOCS=1.\nwant:\n%s", limitsDoc, want)
}

// TestLimitFieldsExist checks that every lim("…") in the server names a row
// of the table (lim panics otherwise), and that validate and
// checkModelBounds, which look rows up by computed names, find them all.
func TestLimitFieldsExist(t *testing.T) {
	files, _ := os.ReadDir(".")
	re := regexp.MustCompile(`lim\("([^"]+)"\)`)
	n := 0
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		src, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			n++
			func() {
				defer func() {
					if recover() != nil {
						t.Errorf("%s: lim(%q) names no row of the limits table", f.Name(), m[1])
					}
				}()
				lim(m[1])
			}()
		}
	}
	if n < 10 {
		t.Fatalf("found only %d lim calls: the pattern is stale", n)
	}
	one, f := 1, float32(0.5)
	o := options{NumPredict: &one, TopK: &one, RepeatLastN: &one, NumCtx: &one, NumKeep: &one, NumBatch: &one, NumThread: &one,
		NumGPU: &one, MainGPU: &one, Temperature: &f, TopP: &f, MinP: &f, TypicalP: &f, RepeatPenalty: &f, PresencePenalty: &f,
		FrequencyPenalty: &f, Stop: []string{"x"}, logitBias: map[int32]float32{1: 1}}
	for _, openai := range []bool{false, true} {
		if err := o.validate(openai); err != nil {
			t.Errorf("validate(%v) of in-range options: %v", openai, err)
		}
		if err := checkModelBounds(&job{opts: o, openai: openai, context: []int32{1}}, 8, 8); err != nil {
			t.Errorf("checkModelBounds(%v) of in-range options: %v", openai, err)
		}
	}
	seen := map[string]bool{}
	for _, l := range limits {
		if seen[l.Field] {
			t.Errorf("limit %q is in the table twice", l.Field)
		}
		seen[l.Field] = true
		if l.Min > l.Max || l.Note == "" && l.Unit == "" {
			t.Errorf("limit %q: min %v max %v note %q", l.Field, l.Min, l.Max, l.Note)
		}
	}
}

// hostile is one request that must be refused with a 400 naming field.
type hostile struct {
	path  string
	field string
	body  map[string]any
}

func hostileRequests() []hostile {
	gen := func(opts map[string]any) map[string]any {
		return map[string]any{"model": "dayi-tiny", "prompt": "hi", "raw": true, "options": opts}
	}
	msgs := []map[string]any{{"role": "user", "content": "hi"}}
	many := func(n int, v any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	bias := map[string]float32{}
	for i := 0; i < 1025; i++ {
		bias[fmt.Sprint(i)] = 1
	}
	huge := 10_000_000_000_000
	return []hostile{
		// finding 1 itself, then every other option as large as JSON allows
		{"/api/generate", "options.repeat_last_n", gen(map[string]any{"repeat_last_n": huge})},
		{"/api/generate", "options.repeat_last_n", gen(map[string]any{"repeat_last_n": 2049})}, // > the model's context, 2048
		{"/api/generate", "options.repeat_last_n", gen(map[string]any{"repeat_last_n": -2})},
		{"/api/generate", "options.num_predict", gen(map[string]any{"num_predict": huge})},
		{"/api/generate", "options.num_ctx", gen(map[string]any{"num_ctx": huge})},
		{"/api/generate", "options.num_keep", gen(map[string]any{"num_keep": huge})},
		{"/api/generate", "options.num_batch", gen(map[string]any{"num_batch": huge})},
		{"/api/generate", "options.num_thread", gen(map[string]any{"num_thread": huge})},
		{"/api/generate", "options.num_gpu", gen(map[string]any{"num_gpu": huge})},
		{"/api/generate", "options.main_gpu", gen(map[string]any{"main_gpu": -1})},
		{"/api/generate", "options.top_k", gen(map[string]any{"top_k": huge})},
		{"/api/generate", "options.top_k", gen(map[string]any{"top_k": 513})}, // > the vocabulary
		{"/api/generate", "options.top_p", gen(map[string]any{"top_p": 1.5})},
		{"/api/generate", "options.min_p", gen(map[string]any{"min_p": -0.1})},
		{"/api/generate", "options.typical_p", gen(map[string]any{"typical_p": 2})},
		{"/api/generate", "options.temperature", gen(map[string]any{"temperature": 1e30})},
		{"/api/generate", "options.repeat_penalty", gen(map[string]any{"repeat_penalty": 1e30})},
		{"/api/generate", "options.presence_penalty", gen(map[string]any{"presence_penalty": 3})},
		{"/api/generate", "options.frequency_penalty", gen(map[string]any{"frequency_penalty": -3})},
		{"/api/generate", "options.seed", gen(map[string]any{"seed": 1e30})},
		{"/api/generate", "options.stop", gen(map[string]any{"stop": many(17, "x")})},
		{"/api/generate", "options.stop[0]", gen(map[string]any{"stop": []string{strings.Repeat("x", 257)}})},
		{"/api/generate", "context", map[string]any{"model": "dayi-tiny", "prompt": "hi", "context": many(1<<20+1, 1)}},
		{"/api/generate", "context", map[string]any{"model": "dayi-tiny", "prompt": "hi", "context": many(2049, 1)}},
		{"/api/generate", "context[1]", map[string]any{"model": "dayi-tiny", "prompt": "hi", "context": []int{1, 512}}},
		{"/api/generate", "context[0]", map[string]any{"model": "dayi-tiny", "prompt": "hi", "context": []int{huge}}},
		{"/api/generate", "keep_alive", map[string]any{"model": "dayi-tiny", "prompt": "hi", "keep_alive": 1e30}},
		{"/api/generate", "keep_alive", map[string]any{"model": "dayi-tiny", "prompt": "hi", "keep_alive": "100000h"}},
		{"/api/generate", "images[0]", map[string]any{"model": "dayi-tiny", "prompt": "hi", "images": []string{"aGk="}}},
		{"/api/generate", "images", map[string]any{"model": "dayi-tiny", "prompt": "hi", "images": many(9, "aGk=")}},
		{"/api/generate", "images[1]", map[string]any{"model": "dayi-tiny", "prompt": "hi", "images": []any{tinyPNG, 7}}},
		{"/api/generate", "prompt", map[string]any{"model": "dayi-tiny", "prompt": "hi " + engine.ImageMarker}},
		{"/api/chat", "messages[0].images[0]", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user", "content": "x", "images": []string{"%%%"}}}}},
		{"/v1/chat/completions", "messages[0].content[0].image_url", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user",
			"content": []map[string]any{{"type": "image_url", "image_url": map[string]any{"url": "file:///etc/passwd"}}}}}}},
		{"/v1/chat/completions", "messages[0].content[1].type", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user",
			"content": []map[string]any{{"type": "text", "text": "x"}, {"type": "input_audio"}}}}}},
		{"/api/generate", "format", map[string]any{"model": "dayi-tiny", "prompt": "hi", "format": map[string]any{"description": strings.Repeat("x", 64<<10)}}},
		{"/api/generate", "prompt", map[string]any{"model": "dayi-tiny", "prompt": strings.Repeat("x", maxText+1)}},
		{"/api/generate", "system", map[string]any{"model": "dayi-tiny", "prompt": "hi", "system": strings.Repeat("x", maxText+1)}},
		{"/api/generate", "model", map[string]any{"model": strings.Repeat("m", 257), "prompt": "hi"}},
		{"/api/generate", "knowledge", map[string]any{"model": "dayi-tiny", "prompt": "hi", "knowledge": "../../etc"}},
		{"/api/generate", "patient_id", map[string]any{"model": "dayi-tiny", "prompt": "hi", "patient_id": "p\x00"}},
		{"/api/chat", "messages", map[string]any{"model": "dayi-tiny", "messages": many(4097, msgs[0])}},
		{"/api/chat", "messages[0].content", map[string]any{"model": "dayi-tiny", "messages": []map[string]any{{"role": "user", "content": strings.Repeat("x", maxText+1)}}}},
		{"/api/chat", "tools", map[string]any{"model": "dayi-tiny", "messages": msgs, "tools": many(129, map[string]any{"type": "function"})}},
		{"/api/chat", "options.repeat_last_n", map[string]any{"model": "dayi-tiny", "messages": msgs, "options": map[string]any{"repeat_last_n": huge}}},
		{"/api/embed", "input", map[string]any{"model": "dayi-tiny", "input": many(2049, "x")}},
		{"/api/embed", "dimensions", map[string]any{"model": "dayi-tiny", "input": "x", "dimensions": huge}},
		{"/api/embed", "keep_alive", map[string]any{"model": "dayi-tiny", "input": "x", "keep_alive": "1000000h"}},
		{"/v1/chat/completions", "max_tokens", map[string]any{"model": "dayi-tiny", "messages": msgs, "max_tokens": huge}},
		{"/v1/chat/completions", "max_tokens", map[string]any{"model": "dayi-tiny", "messages": msgs, "max_completion_tokens": -1}},
		{"/v1/chat/completions", "n", map[string]any{"model": "dayi-tiny", "messages": msgs, "n": huge}},
		{"/v1/chat/completions", "temperature", map[string]any{"model": "dayi-tiny", "messages": msgs, "temperature": 3}},
		{"/v1/chat/completions", "top_p", map[string]any{"model": "dayi-tiny", "messages": msgs, "top_p": -1}},
		{"/v1/chat/completions", "presence_penalty", map[string]any{"model": "dayi-tiny", "messages": msgs, "presence_penalty": 100}},
		{"/v1/chat/completions", "stop", map[string]any{"model": "dayi-tiny", "messages": msgs, "stop": many(17, "x")}},
		{"/v1/chat/completions", "stop[0]", map[string]any{"model": "dayi-tiny", "messages": msgs, "stop": strings.Repeat("x", 257)}},
		{"/v1/chat/completions", "logit_bias", map[string]any{"model": "dayi-tiny", "messages": msgs, "logit_bias": bias}},
		{"/v1/chat/completions", "logit_bias", map[string]any{"model": "dayi-tiny", "messages": msgs, "logit_bias": map[string]float32{"1": 1000}}},
		{"/v1/chat/completions", "logit_bias", map[string]any{"model": "dayi-tiny", "messages": msgs, "logit_bias": map[string]float32{"512": 1}}},
		{"/v1/chat/completions", "messages", map[string]any{"model": "dayi-tiny", "messages": many(4097, msgs[0])}},
		{"/v1/chat/completions", "tools", map[string]any{"model": "dayi-tiny", "messages": msgs, "tools": many(129, map[string]any{"type": "function"})}},
		{"/v1/chat/completions", "response_format.json_schema.schema", map[string]any{"model": "dayi-tiny", "messages": msgs,
			"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"schema": map[string]any{"description": strings.Repeat("x", 64<<10)}}}}},
		{"/v1/completions", "prompt", map[string]any{"model": "dayi-tiny", "prompt": strings.Repeat("x", maxText+1)}},
		{"/v1/completions", "max_tokens", map[string]any{"model": "dayi-tiny", "prompt": "x", "max_tokens": huge}},
		{"/v1/embeddings", "input", map[string]any{"model": "dayi-tiny", "input": many(2049, "x")}},
	}
}

// TestFinding1_OversizedOptionDoesNotKillServer is issue 15's finding 1:
// {"options":{"repeat_last_n":10000000000000}} made the sampler allocate
// 40 TB and the whole server die. Every field out of its range must now be
// a 400 that names the field (OpenAI's param too), and the server must
// answer the next well-formed request with llama.cpp's greedy text.
func TestFinding1_OversizedOptionDoesNotKillServer(t *testing.T) {
	_, hs := testServer(t, Config{MaxBodyBytes: 16 << 20})
	rc := llamaCppCases(t)[0]
	for _, h := range hostileRequests() {
		st, body, _ := post(t, hs, h.path, h.body)
		if st != 400 {
			t.Errorf("%s %s: status %d, want 400 (%.200s)", h.path, h.field, st, body)
			continue
		}
		var e struct {
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("%s %s: not a JSON error: %.200s", h.path, h.field, body)
			continue
		}
		if strings.HasPrefix(h.path, "/v1/") {
			var oe struct {
				Message string `json:"message"`
				Param   string `json:"param"`
			}
			json.Unmarshal(e.Error, &oe)
			if oe.Param != h.field || !strings.HasPrefix(oe.Message, h.field+":") {
				t.Errorf("%s: param %q message %q, want the field %q", h.path, oe.Param, oe.Message, h.field)
			}
			continue
		}
		var msg string
		json.Unmarshal(e.Error, &msg)
		if !strings.HasPrefix(msg, h.field+":") {
			t.Errorf("%s: error %q does not name %q", h.path, msg, h.field)
		}
		if len(msg) > 300 {
			t.Errorf("%s %s: %d-byte error echoes the request", h.path, h.field, len(msg))
		}
	}
	// Within the byte bound but over the model's context: still a 400, and
	// under /v1/ the param says which field to shorten.
	st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny",
		"messages": []map[string]string{{"role": "user", "content": strings.Repeat("the cat sat. ", 1000)}}})
	var oe openaiErr
	if json.Unmarshal(body, &oe); st != 400 || oe.Error.Param == nil || *oe.Error.Param != "messages" {
		t.Errorf("over the context: %d %s", st, body)
	}
	// The server is still up and generates exactly what it did before.
	var out strings.Builder
	err := ollamaClient(t, hs).Generate(context.Background(), &api.GenerateRequest{Model: "dayi-tiny", Prompt: rc.Prompt, Raw: true,
		Options: greedy(rc.NPredict)}, func(r api.GenerateResponse) error { out.WriteString(r.Response); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimPrefix(out.String(), " "); got != rc.GeneratedText {
		t.Fatalf("after the hostile requests: %q, want llama.cpp's %q", got, rc.GeneratedText)
	}
}

// TestLimitsAcceptTheirBounds checks the edges of the ranges are accepted:
// Ollama's -1 window (the whole context), -2 num_predict, negative
// keep_alive, the model's own context and vocabulary as maxima.
func TestLimitsAcceptTheirBounds(t *testing.T) {
	_, hs := testServer(t, Config{})
	for _, opts := range []map[string]any{
		{"repeat_last_n": -1, "repeat_penalty": 1.3, "num_predict": 4},
		{"repeat_last_n": 2048, "top_k": 512, "num_predict": 4, "num_keep": -1, "num_ctx": 2048},
		{"num_predict": -2, "top_p": 0, "min_p": 1, "typical_p": 0.5, "temperature": 0, "stop": []string{"."}},
	} {
		st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "Once", "raw": true, "stream": false,
			"keep_alive": -1, "options": opts})
		if st != 200 {
			t.Errorf("options %v: %d %s", opts, st, body)
		}
	}
	st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "max_tokens": 4, "temperature": 2,
		"logit_bias": map[string]float32{"511": -100}, "stop": []string{"a", "b", "c", "d"},
		"messages": []map[string]any{{"role": "user", "content": "hi"}}})
	if st != 200 {
		t.Errorf("OpenAI edges: %d %s", st, body)
	}
}
