package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"dayi/assets"
	"dayi/engine"
	"dayi/engine/arch"
	"dayi/weights"
)

// Generator is what the server drives per loaded model: (*engine.LM).Generate
// today, engine.Scheduler (continuous batching, same signature) when it lands.
type Generator interface {
	Generate(ctx context.Context, req *engine.Request, onText func(string) error) (*engine.Result, error)
}

// modelSource says where a model's GGUF comes from.
type modelSource struct {
	Name     string
	Path     string // "" for the embedded model
	Digest   string // sha256:… (Ollama blobs: the real one; others: of path, size and time)
	Size     int64
	Modified time.Time
	Origin   string // "embedded", "models-dir", "model-flag", "ollama", "created"
	ReadOnly bool
}

// loaded is a model in memory.
type loaded struct {
	src      modelSource
	file     *weights.File
	lm       *engine.LM
	gen      Generator
	loadTime time.Duration

	refs      int
	keepAlive time.Duration
	expires   time.Time
	timer     *time.Timer
}

// ErrUnknownModel is returned for a name no source provides.
var ErrUnknownModel = errors.New("model not found")

// ErrUnsupportedArch marks models whose architecture dayi cannot run (they go
// to the Ollama fallback when one is configured).
var ErrUnsupportedArch = errors.New("unsupported architecture")

// registry finds models by name and keeps loaded ones for their keep-alive.
type registry struct {
	cfg     *Config
	log     *slog.Logger
	started time.Time // the embedded model's modification time

	mu      sync.Mutex
	loaded  map[string]*loaded
	loading map[string]chan struct{} // closed when a load finishes
}

func newRegistry(cfg *Config, log *slog.Logger) *registry {
	return &registry{cfg: cfg, log: log, started: time.Now().UTC(), loaded: map[string]*loaded{}, loading: map[string]chan struct{}{}}
}

// canonical strips Ollama's default tag: "dayi-tiny:latest" is "dayi-tiny".
func canonical(name string) string {
	return strings.TrimSuffix(strings.TrimSpace(name), ":latest")
}

// list scans every source. Earlier sources win on name clashes: embedded,
// --model, --models DIR, created models, then Ollama's store.
func (r *registry) list() []modelSource {
	var out []modelSource
	seen := map[string]bool{}
	add := func(s modelSource) {
		if s.Name == "" || seen[s.Name] {
			return
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	add(modelSource{Name: assets.DefaultModelName, Size: int64(len(assets.DefaultModel)), Origin: "embedded", ReadOnly: true, Modified: r.started,
		Digest: "sha256:" + hexSum(assets.DefaultModel)})
	for _, p := range r.cfg.ModelPaths {
		if s, ok := fileSource(p, "model-flag", true); ok {
			add(s)
		}
	}
	for _, dir := range []string{r.cfg.ModelsDir, r.cfg.CreateDir} {
		if dir == "" {
			continue
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".gguf") {
				continue
			}
			origin, ro := "models-dir", true
			if dir == r.cfg.CreateDir {
				origin, ro = "created", false
			}
			if s, ok := fileSource(filepath.Join(dir, e.Name()), origin, ro); ok {
				add(s)
			}
		}
	}
	for _, s := range ollamaStore(r.cfg.ollamaDir()) {
		add(s)
	}
	return out
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileSource describes a GGUF file. Its digest hashes path, size and time
// rather than the content: hashing multi-gigabyte weights on every listing
// would stall /api/tags, and clients only use the digest as an identity.
func fileSource(path, origin string, ro bool) (modelSource, bool) {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return modelSource{}, false
	}
	name := strings.TrimSuffix(filepath.Base(path), ".gguf")
	id := fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())
	return modelSource{Name: name, Path: path, Size: st.Size(), Modified: st.ModTime(), Origin: origin, ReadOnly: ro,
		Digest: "sha256:" + hexSum([]byte(id))}, true
}

// ollamaManifest is the part of an Ollama manifest we read: the layer whose
// mediaType is application/vnd.ollama.image.model names the GGUF blob
// (ollama/ollama server/internal/manifest docs; blobs/sha256-<hex>).
type ollamaManifest struct {
	Layers []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	} `json:"layers"`
}

