package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dayi/assets"
	"dayi/weights"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

// dayiHome returns $DAYI_HOME or ~/.dayi.
func dayiHome() string {
	if h := os.Getenv("DAYI_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".dayi"
	}
	return filepath.Join(home, ".dayi")
}

// openModelFile opens the GGUF at path, or the embedded default model when path
// is empty or names it.
func openModelFile(path string) (*weights.File, error) {
	return openModelFileWith(path, weights.OpenOptions{})
}

// openModelFileWith is openModelFile with a memory mode (--no-mmap, --mlock).
// A value that is not a file here is looked up as a model name in the store
// ($DAYI_HOME/models, extra dirs, Ollama's). The embedded model already lives
// in the binary's memory, so the options only apply to files.
func openModelFileWith(path string, opt weights.OpenOptions) (*weights.File, error) {
	if _, err := os.Stat(path); path != "" && err != nil && !strings.ContainsAny(path, `/\`) {
		resolved, rerr := resolveModel(path)
		if rerr != nil {
			return nil, fmt.Errorf("model %q is neither a file nor in the model store (see dayi list): %w", path, rerr)
		}
		path = resolved
	}
	if path == "" || path == assets.DefaultModelName {
		f, err := weights.Parse(assets.DefaultModel)
		if err != nil {
			return nil, fmt.Errorf("embedded model: %w", err)
		}
		f.Path = assets.DefaultModelName
		return f, nil
	}
	return weights.OpenWith(path, opt)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
