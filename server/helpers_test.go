package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ollama/ollama/api"

	"dayi/auth"
	"dayi/engine"
)

// testServer starts a server on a loopback httptest listener.
func testServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.AnonymousScopes == nil && len(cfg.APIKeys) == 0 && cfg.KeysFile == "" {
		// Tests of everything but access control act as a trusted local
		// caller; authz_test.go starts its servers with authServer, which
		// keeps the real default.
		cfg.AnonymousScopes = auth.All()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs
}

// ollamaClient is Ollama's own Go client pointed at hs.
func ollamaClient(t *testing.T, hs *httptest.Server) *api.Client {
	u, err := url.Parse(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(u, hs.Client())
}

// post sends a JSON body and returns status and body.
func post(t *testing.T, hs *httptest.Server, path string, body any, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// recorder wraps each loaded LM and keeps the prompts the engine was given,
// so tests can check what grounding put into them.
type recorder struct {
	mu      sync.Mutex
	prompts []string
}

type recGen struct {
	lm  *engine.LM
	rec *recorder
}

func (g recGen) Generate(ctx context.Context, req *engine.Request, onText func(string) error) (*engine.Result, error) {
	g.rec.mu.Lock()
	g.rec.prompts = append(g.rec.prompts, g.lm.Tok.Decode(req.Tokens))
	g.rec.mu.Unlock()
	return g.lm.Generate(ctx, req, onText)
}

func (r *recorder) hook() func(*engine.LM) Generator {
	return func(lm *engine.LM) Generator { return recGen{lm: lm, rec: r} }
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.prompts) == 0 {
		return ""
	}
	return r.prompts[len(r.prompts)-1]
}

func ptr[T any](v T) *T { return &v }

// greedy are options that make dayi and llama.cpp's greedy references agree:
// temperature 0 and no repeat penalty (Ollama's default is 1.1).
func greedy(n int) map[string]any {
	return map[string]any{"temperature": 0, "repeat_penalty": 1, "num_predict": n}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
