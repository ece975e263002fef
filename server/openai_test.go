package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"dayi/engine/jsonschema"
)

// sse splits a server-sent event stream into its data payloads.
func sse(t *testing.T, body []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		} else if sc.Text() != "" {
			t.Fatalf("unexpected SSE line %q", sc.Text())
		}
	}
	return out
}

func TestOpenAIChatStreamAndUsage(t *testing.T) {
	_, hs := testServer(t, Config{})
	msgs := []map[string]string{{"role": "user", "content": "Tell me a story."}}
	st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "messages": msgs, "max_tokens": 20, "temperature": 0})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var whole oaResponse
	json.Unmarshal(body, &whole)
	if whole.Object != "chat.completion" || len(whole.Choices) != 1 || whole.Usage.CompletionTokens != 20 ||
		*whole.Choices[0].FinishReason != "length" || whole.Choices[0].Message.Role != "assistant" {
		t.Fatalf("non-streamed: %s", body)
	}
	st, body, hdr := post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "messages": msgs, "max_tokens": 20,
		"temperature": 0, "stream": true, "stream_options": map[string]bool{"include_usage": true}})
	if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v", st, hdr)
	}
	events := sse(t, body)
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("no [DONE]: %v", events)
	}
	var text strings.Builder
	var usage *oaUsage
	finish := ""
	for i, e := range events[:len(events)-1] {
		var c oaResponse
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if c.Object != "chat.completion.chunk" || c.ID != whole.ID && c.ID == "" {
			t.Fatalf("chunk %s", e)
		}
		if c.Usage != nil {
			usage = c.Usage
			if len(c.Choices) != 0 {
				t.Fatal("usage chunk has choices")
			}
			continue
		}
		if d := c.Choices[0].Delta; d != nil && d.Content != nil {
			text.WriteString(*d.Content)
		}
		if f := c.Choices[0].FinishReason; f != nil {
			finish = *f
		}
	}
	if text.String() != *whole.Choices[0].Message.Content || finish != "length" || usage == nil || usage.CompletionTokens != 20 ||
		usage.TotalTokens != usage.PromptTokens+20 {
		t.Fatalf("streamed %q finish %q usage %+v; whole %q", text.String(), finish, usage, *whole.Choices[0].Message.Content)
	}
}

func TestOpenAIJSONSchemaStopSeed(t *testing.T) {
	_, hs := testServer(t, Config{})
	schema := json.RawMessage(`{"type":"object","properties":{"diagnosis":{"type":"string","maxLength":12},"urgent":{"type":"boolean"}},"required":["diagnosis","urgent"],"additionalProperties":false}`)
	st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "max_tokens": 80, "temperature": 0,
		"messages":        []map[string]string{{"role": "user", "content": "Diagnose."}},
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "dx", "schema": schema}}})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var r oaResponse
	json.Unmarshal(body, &r)
	out := *r.Choices[0].Message.Content
	if *r.Choices[0].FinishReason == "stop" {
		if err := jsonschema.Validate(schema, []byte(out)); err != nil {
			t.Fatalf("answer %q does not satisfy the schema: %v", out, err)
		}
	} else if !strings.HasPrefix(out, "{") {
		t.Fatalf("constrained output %q", out)
	}
	// stop: generation ends before the stop text, which is not returned.
	st, body, _ = post(t, hs, "/v1/completions", map[string]any{"model": "dayi-tiny", "prompt": "Once upon a time", "max_tokens": 64,
		"temperature": 0, "stop": "Lily"})
	json.Unmarshal(body, &r)
	if st != 200 || r.Object != "text_completion" || *r.Choices[0].FinishReason != "stop" || *r.Choices[0].Text != ", there was a little girl named " {
		t.Fatalf("stop: %d %s", st, body)
	}
	// seed: the same seed gives the same sampled text.
	gen := func(seed int) string {
		_, body, _ := post(t, hs, "/v1/completions", map[string]any{"model": "dayi-tiny", "prompt": "Once", "max_tokens": 24, "temperature": 1.2, "seed": seed})
		var r oaResponse
		json.Unmarshal(body, &r)
		return *r.Choices[0].Text
	}
	if a, b := gen(7), gen(7); a != b {
		t.Fatalf("seed 7 gave %q and %q", a, b)
	}
	// max_tokens defaults to 16 on /v1/completions as in OpenAI.
	_, body, _ = post(t, hs, "/v1/completions", map[string]any{"model": "dayi-tiny", "prompt": "Once", "temperature": 0})
	json.Unmarshal(body, &r)
	if r.Usage.CompletionTokens != 16 {
		t.Fatalf("default max_tokens: %s", body)
	}
}

