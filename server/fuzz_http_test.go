package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dayi/auth"
)

// httpEndpoints are the routes FuzzHTTP drives, picked by the fuzzer's
// first argument (modulo their number).
var httpEndpoints = []struct{ method, path string }{
	{"POST", "/api/generate"}, {"POST", "/api/chat"}, {"POST", "/v1/chat/completions"}, {"POST", "/v1/completions"},
	{"POST", "/api/embed"}, {"POST", "/api/embeddings"}, {"POST", "/v1/embeddings"}, {"POST", "/api/show"},
	{"GET", "/api/ps"}, {"GET", "/api/tags"}, {"GET", "/v1/models/dayi-tiny"}, {"POST", "/api/copy"},
	{"DELETE", "/api/delete"}, {"POST", "/api/create"},
}

// FuzzHTTP sends arbitrary bodies (and Content-Type / X-Request-Id values)
// to every endpoint of one in-process server with the embedded model, the
// whole path from the HTTP handler through option checks, the registry and
// the engine. The properties (issue 15): no handler panics; no client
// mistake is answered 5xx; and after each request the server still answers
// a well-formed one with llama.cpp's greedy tokens.
//
// The seed corpus (code below and testdata/fuzz/FuzzHTTP) runs in every
// `go test`; to search for more: go test ./server -run '^$' -fuzz FuzzHTTP -parallel 1.
func FuzzHTTP(f *testing.F) {
	s, err := New(Config{AnonymousScopes: auth.All(), // reach every handler, not only the access check
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBodyBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	var panics atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				panics.Store(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, p))
				panic(p)
			}
		}()
		s.Handler().ServeHTTP(w, r)
	}))
	f.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	rc := llamaCppCases(f)[0]
	const checkTokens = 8
	wantIDs := append(append([]int(nil), rc.PromptIDs...), rc.GeneratedIDs[:checkTokens]...)
	wellFormed, _ := json.Marshal(map[string]any{"model": "dayi-tiny", "prompt": rc.Prompt, "raw": true, "stream": false,
		"options": greedy(checkTokens)})

	for ep := range httpEndpoints {
		for _, b := range fuzzSeeds {
			f.Add(uint8(ep), []byte(b), "application/json")
		}
	}
	for _, h := range hostileRequests() {
		b, _ := json.Marshal(h.body)
		if len(b) > 64<<10 {
			continue
		}
		for ep, e := range httpEndpoints {
			if e.path == h.path {
				f.Add(uint8(ep), b, "")
			}
		}
	}

	f.Fuzz(func(t *testing.T, ep uint8, body []byte, hdr string) {
		e := httpEndpoints[int(ep)%len(httpEndpoints)]
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, e.method, hs.URL+e.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		ct, rid, _ := strings.Cut(hdr, "\n")
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Request-Id", rid)
		resp, err := hs.Client().Do(req)
		if p := panics.Load(); p != nil {
			t.Fatalf("handler panicked: %v", p)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s %s: no answer within a minute", e.method, e.path)
		}
		if err != nil {
			// an invalid header value is refused by the client itself
			if strings.Contains(err.Error(), "invalid header") {
				return
			}
			t.Fatalf("%s %s: %v", e.method, e.path, err)
		}
		out, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: status %d for a client's request: %.300s", e.method, e.path, body, resp.StatusCode, out)
		}
		// The next well-formed request gets exactly llama.cpp's tokens.
		r2, err := hs.Client().Post(hs.URL+"/api/generate", "application/json", bytes.NewReader(wellFormed))
		if err != nil {
			t.Fatalf("after %s %s %q: the server no longer answers: %v", e.method, e.path, body, err)
		}
		var g struct {
			Context []int `json:"context"`
		}
		err = json.NewDecoder(r2.Body).Decode(&g)
		r2.Body.Close()
		if err != nil || r2.StatusCode != 200 || !equalInts(g.Context, wantIDs) {
			t.Fatalf("after %s %s %q: well-formed request: %d %v tokens %v, want %v", e.method, e.path, body, r2.StatusCode, err, g.Context, wantIDs)
		}
	})
}
