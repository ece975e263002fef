package server

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
)

// TestOllamaManifestDigestCannotWalk: a manifest is input. The server's own
// Ollama reader joined a layer's digest into a path after only a "sha256:"
// prefix test, so a manifest could point at any GGUF on the disk and have
// it served. Store's reader, now the only one, accepts only sha256:<64 hex>.
func TestOllamaManifestDigestCannotWalk(t *testing.T) {
	root := t.TempDir()
	ollama := filepath.Join(root, "ollama")
	os.MkdirAll(filepath.Join(ollama, "blobs"), 0o755)
	os.MkdirAll(filepath.Join(root, "outside"), 0o755)
	os.WriteFile(filepath.Join(root, "outside", "evil.gguf"), assets.DefaultModel, 0o644)
	// blobs/sha256-x/../../../outside/evil.gguf is root/outside/evil.gguf.
	walk := "sha256:x/../../../outside/evil.gguf"
	man := filepath.Join(ollama, "manifests", "registry.ollama.ai", "library", "evil", "latest")
	os.MkdirAll(filepath.Dir(man), 0o755)
	os.WriteFile(man, []byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"`+walk+`","size":1}]}`), 0o644)

	_, hs := testServer(t, Config{Catalogue: storeCat("", ollama)})
	st, body, _ := post(t, hs, "/api/show", map[string]any{"model": "evil"})
	if st != 404 {
		t.Fatalf("/api/show of a manifest pointing outside blobs: %d %s", st, body)
	}
	st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "evil", "prompt": "x", "stream": false})
	if st != 404 {
		t.Fatalf("generate with it: %d %s", st, body)
	}
	resp, err := hs.Client().Get(hs.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tags, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(tags), "evil") {
		t.Fatalf("/api/tags lists it: %s", tags)
	}
}

// TestCreateCopyNamesStayInStore: a model name is a path in the store, so
// names that would leave it, hide a file or carry odd characters are a 400
// and write nothing anywhere.
func TestCreateCopyNamesStayInStore(t *testing.T) {
	root := t.TempDir()
	created := filepath.Join(root, "store", "models")
	_, hs := testServer(t, Config{Catalogue: storeCat(created, "")})
	for _, name := range []string{"../escape", "a/../../b", ".hidden", "-flag", "x:y:z", "a b", `a\b`, "/abs", "ok/"} {
		st, body, _ := post(t, hs, "/api/create", map[string]any{"model": name, "from": "dayi-tiny", "stream": false})
		if st != 400 {
			t.Errorf("create %q: %d %s", name, st, body)
		}
		st, body, _ = post(t, hs, "/api/copy", map[string]any{"source": "dayi-tiny", "destination": name})
		if st != 400 {
			t.Errorf("copy to %q: %d %s", name, st, body)
		}
	}
	var files []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("bad names wrote %v", files)
	}
	// The embedded model's name is taken, and so is a stored one.
	if st, body, _ := post(t, hs, "/api/copy", map[string]any{"source": "dayi-tiny", "destination": "dayi-tiny"}); st != 409 {
		t.Fatalf("copy over the embedded model: %d %s", st, body)
	}
	if st, body, _ := post(t, hs, "/api/copy", map[string]any{"source": "dayi-tiny", "destination": "ward:v1"}); st != 200 {
		t.Fatalf("copy: %d %s", st, body)
	}
	if st, body, _ := post(t, hs, "/api/copy", map[string]any{"source": "dayi-tiny", "destination": "ward:v1"}); st != 409 {
		t.Fatalf("copy over a stored model: %d %s", st, body)
	}
	// /api/show names the model, never its file on the server.
	st, body, _ := post(t, hs, "/api/show", map[string]any{"model": "ward:v1"})
	if st != 200 || strings.Contains(string(body), root) || !strings.Contains(string(body), "FROM ward:v1") {
		t.Fatalf("show: %d %.300s", st, body)
	}
}

// TestNoCatalogueRefusesChanges: a server given no catalogue serves the
// embedded model and refuses to create, copy or delete.
func TestNoCatalogueRefusesChanges(t *testing.T) {
	_, hs := testServer(t, Config{})
	if st, body, _ := post(t, hs, "/api/copy", map[string]any{"source": "dayi-tiny", "destination": "x"}); st != 403 {
		t.Fatalf("copy: %d %s", st, body)
	}
	if st, body, _ := post(t, hs, "/api/create", map[string]any{"model": "x", "from": "dayi-tiny", "stream": false}); st != 403 {
		t.Fatalf("create: %d %s", st, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, hs.URL+"/api/delete", strings.NewReader(`{"model":"dayi-tiny"}`))
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
}

// TestTagAliasSharesOneLoad: the catalogue resolves "ward" to its only tag
// "ward:v1", as `dayi run ward` does; both names use one loaded copy.
func TestTagAliasSharesOneLoad(t *testing.T) {
	s, hs := testServer(t, Config{Catalogue: storeCat(t.TempDir(), "")})
	if st, body, _ := post(t, hs, "/api/copy", map[string]any{"source": "dayi-tiny", "destination": "ward:v1"}); st != 200 {
		t.Fatalf("copy: %d %s", st, body)
	}
	for _, name := range []string{"ward", "ward:v1", "ward"} {
		st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": name, "prompt": "Once", "raw": true, "stream": false, "options": greedy(2)})
		if st != 200 {
			t.Fatalf("%s: %d %s", name, st, body)
		}
	}
	if n := s.reg.numLoaded(); n != 1 {
		t.Fatalf("%d models loaded for one model under two names", n)
	}
}
