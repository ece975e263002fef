package server

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/assets"
)

type refCase struct {
	Prompt        string `json:"prompt"`
	NPredict      int    `json:"n_predict"`
	PromptIDs     []int  `json:"prompt_ids"`
	GeneratedIDs  []int  `json:"generated_ids"`
	GeneratedText string `json:"generated_text"`
}

// llamaCppCases are llama.cpp's greedy continuations of stories260K (the
// embedded model), from testdata/reference at the repository root.
func llamaCppCases(t testing.TB) []refCase {
	data, err := os.ReadFile("testdata/llamacpp-stories260K.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return ref.Cases
}

// TestOllamaClientGenerateMatchesLlamaCpp drives /api/generate with Ollama's
// Go client, streaming, and checks token ids (via the returned context) and
// text against llama.cpp's greedy output.
func TestOllamaClientGenerateMatchesLlamaCpp(t *testing.T) {
	_, hs := testServer(t, Config{})
	c := ollamaClient(t, hs)
	for _, rc := range llamaCppCases(t) {
		req := &api.GenerateRequest{Model: "dayi-tiny", Prompt: rc.Prompt, Raw: true, Options: greedy(rc.NPredict)}
		if rc.Prompt == "" {
			req.Context = []int{rc.PromptIDs[0]} // BOS only, as llama.cpp evaluated it
		}
		var text strings.Builder
		var final api.GenerateResponse
		chunks := 0
		err := c.Generate(context.Background(), req, func(r api.GenerateResponse) error {
			text.WriteString(r.Response)
			if r.Done {
				final = r
			} else {
				chunks++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%q: %v", rc.Prompt, err)
		}
		if chunks < rc.NPredict/2 {
			t.Errorf("%q: %d streamed chunks for %d tokens: not streaming", rc.Prompt, chunks, rc.NPredict)
		}
		want := append(append([]int(nil), rc.PromptIDs...), rc.GeneratedIDs...)
		if !equalInts(final.Context, want) {
			t.Errorf("%q: context\n got %v\nwant %v (llama.cpp)", rc.Prompt, final.Context, want)
		}
		// llama.cpp detokenizes the continuation alone, which drops SPM's
		// leading space; the stream keeps it.
		if got := strings.TrimPrefix(text.String(), " "); got != rc.GeneratedText {
			t.Errorf("%q: text\n got %q\nwant %q", rc.Prompt, got, rc.GeneratedText)
		}
		if final.DoneReason != "length" || final.EvalCount != rc.NPredict || final.PromptEvalCount != len(rc.PromptIDs) {
			t.Errorf("%q: done_reason %q eval_count %d prompt_eval_count %d", rc.Prompt, final.DoneReason, final.EvalCount, final.PromptEvalCount)
		}
		if final.TotalDuration <= 0 || final.EvalDuration <= 0 || final.PromptEvalDuration <= 0 {
			t.Errorf("%q: durations missing: %+v", rc.Prompt, final.Metrics)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOllamaClientAPI covers chat, embed, list, show, ps, version and
// keep-alive through Ollama's Go client.
func TestOllamaClientAPI(t *testing.T) {
	_, hs := testServer(t, Config{})
	c := ollamaClient(t, hs)
	ctx := context.Background()

	if err := c.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Version(ctx); err != nil || v == "" {
		t.Fatalf("version %q: %v", v, err)
	}
	lr, err := c.List(ctx)
	if err != nil || len(lr.Models) == 0 || lr.Models[0].Name != assets.DefaultModelName {
		t.Fatalf("list: %+v %v", lr, err)
	}
	if d := lr.Models[0].Details; d.Family != "llama" || d.Format != "gguf" || d.QuantizationLevel != "F32" {
		t.Fatalf("details %+v", d)
	}

	// Chat, non-streaming and streaming, give the same greedy text.
	stream := false
	msgs := []api.Message{{Role: "system", Content: "You tell stories."}, {Role: "user", Content: "Tell me about a cat."}}
	var whole api.ChatResponse
	if err := c.Chat(ctx, &api.ChatRequest{Model: "dayi-tiny", Messages: msgs, Stream: &stream, Options: greedy(24)},
		func(r api.ChatResponse) error { whole = r; return nil }); err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	var final api.ChatResponse
	if err := c.Chat(ctx, &api.ChatRequest{Model: "dayi-tiny:latest", Messages: msgs, Options: greedy(24)},
		func(r api.ChatResponse) error {
			streamed.WriteString(r.Message.Content)
			if r.Done {
				final = r
			}
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	if whole.Message.Content == "" || whole.Message.Content != streamed.String() || whole.Message.Role != "assistant" {
		t.Fatalf("chat: whole %q streamed %q", whole.Message.Content, streamed.String())
	}
	if !final.Done || final.EvalCount != 24 || final.DoneReason != "length" || final.PromptEvalCount == 0 {
		t.Fatalf("final chat chunk %+v", final)
	}

	// JSON format: the answer parses.
	var js api.ChatResponse
	if err := c.Chat(ctx, &api.ChatRequest{Model: "dayi-tiny", Messages: msgs, Stream: &stream, Format: json.RawMessage(`"json"`),
		Options: greedy(40)}, func(r api.ChatResponse) error { js = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if js.DoneReason == "stop" && !json.Valid([]byte(js.Message.Content)) {
		t.Fatalf("format json gave %q", js.Message.Content)
	}

	// Embeddings: unit vectors, the same text gives the same vector, and the
	// legacy endpoint agrees with /api/embed.
	er, err := c.Embed(ctx, &api.EmbedRequest{Model: "dayi-tiny", Input: []string{"fever and cough", "fever and cough", "a broken arm"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(er.Embeddings) != 3 || er.PromptEvalCount == 0 {
		t.Fatalf("embed: %d vectors, %d tokens", len(er.Embeddings), er.PromptEvalCount)
	}
	var n float64
	for i, v := range er.Embeddings[0] {
		n += float64(v) * float64(v)
		if v != er.Embeddings[1][i] {
			t.Fatal("same input, different embeddings")
		}
	}
	if n < 0.999 || n > 1.001 {
		t.Fatalf("embedding norm² %v", n)
	}
	old, err := c.Embeddings(ctx, &api.EmbeddingRequest{Model: "dayi-tiny", Prompt: "fever and cough"})
	if err != nil || len(old.Embedding) != len(er.Embeddings[0]) {
		t.Fatalf("legacy embeddings: %v", err)
	}
	for i, v := range old.Embedding {
		if float32(v) != er.Embeddings[0][i] {
			t.Fatal("/api/embeddings differs from /api/embed")
		}
	}

	show, err := c.Show(ctx, &api.ShowRequest{Model: "dayi-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if show.ModelInfo["general.architecture"] != "llama" || show.Details.Family != "llama" {
		t.Fatalf("show: %+v", show.ModelInfo["general.architecture"])
	}
	if show.ModelInfo["tokenizer.ggml.tokens"] != nil {
		t.Fatal("show without verbose returned the whole vocabulary")
	}

	ps, err := c.ListRunning(ctx)
	if err != nil || len(ps.Models) != 1 || ps.Models[0].Name != "dayi-tiny" || ps.Models[0].ContextLength == 0 {
		t.Fatalf("ps: %+v %v", ps, err)
	}
	// keep_alive 0 unloads once the request is done.
	if err := c.Generate(ctx, &api.GenerateRequest{Model: "dayi-tiny", KeepAlive: &api.Duration{}},
		func(r api.GenerateResponse) error {
			if r.DoneReason != "unload" {
				t.Errorf("done_reason %q, want unload", r.DoneReason)
			}
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := c.ListRunning(ctx); len(ps.Models) != 0 {
		t.Fatalf("model still loaded after keep_alive 0: %+v", ps.Models)
	}

	// Unknown models: 404 naming the model asked for, not the known ones
	// (issue 15, finding 10).
	err = c.Generate(ctx, &api.GenerateRequest{Model: "llama3:70b", Prompt: "hi"}, func(api.GenerateResponse) error { return nil })
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.Contains(se.ErrorMessage, "llama3:70b") || strings.Contains(se.ErrorMessage, "dayi-tiny") {
		t.Fatalf("unknown model: %v", err)
	}
	// Images are refused clearly.
	err = c.Chat(ctx, &api.ChatRequest{Model: "dayi-tiny", Messages: []api.Message{{Role: "user", Content: "x", Images: []api.ImageData{[]byte("png")}}}},
		func(api.ChatResponse) error { return nil })
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(se.ErrorMessage, "images") {
		t.Fatalf("images: %v", err)
	}
}

// TestKeepAliveExpires checks that an idle model unloads after keep_alive.
func TestKeepAliveExpires(t *testing.T) {
	s, hs := testServer(t, Config{})
	c := ollamaClient(t, hs)
	err := c.Generate(context.Background(), &api.GenerateRequest{Model: "dayi-tiny", Prompt: "a", Raw: true, Options: greedy(2),
		KeepAlive: &api.Duration{Duration: 150 * time.Millisecond}}, func(api.GenerateResponse) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if s.reg.numLoaded() != 1 {
		t.Fatal("model not loaded after a request")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.reg.numLoaded() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("model still loaded long after keep_alive")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestModelSources serves models from --models DIR, --model PATH and an
// Ollama store (manifest + blob), and creates, copies and deletes models.
func TestModelSources(t *testing.T) {
	dir := t.TempDir()
	modelsDir := filepath.Join(dir, "models")
	os.MkdirAll(modelsDir, 0o755)
	os.WriteFile(filepath.Join(modelsDir, "ward-a.gguf"), assets.DefaultModel, 0o444)
	single := filepath.Join(dir, "single.gguf")
	os.WriteFile(single, assets.DefaultModel, 0o444)
	// An Ollama store, laid out as Ollama writes it.
	store := filepath.Join(dir, "ollama")
	digest := "sha256:" + hexSum(assets.DefaultModel)
	os.MkdirAll(filepath.Join(store, "blobs"), 0o755)
	os.WriteFile(filepath.Join(store, "blobs", strings.Replace(digest, ":", "-", 1)), assets.DefaultModel, 0o444)
	man := filepath.Join(store, "manifests", "registry.ollama.ai", "library", "tinystories", "260k")
	os.MkdirAll(filepath.Dir(man), 0o755)
	os.WriteFile(man, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:00","size":2},
 "layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"`+digest+`","size":1},
           {"mediaType":"application/vnd.ollama.image.template","digest":"sha256:11","size":1}]}`), 0o444)

	_, hs := testServer(t, Config{ModelPaths: []string{single}, Catalogue: storeCat(filepath.Join(dir, "created"), store, modelsDir)})
	c := ollamaClient(t, hs)
	ctx := context.Background()
	lr, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range lr.Models {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "dayi-tiny,single,ward-a,tinystories:260k" {
		t.Fatalf("models %v", names)
	}
	if lr.Models[3].Digest != strings.TrimPrefix(digest, "sha256:") {
		t.Fatalf("ollama digest %q", lr.Models[3].Digest)
	}
	gen := func(model string) (string, error) {
		var out string
		stream := false
		err := c.Generate(ctx, &api.GenerateRequest{Model: model, Prompt: "Once upon a time", Raw: true, Stream: &stream, Options: greedy(8)},
			func(r api.GenerateResponse) error { out = r.Response; return nil })
		return out, err
	}
	want, err := gen("dayi-tiny")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"single", "ward-a", "tinystories:260k"} {
		if got, err := gen(m); err != nil || got != want {
			t.Fatalf("%s: %q %v, want %q", m, got, err, want)
		}
	}

	// Create (quantized), copy, delete.
	if err := c.Create(ctx, &api.CreateRequest{Model: "tiny-q8", From: "dayi-tiny", Quantize: "q8_0"}, func(api.ProgressResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
	show, err := c.Show(ctx, &api.ShowRequest{Model: "tiny-q8"})
	if err != nil || show.Details.QuantizationLevel != "Q8_0" {
		t.Fatalf("created model: %+v %v", show, err)
	}
	if _, err := gen("tiny-q8"); err != nil {
		t.Fatal(err)
	}
	if err := c.Copy(ctx, &api.CopyRequest{Source: "ward-a", Destination: "ward-b"}); err != nil {
		t.Fatal(err)
	}
	if got, err := gen("ward-b"); err != nil || got != want {
		t.Fatalf("copied model: %q %v", got, err)
	}
	if err := c.Delete(ctx, &api.DeleteRequest{Model: "ward-b"}); err != nil {
		t.Fatal(err)
	}
	var se api.StatusError
	if err := c.Delete(ctx, &api.DeleteRequest{Model: "ward-a"}); !errors.As(err, &se) || se.StatusCode != 403 {
		t.Fatalf("deleting a read-only model: %v", err)
	}
	if _, err := os.Stat(filepath.Join(modelsDir, "ward-a.gguf")); err != nil {
		t.Fatal("read-only model was removed")
	}
	if _, err := gen("ward-b"); !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("deleted model still served: %v", err)
	}
}