func TestOpenAIEmbeddingsModelsErrors(t *testing.T) {
	_, hs := testServer(t, Config{})
	var f, b struct {
		Data []struct {
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	_, body, _ := post(t, hs, "/v1/embeddings", map[string]any{"model": "dayi-tiny", "input": []string{"pain", "fever"}})
	json.Unmarshal(body, &f)
	_, body, _ = post(t, hs, "/v1/embeddings", map[string]any{"model": "dayi-tiny", "input": []string{"pain", "fever"}, "encoding_format": "base64"})
	json.Unmarshal(body, &b)
	if len(f.Data) != 2 || len(b.Data) != 2 || f.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings: %s", body)
	}
	for i := range f.Data {
		var fl []float32
		var s string
		json.Unmarshal(f.Data[i].Embedding, &fl)
		json.Unmarshal(b.Data[i].Embedding, &s)
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != 4*len(fl) {
			t.Fatalf("base64 embedding: %v", err)
		}
		for k, v := range fl {
			if math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:])) != v {
				t.Fatal("base64 and float embeddings differ")
			}
		}
	}
	resp, err := hs.Client().Get(hs.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var ml struct {
		Object string    `json:"object"`
		Data   []oaModel `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&ml)
	resp.Body.Close()
	if ml.Object != "list" || len(ml.Data) == 0 || ml.Data[0].ID != "dayi-tiny" {
		t.Fatalf("models %+v", ml)
	}
	st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "gpt-4o", "messages": []map[string]string{{"role": "user", "content": "x"}}})
	var oe openaiErr
	if st != 404 || json.Unmarshal(body, &oe) != nil || oe.Error.Code == nil || *oe.Error.Code != "model_not_found" || !strings.Contains(oe.Error.Message, "gpt-4o") || strings.Contains(oe.Error.Message, "dayi-tiny") {
		t.Fatalf("unknown model: %d %s", st, body)
	}
	st, body, _ = post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "n": 3, "messages": []map[string]string{{"role": "user", "content": "x"}}})
	if st != 400 || !strings.Contains(string(body), "invalid_request_error") {
		t.Fatalf("n=3: %d %s", st, body)
	}
}

// fakeKB is a knowledge base with fixed passages.
type fakeKB struct {
	mu      sync.Mutex
	queries []string
	budgets []int
}

func (k *fakeKB) Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]Passage, error) {
	if kb != "guidelines" {
		return nil, errors.New("no such knowledge base")
	}
	k.mu.Lock()
	k.queries, k.budgets = append(k.queries, query), append(k.budgets, maxTokens)
	k.mu.Unlock()
	return []Passage{
		{ID: 41, Source: "who-sepsis.pdf", Title: "Sepsis care", Location: "p. 12", Text: "Give antibiotics within one hour."},
		{ID: 7, Source: "huge.pdf", Title: "Huge", Text: strings.Repeat("lorem ipsum dolor ", 400)}, // over budget: dropped
		{ID: 99, Source: "fluids.pdf", Title: "Fluids", Location: "sec. 3", Text: "Give 30 ml/kg crystalloid."},
	}, nil
}

type fakeMemory struct {
	mu    sync.Mutex
	turns map[string][]Turn
}

func (m *fakeMemory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	if patientID == "p-1" {
		return "Allergic to penicillin.", nil
	}
	return "", nil
}

func (m *fakeMemory) Record(ctx context.Context, patientID string, turn Turn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.turns[patientID] = append(m.turns[patientID], turn)
	return nil
}

func TestKnowledgeAndMemory(t *testing.T) {
	rec := &recorder{}
	kb := &fakeKB{}
	mem := &fakeMemory{turns: map[string][]Turn{}}
	_, hs := testServer(t, Config{Knowledge: kb, Memory: mem, NewGenerator: rec.hook()})
	st, body, _ := post(t, hs, "/api/chat", map[string]any{"model": "dayi-tiny", "stream": false, "options": greedy(8),
		"knowledge": "guidelines", "patient_id": "p-1", "messages": []map[string]string{{"role": "user", "content": "How to treat sepsis?"}}})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var r chatChunk
	json.Unmarshal(body, &r)
	if len(r.Citations) != 2 || r.Citations[0] != (Citation{N: 1, Source: "who-sepsis.pdf", Title: "Sepsis care", Location: "p. 12", ChunkID: 41}) ||
		r.Citations[1].N != 2 || r.Citations[1].ChunkID != 99 {
		t.Fatalf("citations %+v", r.Citations)
	}
	p := rec.last()
	for _, want := range []string{"[1] Sepsis care (p. 12)", "Give antibiotics within one hour.", "[2] Fluids (sec. 3)", "Allergic to penicillin.", "How to treat sepsis?", "<|im_start|>system"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "lorem") {
		t.Error("over-budget passage reached the prompt")
	}
	if kb.queries[0] != "How to treat sepsis?" || kb.budgets[0] <= 0 || kb.budgets[0] > 1024 {
		t.Errorf("retriever got %q budget %d", kb.queries[0], kb.budgets[0])
	}
	if turns := mem.turns["p-1"]; len(turns) != 1 || turns[0].User != "How to treat sepsis?" || turns[0].Assistant != r.Message.Content {
		t.Errorf("memory recorded %+v", turns)
	}
	// OpenAI and generate endpoints carry citations too.
	_, body, _ = post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "max_tokens": 4, "knowledge": "guidelines",
		"messages": []map[string]string{{"role": "user", "content": "sepsis?"}}})
	var o oaResponse
	json.Unmarshal(body, &o)
	if len(o.Citations) != 2 {
		t.Fatalf("openai citations: %s", body)
	}
	_, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "sepsis", "stream": false, "knowledge": "guidelines", "options": greedy(4)})
	var g generateChunk
	json.Unmarshal(body, &g)
	if len(g.Citations) != 2 || !strings.Contains(rec.last(), "[1] Sepsis care") {
		t.Fatalf("generate citations: %s", body)
	}
	// Unknown knowledge base: the retriever's error.
	st, _, _ = post(t, hs, "/api/chat", map[string]any{"model": "dayi-tiny", "knowledge": "nope", "messages": []map[string]string{{"role": "user", "content": "x"}}})
	if st != 500 {
		t.Fatalf("unknown kb status %d", st)
	}
	// Without a configured knowledge base or memory: 400.
	_, bare := testServer(t, Config{})
	for _, extra := range []map[string]any{{"knowledge": "guidelines"}, {"patient_id": "p-1"}} {
		req := map[string]any{"model": "dayi-tiny", "messages": []map[string]string{{"role": "user", "content": "x"}}}
		for k, v := range extra {
			req[k] = v
		}
		st, body, _ := post(t, bare, "/api/chat", req)
		if st != 400 || !strings.Contains(string(body), "configured") {
			t.Fatalf("%v without config: %d %s", extra, st, body)
		}
	}
}

// TestExtraHandlers: mounted handlers sit behind auth, audit and metrics.
func TestExtraHandlers(t *testing.T) {
	extra := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("clinic ok")) })
	_, hs := testServer(t, Config{APIKeys: []string{"k"}, Extra: map[string]http.Handler{"/api/clinic/": extra}})
	resp, _ := hs.Client().Get(hs.URL + "/api/clinic/triage")
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("extra handler without key: %d", resp.StatusCode)
	}
	st, body, _ := post(t, hs, "/api/clinic/triage", "{}", "Authorization", "Bearer k")
	if st != 200 || string(body) != "clinic ok" {
		t.Fatalf("%d %s", st, body)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, _ = hs.Client().Do(req)
	var m bytes.Buffer
	m.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(m.String(), `dayi_requests_total{endpoint="/api/clinic/",status="200"} 1`) {
		t.Fatalf("extra handler not in metrics:\n%s", m.String())
	}
}
