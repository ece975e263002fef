package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
)

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ollamaFixture lays out an Ollama store as Ollama 0.x writes it: a manifest
// per HOST/NAMESPACE/MODEL/TAG whose model and licence layers point at
// blobs/sha256-<hex>.
func ollamaFixture(t *testing.T, root, host, ns, model, tag string, gguf []byte, license string) string {
	t.Helper()
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	mh, lh := sum(gguf), sum([]byte(license))
	write(t, filepath.Join(root, "blobs", "sha256-"+mh), gguf)
	write(t, filepath.Join(root, "blobs", "sha256-"+lh), []byte(license))
	man := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:%s","size":10},
"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%d},
{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:%s","size":%d}]}`,
		strings.Repeat("0", 64), mh, len(gguf), lh, len(license))
	write(t, filepath.Join(root, "manifests", host, ns, model, tag), []byte(man))
	return "sha256:" + mh
}

func TestParseName(t *testing.T) {
	for _, c := range []struct{ in, name, tag string }{
		{"llama3", "llama3", "latest"},
		{"llama3.2:1b", "llama3.2", "1b"},
		{"library/llama3:8b", "llama3", "8b"},
		{"registry.ollama.ai/library/qwen2:0.5b", "qwen2", "0.5b"},
		{"user/med-model:q4_K_M", "user/med-model", "q4_K_M"},
		{"hf.co/org/Model-GGUF:Q8_0", "hf.co/org/Model-GGUF", "Q8_0"},
	} {
		n, tag, _, err := ParseName(c.in)
		if err != nil || n != c.name || tag != c.tag {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", c.in, n, tag, err, c.name, c.tag)
		}
	}
	for _, bad := range []string{"", ":x", "a:", "../etc", "a/../b", "a b", ".hidden", "-rf", "a//b", "x:../y"} {
		if _, _, _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

func TestListResolve(t *testing.T) {
	tmp := t.TempDir()
	dir, extra, oll := filepath.Join(tmp, "models"), filepath.Join(tmp, "usb"), filepath.Join(tmp, "ollama")
	gguf := assets.DefaultModel
	write(t, filepath.Join(dir, "med", "q4.gguf"), gguf)
	write(t, filepath.Join(dir, "solo.gguf"), gguf)
	write(t, filepath.Join(dir, ".hidden.gguf.tmp-1"), []byte("junk"))
	write(t, filepath.Join(extra, "med", "q8.gguf"), gguf)
	write(t, filepath.Join(extra, "user", "x", "latest.gguf"), gguf)
	// same name and tag in dayi's store and Ollama's: dayi's shadows.
	write(t, filepath.Join(dir, "shared", "latest.gguf"), gguf)
	digest := ollamaFixture(t, oll, "registry.ollama.ai", "library", "qwen2", "0.5b", gguf, "Apache 2.0 text")
	ollamaFixture(t, oll, "registry.ollama.ai", "library", "shared", "latest", gguf[:1000], "x")
	ollamaFixture(t, oll, "registry.ollama.ai", "someone", "tuned", "v1", gguf, "y")
	ollamaFixture(t, oll, "hf.co", "org", "M-GGUF", "Q4_K_M", gguf, "z")

	s := New(Config{Dir: dir, Extra: []string{extra, filepath.Join(tmp, "absent")}, Ollama: oll})
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.Source+" "+m.FullName())
	}
	want := []string{
		"dayi med:q4", "dayi shared:latest", "dayi solo:latest",
		"extra med:q8", "extra user/x:latest",
		"ollama hf.co/org/M-GGUF:Q4_K_M", "ollama qwen2:0.5b", "ollama shared:latest", "ollama someone/tuned:v1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("List:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	m, err := s.Find("registry.ollama.ai/library/qwen2:0.5b")
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest != digest || m.Size != int64(len(gguf)) || m.License != "Apache 2.0 text" || m.Writable() {
		t.Errorf("ollama model: %+v", m)
	}
	// qwen2 has one tag: the bare name finds it.
	if p, err := s.Resolve("qwen2"); err != nil || p != m.Path {
		t.Errorf("Resolve(qwen2) = %q, %v", p, err)
	}
	if m, _ := s.Find("shared"); m == nil || m.Source != SourceDayi {
		t.Errorf("shared resolved to %+v, want dayi's copy", m)
	}
	// med has two tags in two sources and no latest: ambiguous.
	if _, err := s.Find("med"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "med:q4") {
		t.Errorf("Find(med) = %v", err)
	}
	if _, err := s.Find("nope:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find(nope:1) = %v", err)
	}
	// Paths pass through.
	p := filepath.Join(dir, "solo.gguf")
	if got, err := s.Resolve(p); err != nil || got != p {
		t.Errorf("Resolve(path) = %q, %v", got, err)
	}
	if _, err := s.Resolve(filepath.Join(dir, "missing.gguf")); err == nil {
		t.Error("Resolve of a missing path succeeded")
	}
	// Read-only sources refuse removal.
	if _, err := s.Remove("qwen2:0.5b"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Remove(ollama) = %v", err)
	}
	if _, err := s.Remove("med:q8"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Remove(extra) = %v", err)
	}
}

func TestAddRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "models")
	s := New(Config{Dir: dir})
	gguf := assets.DefaultModel
	var last int64
	m, err := s.Add("team/med:v1", bytes.NewReader(gguf), AddOptions{License: "MIT", Origin: "test", Progress: func(n int64) { last = n }})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(gguf)
	if m.Digest != "sha256:"+hex.EncodeToString(sum[:]) || m.License != "MIT" || m.Path != filepath.Join(dir, "team", "med", "v1.gguf") || last != int64(len(gguf)) {
		t.Errorf("Add = %+v (progress %d)", m, last)
	}
	if _, err := s.Add("team/med:v1", bytes.NewReader(gguf), AddOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second Add = %v, want ErrExists", err)
	}
	// A stale sidecar (file changed behind dayi's back) is not trusted.
	later := m.Modified.Add(1e9)
	if err := os.Chtimes(m.Path, later, later); err != nil {
		t.Fatal(err)
	}
	if m2, _ := s.Find("team/med:v1"); m2.Digest != "" {
		t.Errorf("stale sidecar digest trusted: %q", m2.Digest)
	}
	// Not a GGUF: rejected, nothing left.
	if _, err := s.Add("bad", strings.NewReader("GGUF but not really"), AddOptions{}); err == nil {
		t.Error("Add of garbage succeeded")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "bad")); len(ents) != 0 {
		t.Errorf("garbage left behind: %v", ents)
	}
	if _, err := s.Remove("team/med:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "team")); !os.IsNotExist(err) {
		t.Errorf("empty directories left: %v", err)
	}
}
