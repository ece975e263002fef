package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/server"
)

// TestListAndTagsAgree: `dayi list` and the server's /api/tags read one
// catalogue, so after /api/create, /api/copy and /api/delete (and a `dayi
// cp` behind the server's back) they list the same models with the same
// digests, and what the server writes carries store's sidecar. Before, the
// server wrote bare files beside the store and read Ollama's store itself
// (issue 22 item 1).
func TestListAndTagsAgree(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	t.Setenv("DAYI_MODELS_PATH", "")
	// An Ollama store with one model, as Ollama lays it out.
	ollama := filepath.Join(home, "ollama")
	digest := sha256Digest(assets.DefaultModel)
	os.MkdirAll(filepath.Join(ollama, "blobs"), 0o755)
	os.WriteFile(filepath.Join(ollama, "blobs", strings.Replace(digest, ":", "-", 1)), assets.DefaultModel, 0o444)
	man := filepath.Join(ollama, "manifests", "registry.ollama.ai", "library", "tinystories", "260k")
	os.MkdirAll(filepath.Dir(man), 0o755)
	os.WriteFile(man, []byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"`+digest+`","size":1}]}`), 0o444)
	t.Setenv("OLLAMA_MODELS", ollama)

	// An all-scope key: create, copy and delete are admin requests.
	const key = "test-admin-key"
	cfg := server.Config{Catalogue: serveCatalogue("", "", ""), APIKeys: []string{key}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Close()
	call := func(method, path string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, hs.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"error"`)) {
			t.Fatalf("%s %s: %d %s", path, b, resp.StatusCode, out)
		}
	}
	// name → digest of each, as `dayi list --json` and /api/tags show them.
	list := func() map[string]string {
		t.Helper()
		out, err := runDayiCmd(t, "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var es []listEntry
		if err := json.Unmarshal([]byte(out), &es); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, e := range es {
			if !e.Shadowed {
				m[strings.TrimSuffix(e.FullName(), ":latest")] = strings.TrimPrefix(e.Digest, "sha256:")
			}
		}
		return m
	}
	tags := func() map[string]string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/tags", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			Models []struct{ Name, Digest string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, x := range tr.Models {
			m[x.Name] = x.Digest
		}
		return m
	}
	agree := func(step string, want ...string) {
		t.Helper()
		l, g := list(), tags()
		var names []string
		for n := range l {
			names = append(names, n)
		}
		sort.Strings(names)
		sort.Strings(want)
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: dayi list has %v, want %v", step, names, want)
		}
		if len(g) != len(l) {
			t.Fatalf("%s: /api/tags %v, dayi list %v", step, g, l)
		}
		for n, d := range l {
			gd, ok := g[n]
			if !ok {
				t.Fatalf("%s: %s in dayi list, not in /api/tags %v", step, n, g)
			}
			// Models the store wrote have their real digest recorded; the
			// server shows that, not a stand-in.
			if d != "" && gd != d {
				t.Fatalf("%s: %s digest /api/tags %s, dayi list %s", step, n, gd, d)
			}
		}
	}

	agree("start", "dayi-tiny", "tinystories:260k")
	call("POST", "/api/create", map[string]any{"model": "tiny-q8", "from": "dayi-tiny", "quantize": "q8_0", "stream": false})
	call("POST", "/api/copy", map[string]any{"source": "tinystories:260k", "destination": "ward/notes:v2"})
	agree("create and copy", "dayi-tiny", "tinystories:260k", "tiny-q8", "ward/notes:v2")
	if l := list(); l["ward/notes:v2"] != strings.TrimPrefix(digest, "sha256:") || l["tiny-q8"] == "" {
		t.Fatalf("sidecar digests not recorded: %v", l)
	}
	if _, err := runDayiCmd(t, "cp", "dayi-tiny", "by-cli"); err != nil {
		t.Fatal(err)
	}
	agree("dayi cp", "dayi-tiny", "tinystories:260k", "tiny-q8", "ward/notes:v2", "by-cli")
	call("DELETE", "/api/delete", map[string]any{"model": "ward/notes:v2"})
	call("DELETE", "/api/delete", map[string]any{"model": "by-cli"})
	agree("delete", "dayi-tiny", "tinystories:260k", "tiny-q8")
	if _, err := os.Stat(filepath.Join(home, "models", "ward")); !os.IsNotExist(err) {
		t.Fatalf("deleting left its directory behind: %v", err)
	}
}

// TestServeRefusesBadImportDir: a mistyped --import-dir stops `dayi serve`
// before it listens, instead of answering "not allowed" to every create.
func TestServeRefusesBadImportDir(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for _, d := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		// A cancelled context: should the check ever pass, serve returns
		// at once instead of listening until the test times out.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--no-clinic", "--no-memory", "--no-knowledge", "--import-dir", d})
		err := root.ExecuteContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "--import-dir") {
			t.Fatalf("--import-dir %s: %v", d, err)
		}
	}
}
