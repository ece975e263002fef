package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"dayi/auth"
	"dayi/internal/synthtest"
)

// encoderRef is the part of engine/testdata/embed/*.json (llama.cpp's
// embeddings and rerank scores of the tiny bert presets, F16 K/V as
// llama.cpp's flash attention and dayi serve's default cache) these tests
// read.
type encoderRef struct {
	Query string `json:"query"`
	Cases []struct {
		Text      string    `json:"text"`
		Embedding []float64 `json:"embedding"`
		Document  string    `json:"document"`
		Score     float64   `json:"score"`
	} `json:"cases"`
}

func readEncoderRef(t *testing.T, name string) encoderRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "engine", "testdata", "embed", name))
	if err != nil {
		t.Fatal(err)
	}
	var ref encoderRef
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// writeSynth writes a synth preset (seed 7, f32) to dir/NAME.gguf.
func writeSynth(t *testing.T, dir, preset string) string {
	t.Helper()
	p := filepath.Join(dir, preset+".gguf")
	if err := os.WriteFile(p, synthtest.Bytes(t, synthtest.Spec(t, preset), 7, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encoderServer(t *testing.T, cfg Config, start func(*testing.T, Config) (*Server, *httptest.Server)) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	cfg.ModelPaths = []string{writeSynth(t, dir, "tiny-bert"), writeSynth(t, dir, "tiny-bert-rank")}
	_, hs := start(t, cfg)
	return hs
}

func unitL2(v []float64) []float64 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / math.Sqrt(n)
	}
	return out
}

func maxDiff(a []float32, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-b[i]))
	}
	return d
}

