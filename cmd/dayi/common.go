package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	if path == "" || path == assets.DefaultModelName {
		f, err := weights.Parse(assets.DefaultModel)
		if err != nil {
			return nil, fmt.Errorf("embedded model: %w", err)
		}
		f.Path = assets.DefaultModelName
		return f, nil
	}
	return weights.Open(path)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
