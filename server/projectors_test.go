package server

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dayi/engine"
	"dayi/vision"
	"dayi/weights"
)

// A model paired with a projector lists Ollama's "vision" capability. A
// projector that cannot be attached (here: not a GGUF; on a branch without
// the vision encoder: any) leaves the model serving text, and images get
// ErrNoVision's 400, not a 500.
func TestProjectorPairedShowAndFallbackToText(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "mmproj-dayi-tiny.gguf")
	if err := os.WriteFile(bad, []byte("not a gguf"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, hs := testServer(t, Config{Projectors: map[string]string{"dayi-tiny": bad}})
	st, body, _ := post(t, hs, "/api/show", map[string]any{"model": "dayi-tiny"})
	var resp struct {
		Capabilities []string `json:"capabilities"`
	}
	if json.Unmarshal(body, &resp); st != 200 || !slices.Contains(resp.Capabilities, "vision") {
		t.Fatalf("show: %d %s, want the vision capability", st, body)
	}
	if strings.Contains(string(body), bad) {
		t.Fatalf("show leaks the projector's path: %s", body)
	}
	st, body, _ = post(t, hs, "/api/chat", map[string]any{"model": "dayi-tiny", "stream": false,
		"messages": []map[string]any{{"role": "user", "content": "what is it?", "images": []string{tinyPNG}}}})
	if st != 400 || !strings.Contains(errText(t, body), engine.ErrNoVision.Error()) {
		t.Fatalf("image to a model whose projector failed: %d %s", st, body)
	}
	st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "Once", "raw": true, "stream": false,
		"options": greedy(2)})
	if st != 200 {
		t.Fatalf("text after a failed attach: %d %s", st, body)
	}
	// Unpaired: no vision capability (TestShowCapabilities has the rest).
	_, plain := testServer(t, Config{})
	_, body, _ = post(t, plain, "/api/show", map[string]any{"model": "dayi-tiny"})
	if json.Unmarshal(body, &resp); slices.Contains(resp.Capabilities, "vision") {
		t.Fatalf("unpaired model lists vision: %s", body)
	}
}

// TestImageEndToEnd runs a vision model pair through both APIs: the tiny
// gemma3 synth model and the tiny synthetic mmproj (the pair the engine's
// and vision's tests check against llama.cpp). The same image and question
// must give the same greedy text through Ollama's /api/chat (images before
// the text) and OpenAI's image_url part placed first, and the image must
// add prompt tokens.
func TestImageEndToEnd(t *testing.T) {
	dir := t.TempDir()
	model := writeSynth(t, dir, "tiny-gemma3")
	mmproj := filepath.Join(dir, "tiny-mmproj.gguf")
	spec, err := vision.SynthPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := vision.WriteSynth(&buf, spec, 7, weights.TypeF16); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mmproj, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	lm := loadLM(t, model)
	pf, err := weights.Open(mmproj)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if err := lm.AttachProjector(pf); err != nil || !lm.HasVision() {
		t.Fatalf("the tiny projector does not attach: %v", err)
	}
	name := strings.TrimSuffix(filepath.Base(model), ".gguf")
	_, hs := testServer(t, Config{ModelPaths: []string{model}, Projectors: map[string]string{name: mmproj}})
	q := "Describe the image."
	st, body, _ := post(t, hs, "/api/chat", map[string]any{"model": name, "stream": false, "options": greedy(8),
		"messages": []map[string]any{{"role": "user", "content": q, "images": []string{tinyPNG}}}})
	var oll struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		PromptEvalCount int `json:"prompt_eval_count"`
	}
	if json.Unmarshal(body, &oll); st != 200 || oll.Message.Content == "" {
		t.Fatalf("/api/chat with an image: %d %s", st, body)
	}
	st, body, _ = post(t, hs, "/api/chat", map[string]any{"model": name, "stream": false, "options": greedy(8),
		"messages": []map[string]any{{"role": "user", "content": q}}})
	var text struct {
		PromptEvalCount int `json:"prompt_eval_count"`
	}
	if json.Unmarshal(body, &text); st != 200 || text.PromptEvalCount >= oll.PromptEvalCount {
		t.Fatalf("the image added no prompt tokens: %d with, %d without (%s)", oll.PromptEvalCount, text.PromptEvalCount, body)
	}
	st, body, _ = post(t, hs, "/v1/chat/completions", map[string]any{"model": name, "max_tokens": 8, "temperature": 0,
		"messages": []map[string]any{{"role": "user", "content": []map[string]any{
			{"type": "image_url", "image_url": map[string]string{"url": dataURL(tinyPNG)}}, {"type": "text", "text": q}}}}})
	var oa struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &oa); st != 200 || len(oa.Choices) != 1 || oa.Choices[0].Message.Content != oll.Message.Content {
		t.Fatalf("OpenAI with the same image: %d %s, want Ollama's %q", st, body, oll.Message.Content)
	}
	// /api/generate's context (token ids) cannot say where an image was.
	st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": name, "prompt": q, "images": []string{tinyPNG}, "context": []int{1, 2}})
	if st != 400 || !strings.HasPrefix(errText(t, body), "context:") {
		t.Fatalf("images with context: %d %s", st, body)
	}
}

// loadLM loads a GGUF as the server would.
func loadLM(t *testing.T, path string) *engine.LM {
	t.Helper()
	f, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(f, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lm.Close(); f.Close() })
	return lm
}