// The bert encoder serves Ollama's /api/embed and /api/embeddings (through
// Ollama's own Go client) and OpenAI's /v1/embeddings (float and base64,
// `dimensions` truncation): each gives llama.cpp's normalised embedding.
func TestEncoderEmbeddingAPIs(t *testing.T) {
	hs := encoderServer(t, Config{}, testServer)
	ref := readEncoderRef(t, "tiny-bert-fa.json")
	const tol = 4e-4 // engine/bert_test.go: F16 K/V against llama.cpp's flash attention
	c := ollamaClient(t, hs)
	ctx := context.Background()
	var texts []string
	for _, cs := range ref.Cases {
		texts = append(texts, cs.Text)
	}
	er, err := c.Embed(ctx, &api.EmbedRequest{Model: "tiny-bert", Input: texts})
	if err != nil {
		t.Fatal(err)
	}
	if len(er.Embeddings) != len(texts) || er.PromptEvalCount == 0 {
		t.Fatalf("%d embeddings, %d tokens", len(er.Embeddings), er.PromptEvalCount)
	}
	for i, cs := range ref.Cases {
		if d := maxDiff(er.Embeddings[i], unitL2(cs.Embedding)); d > tol {
			t.Errorf("/api/embed %q: differs from llama.cpp by %g", cs.Text, d)
		}
	}
	old, err := c.Embeddings(ctx, &api.EmbeddingRequest{Model: "tiny-bert", Prompt: texts[1]})
	if err != nil {
		t.Fatal(err)
	}
	want1 := unitL2(ref.Cases[1].Embedding)
	for j, v := range old.Embedding {
		if math.Abs(v-want1[j]) > tol {
			t.Fatalf("/api/embeddings [%d] = %g, llama.cpp %g", j, v, want1[j])
		}
	}

	// OpenAI: float, base64 (little-endian float32s), dimensions.
	for _, format := range []string{"float", "base64"} {
		st, body, _ := post(t, hs, "/v1/embeddings", map[string]any{"model": "tiny-bert", "input": texts[:2], "encoding_format": format})
		if st != 200 {
			t.Fatalf("%s: %d %s", format, st, body)
		}
		var resp struct {
			Data []struct {
				Index     int             `json:"index"`
				Embedding json.RawMessage `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &resp); err != nil || len(resp.Data) != 2 {
			t.Fatalf("%s: %v %s", format, err, body)
		}
		for i, d := range resp.Data {
			var v []float32
			if format == "float" {
				json.Unmarshal(d.Embedding, &v)
			} else {
				var s string
				json.Unmarshal(d.Embedding, &s)
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil || len(raw)%4 != 0 {
					t.Fatalf("base64: %v (%d bytes)", err, len(raw))
				}
				for k := 0; k < len(raw); k += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[k:])))
				}
			}
			if dd := maxDiff(v, unitL2(ref.Cases[d.Index].Embedding)); d.Index != i || dd > tol {
				t.Errorf("%s: data[%d] (index %d) differs from llama.cpp by %g", format, i, d.Index, dd)
			}
		}
	}
	// Matryoshka truncation: the first 16 values of llama.cpp's pooled
	// vector, renormalised.
	st, body, _ := post(t, hs, "/v1/embeddings", map[string]any{"model": "tiny-bert", "input": texts[0], "dimensions": 16})
	var short struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if st != 200 || json.Unmarshal(body, &short) != nil || len(short.Data) != 1 {
		t.Fatalf("dimensions 16: %d %s", st, body)
	}
	if d := maxDiff(short.Data[0].Embedding, unitL2(ref.Cases[0].Embedding[:16])); d > tol {
		t.Errorf("dimensions 16: differs from llama.cpp's truncated vector by %g", d)
	}
}

// Every field of the embedding and rerank requests is bounded with a 400
// that names it; models are used only for what they are.
func TestEncoderRequestBounds(t *testing.T) {
	hs := encoderServer(t, Config{}, testServer)
	many := make([]string, maxEmbedInputs+1)
	for i := range many {
		many[i] = "x"
	}
	manyDocs := make([]string, maxRerankDocs+1)
	for i := range manyDocs {
		manyDocs[i] = "doc"
	}
	for _, tc := range []struct {
		path  string
		body  any
		field string
	}{
		{"/api/embed", map[string]any{"model": "tiny-bert", "input": many}, "input"},
		{"/v1/embeddings", map[string]any{"model": "tiny-bert", "input": many}, "input"},
		{"/v1/embeddings", map[string]any{"model": "tiny-bert", "input": "a", "dimensions": 65}, "dimensions"},
		{"/v1/embeddings", map[string]any{"model": "tiny-bert", "input": "a", "dimensions": -1}, "dimensions"},
		{"/api/embed", map[string]any{"model": "tiny-bert", "input": "a", "dimensions": 1 << 30}, "dimensions"},
		{"/api/embed", map[string]any{"model": "tiny-bert-rank", "input": "a"}, "tiny-bert-rank"},
		{"/api/generate", map[string]any{"model": "tiny-bert", "prompt": "a", "stream": false}, "does not generate"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": manyDocs}, "documents"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q"}, "documents"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": []string{}}, "documents"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": []string{"a", ""}}, "documents[1]"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": 7}, "documents"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "documents": []string{"a"}}, "query"},
		{"/v1/rerank", map[string]any{"query": "q", "documents": []string{"a"}}, "model"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": []string{"a"}, "top_n": 0}, "top_n"},
		{"/api/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": []string{"a"}, "top_n": -5}, "top_n"},
		{"/v1/rerank", map[string]any{"model": "tiny-bert", "query": "q", "documents": []string{"a"}}, "not a reranker"},
		// A pair longer than the context (256) is refused, naming the document.
		{"/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": []string{"a", strings.Repeat("word ", 300)}}, "documents[1]"},
	} {
		st, body, _ := post(t, hs, tc.path, tc.body)
		if st != http.StatusBadRequest || !strings.Contains(string(body), tc.field) {
			t.Errorf("%s (want 400 naming %q): %d %.300s", tc.path, tc.field, st, body)
		}
	}
}

// /v1/rerank and /api/rerank (llama.cpp server's shape) give llama.cpp's
// raw scores, sorted, with top_n and the documents when asked.
func TestRerankAPI(t *testing.T) {
	hs := encoderServer(t, Config{}, testServer)
	ref := readEncoderRef(t, "tiny-bert-rank-fa.json")
	var docs []string
	for _, c := range ref.Cases {
		docs = append(docs, c.Document)
	}
	type result struct {
		Index          int     `json:"index"`
		RelevanceScore float64 `json:"relevance_score"`
		Document       *struct {
			Text string `json:"text"`
		} `json:"document"`
	}
	var resp struct {
		Model   string   `json:"model"`
		Object  string   `json:"object"`
		Results []result `json:"results"`
		Usage   struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	for _, path := range []string{"/v1/rerank", "/api/rerank"} {
		st, body, _ := post(t, hs, path, map[string]any{"model": "tiny-bert-rank", "query": ref.Query, "documents": docs})
		if st != 200 || json.Unmarshal(body, &resp) != nil {
			t.Fatalf("%s: %d %s", path, st, body)
		}
		if resp.Object != "list" || len(resp.Results) != len(docs) || resp.Usage.PromptTokens == 0 {
			t.Fatalf("%s: %s", path, body)
		}
		seen := map[int]bool{}
		for i, r := range resp.Results {
			if d := math.Abs(r.RelevanceScore - ref.Cases[r.Index].Score); d > 1e-3 {
				t.Errorf("%s: document %d scores %g, llama.cpp %g", path, r.Index, r.RelevanceScore, ref.Cases[r.Index].Score)
			}
			if i > 0 && r.RelevanceScore > resp.Results[i-1].RelevanceScore {
				t.Errorf("%s: results not sorted: %s", path, body)
			}
			if r.Document != nil {
				t.Errorf("%s: document returned unasked", path)
			}
			seen[r.Index] = true
		}
		if len(seen) != len(docs) {
			t.Errorf("%s: indexes %v", path, seen)
		}
	}
	// top_n and return_documents; documents as Cohere's objects.
	objs := []map[string]string{}
	for _, d := range docs {
		objs = append(objs, map[string]string{"text": d})
	}
	st, body, _ := post(t, hs, "/v1/rerank", map[string]any{"model": "tiny-bert-rank", "query": ref.Query, "documents": objs,
		"top_n": 2, "return_documents": true})
	resp.Results = nil
	if st != 200 || json.Unmarshal(body, &resp) != nil || len(resp.Results) != 2 {
		t.Fatalf("top_n 2: %d %s", st, body)
	}
	best, second := -1, -1
	for i, c := range ref.Cases {
		if best < 0 || c.Score > ref.Cases[best].Score {
			best, second = i, best
		} else if second < 0 || c.Score > ref.Cases[second].Score {
			second = i
		}
	}
	if resp.Results[0].Index != best || resp.Results[1].Index != second {
		t.Errorf("top 2: %d, %d; llama.cpp's best two %d, %d", resp.Results[0].Index, resp.Results[1].Index, best, second)
	}
	if d := resp.Results[0].Document; d == nil || d.Text != docs[best] {
		t.Errorf("return_documents: %+v", d)
	}
}

// /v1/rerank sits behind the generate scope, like the embedding routes.
func TestRerankNeedsGenerateScope(t *testing.T) {
	path, keys := keysFile(t, map[string][]auth.Scope{"kb": {auth.KBRead}, "gen": {auth.Generate}})
	hs := encoderServer(t, Config{KeysFile: path}, authServer)
	body := map[string]any{"model": "tiny-bert-rank", "query": "q", "documents": []string{"a"}}
	for _, p := range []string{"/v1/rerank", "/api/rerank"} {
		if st, b, _ := post(t, hs, p, body); st != http.StatusUnauthorized {
			t.Errorf("%s without a key: %d %s", p, st, b)
		}
		if st, b, _ := post(t, hs, p, body, "Authorization", "Bearer "+keys["kb"]); st != http.StatusForbidden {
			t.Errorf("%s with a kb:read key: %d %s", p, st, b)
		}
		if st, b, _ := post(t, hs, p, body, "Authorization", "Bearer "+keys["gen"]); st != http.StatusOK {
			t.Errorf("%s with a generate key: %d %s", p, st, b)
		}
	}
}