// ollamaStore lists the models in an Ollama models directory (read-only).
// Library models are named NAME:TAG (NAME for the latest tag), others
// NAMESPACE/NAME:TAG, and other registries HOST/NAMESPACE/NAME:TAG, as
// Ollama names them.
func ollamaStore(dir string) []modelSource {
	if dir == "" {
		return nil
	}
	root := filepath.Join(dir, "manifests")
	var out []modelSource
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return nil
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 4 {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil || len(data) > 1<<20 {
			return nil
		}
		var m ollamaManifest
		if json.Unmarshal(data, &m) != nil {
			return nil
		}
		for _, l := range m.Layers {
			if l.MediaType != "application/vnd.ollama.image.model" || !strings.HasPrefix(l.Digest, "sha256:") {
				continue
			}
			blob := filepath.Join(dir, "blobs", strings.Replace(l.Digest, ":", "-", 1))
			st, err := os.Stat(blob)
			if err != nil {
				return nil
			}
			name := parts[2] + ":" + parts[3]
			switch {
			case parts[0] != "registry.ollama.ai":
				name = parts[0] + "/" + parts[1] + "/" + name
			case parts[1] != "library":
				name = parts[1] + "/" + name
			}
			out = append(out, modelSource{Name: canonical(name), Path: blob, Size: st.Size(), Modified: st.ModTime(),
				Origin: "ollama", ReadOnly: true, Digest: l.Digest})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// find returns the source for name.
func (r *registry) find(name string) (modelSource, error) {
	name = canonical(name)
	all := r.list()
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	// The error does not list the known models: any caller could read the
	// whole catalogue from a typo (issue 15, finding 10); /api/tags lists
	// them for callers allowed to.
	return modelSource{}, fmt.Errorf("%w: %.256q", ErrUnknownModel, name)
}

// acquire returns the loaded model, loading it on first use. The caller must
// call release with the keep-alive that applies after its request (nil: the
// configured default).
func (r *registry) acquire(ctx context.Context, name string) (*loaded, time.Duration, error) {
	name = canonical(name)
	for {
		r.mu.Lock()
		if l, ok := r.loaded[name]; ok {
			l.refs++
			if l.timer != nil {
				l.timer.Stop()
				l.timer = nil
			}
			r.mu.Unlock()
			return l, 0, nil
		}
		if ch, ok := r.loading[name]; ok {
			r.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		ch := make(chan struct{})
		r.loading[name] = ch
		r.mu.Unlock()

		l, err := r.load(name)
		r.mu.Lock()
		delete(r.loading, name)
		close(ch)
		if err != nil {
			r.mu.Unlock()
			return nil, 0, err
		}
		l.refs = 1
		r.loaded[name] = l
		r.mu.Unlock()
		r.log.Info("model loaded", "model", name, "seconds", l.loadTime.Seconds())
		return l, l.loadTime, nil
	}
}

func (r *registry) load(name string) (*loaded, error) {
	src, err := r.find(name)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var f *weights.File
	if src.Path == "" {
		f, err = weights.Parse(assets.DefaultModel)
		if f != nil {
			f.Path = assets.DefaultModelName
		}
	} else {
		f, err = weights.OpenWith(src.Path, r.cfg.Open)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	if a := f.Arch(); !slices.Contains(arch.Supported(), a) {
		f.Close()
		return nil, fmt.Errorf("model %s: %w %q (dayi runs: %s)", name, ErrUnsupportedArch, a, strings.Join(arch.Supported(), ", "))
	}
	m, err := engine.Load(f, r.cfg.Engine)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	// Continuous batching: the model's requests decode together, one
	// batched step per token (engine.Scheduler); the server's own admission
	// already bounds them, so the scheduler's queue never refuses first.
	var gen Generator = lm.NewScheduler(r.cfg.MaxActive, r.cfg.MaxQueued)
	if r.cfg.NewGenerator != nil {
		gen = r.cfg.NewGenerator(lm)
	}
	return &loaded{src: src, file: f, lm: lm, gen: gen, loadTime: time.Since(start)}, nil
}

// release ends one use. keepAlive < 0 keeps the model forever, 0 unloads it
// as soon as no request uses it.
func (r *registry) release(l *loaded, keepAlive *time.Duration) {
	ka := r.cfg.KeepAlive
	if keepAlive != nil {
		ka = *keepAlive
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l.refs--
	l.keepAlive = ka
	if l.refs > 0 {
		return
	}
	switch {
	case ka < 0:
		l.expires = time.Time{}
	case ka == 0:
		r.unloadLocked(l)
	default:
		l.expires = time.Now().Add(ka)
		l.timer = time.AfterFunc(ka, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if l.refs == 0 && r.loaded[l.src.Name] == l && !time.Now().Before(l.expires) {
				r.unloadLocked(l)
			}
		})
	}
}

func (r *registry) unloadLocked(l *loaded) {
	if r.loaded[l.src.Name] != l {
		return
	}
	delete(r.loaded, l.src.Name)
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if c, ok := l.gen.(interface{ Close() }); ok && l.gen != Generator(l.lm) {
		c.Close()
	}
	l.file.Close()
	r.log.Info("model unloaded", "model", l.src.Name)
}

// unloadAll drops every idle model (server shutdown, model deletion).
func (r *registry) unload(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, l := range r.loaded {
		if (name == "" || n == name) && l.refs == 0 {
			r.unloadLocked(l)
		}
	}
}

// running lists loaded models for /api/ps.
func (r *registry) running() []*loaded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*loaded, 0, len(r.loaded))
	for _, l := range r.loaded {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].src.Name < out[j].src.Name })
	return out
}

// numLoaded is the loaded-models gauge.
func (r *registry) numLoaded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.loaded)
}

// openEmbedded parses the embedded model.
func openEmbedded() (*weights.File, error) {
	f, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	f.Path = assets.DefaultModelName
	return f, nil
}

func embeddedBytes() []byte { return assets.DefaultModel }
