package main

import (
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"

	"dayi/engine"
	"dayi/imageio"
	"dayi/server"
	"dayi/store"
	"dayi/weights"
)

// readImages reads --image files with the limits the server applies to
// request images (imageio.DefaultLimits): a file is refused from its size
// before it is read, and from its header before its pixels are decoded.
func readImages(paths []string) ([]image.Image, error) {
	lim := imageio.DefaultLimits()
	if err := imageio.CheckCount(len(paths), lim); err != nil {
		return nil, fmt.Errorf("--image: %w", err)
	}
	out := make([]image.Image, 0, len(paths))
	for _, p := range paths {
		img, err := readImage(p, lim)
		if err != nil {
			return nil, fmt.Errorf("--image %s: %w", p, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func readImage(path string, lim imageio.Limits) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > int64(lim.MaxBytes) {
		return nil, &imageio.LimitError{Limit: "bytes", Got: st.Size(), Max: int64(lim.MaxBytes)}
	}
	// The file may grow after Stat: never read more than the limit.
	data, err := io.ReadAll(io.LimitReader(f, int64(lim.MaxBytes)+1))
	if err != nil {
		return nil, err
	}
	return imageio.Decode(data, lim)
}

// attachProjector pairs lm with the mmproj at path, or, when path is ""
// and images are given, with the projector dayi serve would pair (a
// sibling mmproj-*.gguf, an Ollama projector layer). An explicit --mmproj that fails is an error;
// with no projector at all, Generate answers engine.ErrNoVision.
func attachProjector(lm *engine.LM, model, path string, images int) (func(), error) {
	if path == "" && images > 0 {
		path = pairedProjector(model)
	}
	if path == "" {
		return func() {}, nil
	}
	pf, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--mmproj: %w", err)
	}
	if err := lm.AttachProjector(pf); err != nil {
		pf.Close()
		return nil, fmt.Errorf("--mmproj %s: %w", path, err)
	}
	return func() { pf.Close() }, nil
}

// pairedProjector is the projector of --model: a file's sibling
// mmproj-*.gguf, or what the model store pairs with a model name.
func pairedProjector(model string) string {
	if model == "" {
		return ""
	}
	if st, err := os.Stat(model); err == nil && st.Mode().IsRegular() {
		return store.SiblingProjector(model, false)
	}
	if m, err := modelStore().Find(model); err == nil {
		return m.Projector
	}
	return ""
}

// placeRunImages puts the images' markers into the prompt as the server's
// chat path does (server.PlaceImages: before the text, at [img]
// placeholders, or where the prompt already holds one marker per image).
func placeRunImages(prompt string, n int) (string, error) {
	return server.PlaceImages("prompt", prompt, n)
}

// projectorPairs reads dayi serve's --mmproj values: NAME=PATH pairs (NAME
// as the model is served, without ":latest"), or one PATH when exactly one
// --model is given. --model files with a sibling mmproj-*.gguf are paired
// too unless a --mmproj names them.
func projectorPairs(values, modelPaths []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		name, path, ok := strings.Cut(v, "=")
		if !ok {
			if len(modelPaths) != 1 || len(values) != 1 {
				return nil, fmt.Errorf("--mmproj %s: name the model (--mmproj NAME=PATH) unless exactly one --model is given", v)
			}
			name, path = servedName(modelPaths[0]), v
		}
		name = strings.TrimSuffix(strings.TrimSpace(name), ":latest")
		if name == "" || path == "" {
			return nil, fmt.Errorf("--mmproj %q: want NAME=PATH", v)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("--mmproj %s: %w", name, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("--mmproj %s: %s is not a file", name, path)
		}
		out[name] = path
	}
	for _, p := range modelPaths {
		n := servedName(p)
		if _, ok := out[n]; ok {
			continue
		}
		if sib := store.SiblingProjector(p, false); sib != "" {
			out[n] = sib
		}
	}
	return out, nil
}

// servedName is the name a --model file is served under (server.fileSource).
func servedName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".gguf")
}
