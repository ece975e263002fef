package server

import (
	"context"
	"strings"
	"testing"

	"dayi/engine"
)

// Regression tests for the holes found attacking the image paths merged on
// 2026-12-06 (issues 15/19/17 follow-up).

// nestedMarker survives one pass of strings.ReplaceAll(s, marker, ""):
// removing the inner marker joins its halves into a new one.
const nestedMarker = "<__med" + engine.ImageMarker + "ia__>"

// markerKB is a knowledge base whose passage nests the image marker, as a
// hostile document imported into it can.
type markerKB struct{}

func (markerKB) Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]Passage, error) {
	return []Passage{{ID: 1, Source: "x.pdf", Title: "Doc", Text: "see " + nestedMarker + nestedMarker + " here"}}, nil
}

// markerMemory recalls a turn whose answer nests the marker (a model can be
// steered to write it; it then comes back as grounding in a later request).
type markerMemory struct{}

func (markerMemory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	return "User: x\nAssistant: " + nestedMarker, nil
}
func (markerMemory) Record(ctx context.Context, patientID string, turn Turn) error { return nil }

// An image marker that a knowledge passage, a recalled memory or a
// client's Ollama tool description carries, nested so that one pass of
// removal rebuilds it, never reaches the prompt: with images, the engine
// would put a request's image (or read past its images) where that text
// stands.
func TestNestedImageMarkerStripped(t *testing.T) {
	rec := &recorder{}
	_, hs := testServer(t, Config{Knowledge: markerKB{}, Memory: markerMemory{}, NewGenerator: rec.hook()})
	// A raw body: json.Marshal would escape the marker's < and >, which
	// Ollama's raw tools then keep escaped.
	tools := `{"model": "dayi-tiny", "stream": false, "options": {"temperature": 0, "num_predict": 1}, "messages": [{"role": "user", "content": "q"}],
		"tools": [{"type": "function", "function": {"name": "f", "description": "a ` + nestedMarker + ` b", "parameters": {"type": "object"}}}]}`
	for name, body := range map[string]any{
		"knowledge": map[string]any{"model": "dayi-tiny", "stream": false, "options": greedy(1), "knowledge": "kb",
			"messages": []map[string]string{{"role": "user", "content": "q"}}},
		"memory": map[string]any{"model": "dayi-tiny", "stream": false, "options": greedy(1), "patient_id": "p-1",
			"messages": []map[string]string{{"role": "user", "content": "q"}}},
		"tools": tools,
	} {
		st, resp, _ := post(t, hs, "/api/chat", body)
		if st != 200 {
			t.Fatalf("%s: %d %s", name, st, resp)
		}
		p := rec.last()
		if strings.Contains(p, engine.ImageMarker) {
			t.Errorf("%s: the prompt holds an image marker:\n%s", name, p)
		}
		if name == "tools" && !strings.Contains(p, "a  b") {
			t.Errorf("%s: the tool description is not in the prompt:\n%s", name, p)
		}
		if name == "knowledge" && !strings.Contains(p, "see  here") {
			t.Errorf("%s: the passage's text around the markers is lost:\n%s", name, p)
		}
	}
	if got := stripMarkers("a" + strings.Repeat("<__med", 5) + engine.ImageMarker + strings.Repeat("ia__>", 5) + "b"); got != "ab" {
		t.Errorf("stripMarkers of 5 nested levels = %q, want %q", got, "ab")
	}
}

// Two requests with the same text and different images never share a
// prefix-cache scope (the cache matches token ids, and an image's soft
// tokens are the same ids whatever it shows); the same images in the same
// order do, and a request without images keeps the key's own scope.
func TestCacheScopeKeysOnImages(t *testing.T) {
	img := func(data ...string) []imageRef {
		var out []imageRef
		for i, d := range data {
			out = append(out, imageRef{field: "images[" + string(rune('0'+i)) + "]", data: d})
		}
		return out
	}
	a, b := tinyPNG, pngBombB64()
	if cacheScope("k1", nil) != "k1" {
		t.Fatalf("no images: scope %q, want the key's", cacheScope("k1", nil))
	}
	distinct := map[string][]imageRef{"a": img(a), "b": img(b), "ab": img(a, b), "ba": img(b, a), "x|yz": img("x", "yz"), "xy|z": img("xy", "z")}
	seen := map[string]string{"k1": "none"}
	for name, refs := range distinct {
		s := cacheScope("k1", refs)
		if prev, ok := seen[s]; ok {
			t.Errorf("images %s share the cache scope of %s", name, prev)
		}
		seen[s] = name
		if again := cacheScope("k1", img(append([]string(nil), dataOf(refs)...)...)); again != s {
			t.Errorf("images %s: the same images give another scope", name)
		}
		if cacheScope("k2", refs) == s {
			t.Errorf("images %s: two keys share a scope", name)
		}
		if strings.Contains(s, a[:16]) {
			t.Errorf("the scope holds the image's bytes")
		}
	}
}

func dataOf(refs []imageRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.data)
	}
	return out
}

// Images sent to the routes whose models read text only are refused with
// a 400 naming the field, not dropped: an embedding or a rerank score of
// the text alone would be taken for one of the image. (The clinic and web
// UI routes refuse unknown fields, images among them, already.)
func TestImagesOnTextOnlyRoutes(t *testing.T) {
	_, hs := testServer(t, Config{})
	for _, tc := range []struct {
		name, path string
		body       any
		want       string
	}{
		{"embed", "/api/embed", map[string]any{"model": "dayi-tiny", "input": "x", "images": []string{tinyPNG}}, "images: not accepted"},
		{"embeddings", "/api/embeddings", map[string]any{"model": "dayi-tiny", "prompt": "x", "images": []string{tinyPNG}}, "images: not accepted"},
		{"rerank image document", "/v1/rerank", map[string]any{"model": "dayi-tiny", "query": "x",
			"documents": []map[string]any{{"text": "a"}, {"image": dataURL(tinyPNG)}}}, "documents[1].image: not accepted"},
		{"rerank image_url document", "/api/rerank", map[string]any{"model": "dayi-tiny", "query": "x",
			"documents": []map[string]any{{"text": "a", "image_url": map[string]string{"url": dataURL(tinyPNG)}}}}, "documents[0].image_url: not accepted"},
		{"rerank document without text", "/v1/rerank", map[string]any{"model": "dayi-tiny", "query": "x",
			"documents": []map[string]any{{"text": "a"}, {"title": "b"}}}, "documents[1].text: required"},
		{"OpenAI embeddings image part", "/v1/embeddings", map[string]any{"model": "dayi-tiny",
			"input": []any{map[string]any{"type": "image_url", "image_url": map[string]string{"url": dataURL(tinyPNG)}}}}, "input: must be a non-empty string or array of strings"},
	} {
		st, resp, _ := post(t, hs, tc.path, tc.body)
		msg := errText(t, resp)
		if st != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 400 saying %q", tc.name, st, msg, tc.want)
		}
		if strings.Contains(msg, "iVBOR") {
			t.Errorf("%s: the error quotes the image", tc.name)
		}
	}
	// Empty or null image fields are what some clients send always.
	for _, body := range []string{`{"model":"dayi-tiny","input":"x","images":null}`, `{"model":"dayi-tiny","input":"x","images":[]}`} {
		if st, resp, _ := post(t, hs, "/api/embed", body); st != 200 {
			t.Errorf("%s: %d %s", body, st, resp)
		}
	}
}
