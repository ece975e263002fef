package store

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hexSum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// Projectors pair by llama.cpp's file naming and Ollama's projector layer,
// and are never listed as models themselves.
func TestProjectorPairing(t *testing.T) {
	root := t.TempDir()
	gguf := []byte("GGUF-test")
	dir := filepath.Join(root, "models")
	// A flat directory: medgemma has its own mmproj; qwen has none and
	// must not get medgemma's.
	write(t, filepath.Join(dir, "medgemma.gguf"), gguf)
	write(t, filepath.Join(dir, "mmproj-medgemma.gguf"), gguf)
	write(t, filepath.Join(dir, "qwen.gguf"), gguf)
	// A NAME/ directory of quantizations sharing one projector.
	write(t, filepath.Join(dir, "gemma3", "q4.gguf"), gguf)
	write(t, filepath.Join(dir, "gemma3", "q8.gguf"), gguf)
	write(t, filepath.Join(dir, "gemma3", "mmproj-F16.gguf"), gguf)
	// A flat directory with one model and one projector of another name.
	solo := filepath.Join(root, "solo")
	write(t, filepath.Join(solo, "derm.gguf"), gguf)
	write(t, filepath.Join(solo, "mmproj-model-f16.gguf"), gguf)
	// Two projectors, neither named for the model: ambiguous.
	two := filepath.Join(root, "two")
	write(t, filepath.Join(two, "x.gguf"), gguf)
	write(t, filepath.Join(two, "mmproj-a.gguf"), gguf)
	write(t, filepath.Join(two, "mmproj-b.gguf"), gguf)

	s := New(Config{Dir: dir, Extra: []string{solo, two}})
	ms, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range ms {
		got[m.FullName()] = m.Projector
	}
	want := map[string]string{
		"medgemma:latest": filepath.Join(dir, "mmproj-medgemma.gguf"),
		"qwen:latest":     "",
		"gemma3:q4":       filepath.Join(dir, "gemma3", "mmproj-F16.gguf"),
		"gemma3:q8":       filepath.Join(dir, "gemma3", "mmproj-F16.gguf"),
		"derm:latest":     filepath.Join(solo, "mmproj-model-f16.gguf"),
		"x:latest":        "",
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v (projectors are not models)", got, want)
	}
	for name, p := range want {
		if got[name] != p {
			t.Errorf("%s: projector %q, want %q", name, got[name], p)
		}
	}
}

func TestOllamaProjectorLayer(t *testing.T) {
	root := t.TempDir()
	ollamaFixture(t, root, ollamaRegistry, ollamaLibrary, "medgemma", "4b", []byte("GGUF-model"), "licence")
	// Add a projector layer to the manifest, as Ollama writes vision models.
	proj := []byte("GGUF-projector")
	digest := "sha256:" + hexSum(proj)
	write(t, filepath.Join(root, "blobs", "sha256-"+hexSum(proj)), proj)
	manPath := filepath.Join(root, "manifests", ollamaRegistry, ollamaLibrary, "medgemma", "4b")
	man, err := os.ReadFile(manPath)
	var m *Model
	if err != nil {
		t.Fatal(err)
	}
	man = []byte(strings.Replace(string(man), `"layers":[`, `"layers":[{"mediaType":"application/vnd.ollama.image.projector","digest":"`+digest+`","size":14},`, 1))
	write(t, manPath, man)
	m, err = New(Config{Ollama: root}).Find("medgemma:4b")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "blobs", "sha256-"+hexSum(proj)); m.Projector != want {
		t.Fatalf("projector %q, want %q", m.Projector, want)
	}
	// A text model's manifest pairs nothing.
	ollamaFixture(t, root, ollamaRegistry, ollamaLibrary, "qwen", "latest", []byte("GGUF-qwen"), "")
	if m, err := New(Config{Ollama: root}).Find("qwen"); err != nil || m.Projector != "" {
		t.Fatalf("qwen: %v %+v", err, m)
	}
}
