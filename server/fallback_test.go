package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"dayi/assets"
	"dayi/audit"
)

// foreignArch returns the embedded model with general.architecture renamed
// to an architecture dayi does not run (same length, so offsets hold).
func foreignArch(t *testing.T) []byte {
	b := bytes.Clone(assets.DefaultModel)
	key := []byte("general.architecture")
	i := bytes.Index(b, key)
	if i < 0 {
		t.Fatal("no general.architecture key")
	}
	v := i + len(key)
	if binary.LittleEndian.Uint32(b[v:]) != 8 || binary.LittleEndian.Uint64(b[v+4:]) != 5 || string(b[v+12:v+17]) != "llama" {
		t.Fatal("unexpected general.architecture encoding")
	}
	copy(b[v+12:], "mamba")
	return b
}

// TestFallbackToOllamaPeer runs a second dayi server as the Ollama peer and
// checks that models named in FallbackModels, and models of an architecture
// dayi cannot run, are served by it through every chat endpoint, streamed,
// and audited.
func TestFallbackToOllamaPeer(t *testing.T) {
	peerDir := t.TempDir()
	os.WriteFile(filepath.Join(peerDir, "peer-only.gguf"), assets.DefaultModel, 0o444)
	os.WriteFile(filepath.Join(peerDir, "weird.gguf"), assets.DefaultModel, 0o444) // the peer can run "weird"
	_, peer := testServer(t, Config{Catalogue: dirCat(peerDir)})

	localDir := t.TempDir()
	os.WriteFile(filepath.Join(localDir, "weird.gguf"), foreignArch(t), 0o444)
	al, auditPath, auditKey := openTestAudit(t, false)
	_, hs := testServer(t, Config{Catalogue: dirCat(localDir), FallbackOllama: peer.URL, FallbackModels: []string{"peer-only"}, Audit: al})
	c := ollamaClient(t, hs)
	ctx := context.Background()

	want := func(model string) string {
		var out string
		stream := false
		if err := ollamaClient(t, peer).Generate(ctx, &api.GenerateRequest{Model: model, Prompt: "The little dog", Raw: true, Stream: &stream,
			Options: greedy(16)}, func(r api.GenerateResponse) error { out = r.Response; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, model := range []string{"peer-only", "weird"} {
		var b strings.Builder
		var final api.GenerateResponse
		chunks := 0
		err := c.Generate(ctx, &api.GenerateRequest{Model: model, Prompt: "The little dog", Raw: true, Options: greedy(16)},
			func(r api.GenerateResponse) error {
				b.WriteString(r.Response)
				chunks++
				if r.Done {
					final = r
				}
				return nil
			})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if w := want(model); b.String() != w || chunks < 8 || final.EvalCount != 16 || len(final.Context) == 0 {
			t.Fatalf("%s via fallback: %q in %d chunks (eval_count %d), want %q", model, b.String(), chunks, final.EvalCount, w)
		}
	}
	// Chat and OpenAI chat through the fallback.
	var chatText strings.Builder
	if err := c.Chat(ctx, &api.ChatRequest{Model: "peer-only", Messages: []api.Message{{Role: "user", Content: "hello"}}, Options: greedy(8)},
		func(r api.ChatResponse) error { chatText.WriteString(r.Message.Content); return nil }); err != nil || chatText.Len() == 0 {
		t.Fatalf("chat via fallback: %q %v", chatText.String(), err)
	}
	st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "weird", "stream": true, "max_tokens": 6, "temperature": 0,
		"messages": []map[string]string{{"role": "user", "content": "hello"}}})
	if st != 200 || !strings.Contains(string(body), "chat.completion.chunk") || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Fatalf("openai via fallback: %d %s", st, body)
	}
	er, err := c.Embed(ctx, &api.EmbedRequest{Model: "peer-only", Input: "fever"})
	if err != nil || len(er.Embeddings) != 1 || len(er.Embeddings[0]) == 0 {
		t.Fatalf("embed via fallback: %v", err)
	}
	// The peer's errors come through with their status.
	var se api.StatusError
	err = c.Generate(ctx, &api.GenerateRequest{Model: "peer-only", Prompt: "x", Format: []byte(`{"type":"object","properties":{"a":{"type":"nope"}}}`)},
		func(api.GenerateResponse) error { return nil })
	if !errors.As(err, &se) || se.StatusCode != 400 {
		t.Fatalf("bad schema via fallback: %v", err)
	}
	// Audited like local requests, marked with the backend.
	data, _ := os.ReadFile(auditPath)
	if n := strings.Count(string(data), `"backend":"ollama:`); n < 5 {
		t.Fatalf("%d fallback records in audit:\n%s", n, data)
	}
	if _, err := audit.VerifyFile(auditPath, auditKey); err != nil {
		t.Fatal(err)
	}
}

// TestUnsupportedArchWithoutFallback: a clear 400 naming the architecture.
func TestUnsupportedArchWithoutFallback(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "weird.gguf"), foreignArch(t), 0o444)
	_, hs := testServer(t, Config{Catalogue: dirCat(dir)})
	st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "weird", "prompt": "x"})
	if st != 400 || !strings.Contains(string(body), `unsupported architecture \"mamba\"`) {
		t.Fatalf("%d %s", st, body)
	}
}

// TestFallbackRealOllama runs against a real ollama binary when one is on
// PATH and OLLAMA_TEST_MODEL names a model it has pulled.
func TestFallbackRealOllama(t *testing.T) {
	if _, err := exec.LookPath("ollama"); err != nil {
		t.Skip("no ollama binary on PATH")
	}
	model := os.Getenv("OLLAMA_TEST_MODEL")
	host := os.Getenv("OLLAMA_HOST")
	if model == "" || host == "" {
		t.Skip("set OLLAMA_HOST (a running ollama serve) and OLLAMA_TEST_MODEL (a pulled model) to test against real Ollama")
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	_, hs := testServer(t, Config{FallbackOllama: host, FallbackModels: []string{model}})
	var b strings.Builder
	err := ollamaClient(t, hs).Generate(context.Background(), &api.GenerateRequest{Model: model, Prompt: "Say hello.", Options: greedy(8)},
		func(r api.GenerateResponse) error { b.WriteString(r.Response); return nil })
	if err != nil || b.Len() == 0 {
		t.Fatalf("real ollama fallback: %q %v", b.String(), err)
	}
}
