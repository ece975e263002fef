package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/assets"
	"dayi/knowledge"
)

// libraryRetriever serves a real knowledge.Library, as `dayi serve` does.
type libraryRetriever struct{ lib *knowledge.Library }

func (r libraryRetriever) Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]Passage, error) {
	ps, err := r.lib.Retrieve(ctx, kb, query, maxTokens)
	if err != nil {
		return nil, err
	}
	out := make([]Passage, len(ps))
	for i, p := range ps {
		out[i] = Passage{ID: p.ID, Source: p.Source, Title: p.Title, Text: p.Text}
	}
	return out, nil
}

// logBuffer is a logger whose output a test can read.
func logBuffer() (*slog.Logger, func() string) {
	var b bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(syncWriter{&b, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return lg, func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
}

// TestFinding10_ErrorsShowNoServerPaths is issue 15's finding 10 (paths):
// /api/show answered "FROM /abs/path", a missing knowledge base answered
// with the knowledge directory, and a model file that fails to load
// answered with its path. None of them may reach the client; the log keeps
// the details under the request id.
func TestFinding10_ErrorsShowNoServerPaths(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models-secret")
	kbDir := filepath.Join(dir, "kb-secret")
	os.MkdirAll(models, 0o755)
	os.MkdirAll(kbDir, 0o755)
	if err := os.WriteFile(filepath.Join(models, "tiny2.gguf"), assets.DefaultModel, 0o644); err != nil {
		t.Fatal(err)
	}
	// A GGUF whose header parses but whose tensor data is cut short: loading
	// fails inside the server (a 500), with an error that names the file.
	if err := os.WriteFile(filepath.Join(models, "broken.gguf"), assets.DefaultModel[:len(assets.DefaultModel)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	lg, logs := logBuffer()
	_, hs := testServer(t, Config{Catalogue: dirCat(models), Logger: lg, Knowledge: libraryRetriever{&knowledge.Library{Dir: kbDir}}})

	st, body, _ := post(t, hs, "/api/show", map[string]any{"model": "tiny2"})
	if st != 200 || strings.Contains(string(body), dir) {
		t.Errorf("/api/show: %d, shows a server path: %s", st, body)
	}
	var show struct{ Modelfile string }
	json.Unmarshal(body, &show)
	if show.Modelfile != "# Modelfile served by dayi\nFROM tiny2\n" {
		t.Errorf("modelfile %q", show.Modelfile)
	}

	for _, path := range []string{"/api/generate", "/v1/completions"} {
		st, body, hdr := post(t, hs, path, map[string]any{"model": "broken", "prompt": "hi", "stream": false})
		if st != 500 || strings.Contains(string(body), dir) || strings.Contains(string(body), "broken.gguf") {
			t.Errorf("%s broken model: %d %s", path, st, body)
		}
		if id := hdr.Get("X-Request-Id"); !strings.Contains(string(body), id) {
			t.Errorf("%s: 500 does not give the request id %s: %s", path, id, body)
		}
	}
	if !strings.Contains(logs(), "broken.gguf") {
		t.Errorf("the log lost the failure's details:\n%s", logs())
	}

	st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "hi", "knowledge": "no-such-kb", "options": greedy(2)})
	if st != 404 || strings.Contains(string(body), dir) || !strings.Contains(string(body), `knowledge base \"no-such-kb\" not found`) {
		t.Errorf("missing knowledge base: %d %s", st, body)
	}
	st, body, _ = post(t, hs, "/v1/chat/completions", map[string]any{"model": "dayi-tiny", "knowledge": "no-such-kb", "max_tokens": 2,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	var oe openaiErr
	json.Unmarshal(body, &oe)
	if st != 404 || strings.Contains(string(body), dir) || oe.Error.Param == nil || *oe.Error.Param != "knowledge" {
		t.Errorf("missing knowledge base under /v1/: %d %s", st, body)
	}
}

// TestFinding10_UnknownModelListsNoModels: a typo in a model name answered
// with every model name the server has.
func TestFinding10_UnknownModelListsNoModels(t *testing.T) {
	models := t.TempDir()
	if err := os.WriteFile(filepath.Join(models, "oncology-private.gguf"), assets.DefaultModel, 0o644); err != nil {
		t.Fatal(err)
	}
	_, hs := testServer(t, Config{Catalogue: dirCat(models)})
	for _, c := range []struct{ path, body string }{
		{"/api/generate", `{"model":"llama3:70b","prompt":"hi"}`},
		{"/api/show", `{"model":"llama3:70b"}`},
		{"/v1/chat/completions", `{"model":"llama3:70b","messages":[{"role":"user","content":"hi"}]}`},
		{"/api/embed", `{"model":"llama3:70b","input":"hi"}`},
	} {
		st, body, _ := post(t, hs, c.path, c.body)
		if st != 404 || !strings.Contains(string(body), "llama3:70b") || strings.Contains(string(body), "oncology-private") ||
			strings.Contains(string(body), "dayi-tiny") {
			t.Errorf("%s: %d %s", c.path, st, body)
		}
	}
	req, _ := http.NewRequest("GET", hs.URL+"/v1/models/llama3:70b", nil)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || strings.Contains(buf.String(), "oncology-private") {
		t.Errorf("/v1/models/NAME: %d %s", resp.StatusCode, buf.String())
	}
}

// failingMemory fails the way memory.BoltStore does ("memory store PATH:
// patient %q: …"), so its errors carry the patient id and the store path.
type failingMemory struct{ recall, record bool }

const memPath = "/var/lib/dayi-secret/memory.db"

func (m failingMemory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	if m.recall {
		return "", fmt.Errorf("memory store %s: patient %q: %w", memPath, patientID, os.ErrPermission)
	}
	return "", nil
}

func (m failingMemory) Record(ctx context.Context, patientID string, turn Turn) error {
	if m.record {
		return fmt.Errorf("memory store %s: patient %q: %w", memPath, patientID, os.ErrPermission)
	}
	return nil
}

// TestFinding10_NoPatientIDInErrorsOrLogs: a failing patient memory
// answered 500 with the patient id (and the store's path), and logged the
// id; a malformed id was echoed back.
func TestFinding10_NoPatientIDInErrorsOrLogs(t *testing.T) {
	const patient = "MRN-99887766"
	for _, fm := range []failingMemory{{recall: true}, {record: true}} {
		lg, logs := logBuffer()
		_, hs := testServer(t, Config{Logger: lg, Memory: fm})
		for _, path := range []string{"/api/generate", "/v1/completions"} {
			st, body, _ := post(t, hs, path, map[string]any{"model": "dayi-tiny", "prompt": "hi", "patient_id": patient,
				"stream": false, "max_tokens": 2, "options": greedy(2)})
			if strings.Contains(string(body), patient) || strings.Contains(string(body), memPath) {
				t.Errorf("%+v %s: %d %s", fm, path, st, body)
			}
			if want := map[bool]int{true: 500, false: 200}[fm.recall]; st != want {
				t.Errorf("%+v %s: status %d, want %d", fm, path, st, want)
			}
		}
		if l := logs(); strings.Contains(l, patient) {
			t.Errorf("%+v: the log holds the patient id:\n%s", fm, l)
		} else if !strings.Contains(l, memPath) {
			t.Errorf("%+v: the log lost the failure:\n%s", fm, l)
		}
	}
	_, hs := testServer(t, Config{Memory: failingMemory{}})
	bad := "MRN-1234\x01"
	st, body, _ := post(t, hs, "/api/chat", map[string]any{"model": "dayi-tiny", "patient_id": bad,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	if st != 400 || strings.Contains(string(body), "MRN-1234") || !strings.Contains(string(body), "patient_id") {
		t.Errorf("bad patient id: %d %s", st, body)
	}
}

// TestFinding10_PsRaceFree: /api/ps read refs, keep-alive and expiry of
// loaded models without the registry's lock while requests changed them.
// Under -race (CI runs server/ with it) the old handler fails this test.
func TestFinding10_PsRaceFree(t *testing.T) {
	_, hs := testServer(t, Config{})
	c := ollamaClient(t, hs)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				// loads, generations and unloads (keep_alive 0) that change
				// the model's refs, keep-alive and expiry
				ka := &api.Duration{Duration: time.Duration(k%3) * time.Second}
				c.Generate(ctx, &api.GenerateRequest{Model: "dayi-tiny", Prompt: "a", Raw: true, Options: greedy(2), KeepAlive: ka},
					func(api.GenerateResponse) error { return nil })
			}
		}(i)
	}
	deadline := time.Now().Add(time.Second)
	polls := 0
	for time.Now().Before(deadline) {
		ps, err := c.ListRunning(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ps.Models {
			if m.Name != "dayi-tiny" || m.ContextLength != 2048 || m.ExpiresAt.IsZero() {
				t.Errorf("ps entry %+v", m)
			}
		}
		polls++
	}
	close(stop)
	wg.Wait()
	if polls < 5 {
		t.Fatalf("only %d polls", polls)
	}
}
