package store

import (
	"os"
	"path/filepath"
	"strings"
)

// Vision models come as two GGUF files: the language model and a projector
// (llama.cpp's mmproj: the image encoder and its projection). llama.cpp's
// converters and the GGUF repositories name the projector mmproj-*.gguf and
// place it beside the model; Ollama stores it as a separate manifest layer
// (ollamaProjectorMedia). dayi pairs them the same ways.

// IsProjectorFile reports whether a file name is a projector's
// (mmproj-*.gguf). Such files are not listed as models.
func IsProjectorFile(name string) bool {
	n := strings.ToLower(filepath.Base(name))
	return strings.HasPrefix(n, "mmproj") && strings.HasSuffix(n, ".gguf")
}

// SiblingProjector returns the projector beside the model file at path:
// mmproj-<model's file name> when it exists; else the directory's only
// mmproj-*.gguf when the directory holds only this model, or when shared
// is set (a store's NAME/ directory, whose TAG.gguf files are quantizations
// of one model, as a GGUF repository ships one mmproj for all of them).
// "" otherwise: in a flat directory of several models one projector
// belongs to one of them, and pairing a model with another's encoder would
// be silent nonsense, so ambiguity pairs nothing (--mmproj pairs by hand).
func SiblingProjector(path string, shared bool) string {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var found []string
	models := 0
	own := strings.ToLower("mmproj-" + filepath.Base(path))
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(strings.ToLower(name), ".gguf") {
			continue
		}
		if !IsProjectorFile(name) {
			models++
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if strings.ToLower(name) == own {
			return p
		}
		found = append(found, p)
	}
	if len(found) == 1 && (shared || models == 1) {
		return found[0]
	}
	return ""
}
