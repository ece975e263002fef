package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Ollama's on-disk layout (ollama/server/modelpath.go, manifest.go):
// $OLLAMA_MODELS/manifests/HOST/NAMESPACE/MODEL/TAG holds a Docker-v2-style
// JSON manifest whose layers name blobs by digest; blob sha256:<hex> lives in
// $OLLAMA_MODELS/blobs/sha256-<hex>. The GGUF is the layer of media type
// application/vnd.ollama.image.model; the licence, when any, is a text blob.
const (
	ollamaRegistry     = "registry.ollama.ai"
	ollamaLibrary      = "library"
	ollamaModelMedia   = "application/vnd.ollama.image.model"
	ollamaLicenseMedia = "application/vnd.ollama.image.license"
	// ollamaProjectorMedia is the layer of a vision model's projector
	// (Ollama's server/images.go: a model with one has the vision capability).
	ollamaProjectorMedia = "application/vnd.ollama.image.projector"
	maxManifestBytes     = 1 << 20
	maxLicenseBytes      = 1 << 20
)

type ollamaManifest struct {
	SchemaVersion int           `json:"schemaVersion"`
	Layers        []ollamaLayer `json:"layers"`
}

type ollamaLayer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// ollamaDisplayName shortens HOST/NAMESPACE/MODEL as `ollama list` shows it.
func ollamaDisplayName(host, ns, model string) string {
	switch {
	case host == ollamaRegistry && ns == ollamaLibrary:
		return model
	case host == ollamaRegistry:
		return ns + "/" + model
	}
	return host + "/" + ns + "/" + model
}

// blobPath maps a digest "sha256:<64 hex>" to its blob file, refusing
// anything else (a manifest is input; its digest must not walk the disk).
func blobPath(root, digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 {
		return "", fmt.Errorf("digest %q is not sha256:<64 hex digits>", digest)
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("digest %q is not lower-case hex", digest)
		}
	}
	return filepath.Join(root, "blobs", "sha256-"+hex), nil
}

// scanOllama lists the models of Ollama's store at root.
func scanOllama(root string) ([]Model, error) {
	mdir := filepath.Join(root, "manifests")
	var out []Model
	var errs []error
	err := filepath.WalkDir(mdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == mdir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			errs = append(errs, err)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(mdir, p)
		if err != nil {
			return nil
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 4 {
			return nil
		}
		name := ollamaDisplayName(parts[0], parts[1], parts[2])
		tag := parts[3]
		if checkName(name) != nil || checkPart(tag) != nil {
			return nil
		}
		m, err := readOllamaModel(root, p)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if m == nil {
			return nil // not a GGUF model (e.g. a projector-only or cloud manifest)
		}
		m.Name, m.Tag = name, tag
		out = append(out, *m)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// readOllamaModel reads one manifest; nil without error when it has no model layer.
func readOllamaModel(root, manifest string) (*Model, error) {
	f, err := os.Open(manifest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ollama manifest %s: %w", manifest, err)
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("ollama manifest %s: larger than %d bytes", manifest, maxManifestBytes)
	}
	var man ollamaManifest
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, fmt.Errorf("ollama manifest %s: %w", manifest, err)
	}
	var m *Model
	var license, projector string
	for _, l := range man.Layers {
		switch l.MediaType {
		case ollamaProjectorMedia:
			if projector != "" {
				continue
			}
			bp, err := blobPath(root, l.Digest)
			if err != nil {
				return nil, fmt.Errorf("ollama manifest %s: %w", manifest, err)
			}
			if st, err := os.Stat(bp); err == nil && st.Mode().IsRegular() {
				projector = bp
			}
		case ollamaModelMedia:
			if m != nil {
				continue // the first model layer is the model, as Ollama takes it
			}
			bp, err := blobPath(root, l.Digest)
			if err != nil {
				return nil, fmt.Errorf("ollama manifest %s: %w", manifest, err)
			}
			bst, err := os.Stat(bp)
			if err != nil {
				return nil, fmt.Errorf("ollama manifest %s: model blob: %w", manifest, err)
			}
			m = &Model{Path: bp, Size: bst.Size(), Digest: l.Digest, Modified: st.ModTime(), Source: SourceOllama, Root: root}
		case ollamaLicenseMedia:
			if bp, err := blobPath(root, l.Digest); err == nil && l.Size <= maxLicenseBytes {
				if t, err := os.ReadFile(bp); err == nil {
					if license != "" {
						license += "\n\n"
					}
					license += string(t)
				}
			}
		}
	}
	if m != nil {
		m.License, m.Projector = license, projector
	}
	return m, nil
}
