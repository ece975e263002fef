package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// Projector is the vision projector (mmproj GGUF) attached at load;
	// "" for none (projectors.go).
	Projector string
}

// loaded is a model in memory.
type loaded struct {
	src      modelSource
	file     *weights.File
	proj     *weights.File // the attached vision projector, nil for none
	lm       *engine.LM
	gen      Generator
	loadTime time.Duration

	refs      int
	keepAlive time.Duration
	expires   time.Time
	timer     *time.Timer
	footprint int64     // estimated bytes, counted in registry.used while loaded
	kv        int64     // one request's KV cache: each concurrent one past the first adds this
	sessions  int       // requests holding a KV cache now (registry.session)
	lastUsed  time.Time // eviction picks the idle model used longest ago
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
	used    int64                    // footprints of loaded models and of loads under way
	onEvict func(name string)        // counts evictions (metrics); may be nil
}

func newRegistry(cfg *Config, log *slog.Logger) *registry {
	return &registry{cfg: cfg, log: log, started: time.Now().UTC(), loaded: map[string]*loaded{}, loading: map[string]chan struct{}{}}
}

// canonical strips Ollama's default tag: "dayi-tiny:latest" is "dayi-tiny".
func canonical(name string) string {
	return strings.TrimSuffix(strings.TrimSpace(name), ":latest")
}

// list scans every source. Earlier sources win on name clashes: the
// embedded model, --model files, then the catalogue in its own order
// (dayi's store, read-only directories, Ollama's store).
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
	add(r.embedded())
	for _, p := range r.cfg.ModelPaths {
		if s, ok := fileSource(p, "model-flag", true); ok {
			add(s)
		}
	}
	if r.cfg.Catalogue != nil {
		ms, err := r.cfg.Catalogue.List()
		if err != nil {
			r.log.Warn("model catalogue", "err", err)
		}
		for _, m := range ms {
			add(m.source())
		}
	}
	return out
}

func (r *registry) embedded() modelSource {
	return modelSource{Name: assets.DefaultModelName, Size: int64(len(assets.DefaultModel)), Origin: "embedded", ReadOnly: true,
		Modified: r.started, Digest: "sha256:" + hexSum(assets.DefaultModel)}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileSource describes a GGUF file given with --model.
func fileSource(path, origin string, ro bool) (modelSource, bool) {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return modelSource{}, false
	}
	name := strings.TrimSuffix(filepath.Base(path), ".gguf")
	return modelSource{Name: name, Path: path, Size: st.Size(), Modified: st.ModTime(), Origin: origin, ReadOnly: ro,
		Digest: pseudoDigest(path, st.Size(), st.ModTime())}, true
}

// pseudoDigest stands in for a model whose sha256 is not recorded: it hashes
// path, size and time rather than the content, since hashing multi-gigabyte
// weights on every listing would stall /api/tags and clients only use the
// digest as an identity.
func pseudoDigest(path string, size int64, mod time.Time) string {
	return "sha256:" + hexSum([]byte(fmt.Sprintf("%s|%d|%d", path, size, mod.UnixNano())))
}

// find returns the source for name: the embedded model and --model files by
// their exact names, anything else through the catalogue (whose rules are
// those of `dayi run NAME`).
func (r *registry) find(name string) (modelSource, error) {
	src, err := r.findSource(name)
	if err == nil {
		src.Projector = r.projectorFor(src)
	}
	return src, err
}

func (r *registry) findSource(name string) (modelSource, error) {
	name = canonical(name)
	if name == assets.DefaultModelName {
		return r.embedded(), nil
	}
	for _, p := range r.cfg.ModelPaths {
		if s, ok := fileSource(p, "model-flag", true); ok && s.Name == name {
			return s, nil
		}
	}
	if r.cfg.Catalogue != nil {
		m, err := r.cfg.Catalogue.Find(name)
		if err == nil {
			return m.source(), nil
		}
		if !errors.Is(err, ErrUnknownModel) {
			// A damaged manifest or an unreadable directory: the log gets
			// the details (they name server paths), the client a 404.
			r.log.Warn("model catalogue", "err", err)
		}
	}
	// The error does not list the known models: any caller could read the
	// whole catalogue from a typo (issue 15, finding 10); /api/tags lists
	// them for callers allowed to.
	return modelSource{}, fmt.Errorf("%w: %.256q", ErrUnknownModel, name)
}

// resolve is the name a model is loaded under: a loaded name as it is,
// otherwise the name find resolves it to (so "NAME" and "NAME:TAG" of one
// model share one copy in memory).
func (r *registry) resolve(name string) string {
	name = canonical(name)
	r.mu.Lock()
	_, ok := r.loaded[name]
	r.mu.Unlock()
	if !ok {
		if src, err := r.find(name); err == nil {
			return src.Name
		}
	}
	return name
}

// acquire returns the loaded model, loading it on first use. The caller must
// call release with the keep-alive that applies after its request (nil: the
// configured default).
func (r *registry) acquire(ctx context.Context, name string) (*loaded, time.Duration, error) {
	name = r.resolve(name)
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

		l, err := r.load(ctx, name)
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

func (r *registry) load(ctx context.Context, name string) (l *loaded, err error) {
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
	// The budget is reserved before any weight is copied, evicting idle
	// models if needed, so concurrent loads cannot overshoot it together.
	fp, err := engine.EstimateFootprint(f, r.cfg.Engine)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	need := fp.Total()
	if err := r.reserve(ctx, name, need); err != nil {
		f.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			r.mu.Lock()
			r.used -= need
			r.mu.Unlock()
		}
	}()
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
	if sp := r.cfg.Speculation; sp != nil {
		if err := lm.SetSpeculation(*sp); err != nil {
			r.log.Warn("speculative decoding off for this model", "model", name, "err", err)
		}
	}
	// Continuous batching: the model's requests decode together, one
	// batched step per token (engine.Scheduler); the server's own admission
	// already bounds them, so the scheduler's queue never refuses first.
	var gen Generator
	if r.cfg.NewGenerator != nil {
		gen = r.cfg.NewGenerator(lm)
	} else {
		gen = lm.NewScheduler(r.cfg.MaxActive, r.cfg.MaxQueued,
			engine.WithOutputBuffer(r.cfg.StreamBuffer, r.cfg.SlowReaderTimeout))
	}
	proj := r.attachProjector(lm, src)
	return &loaded{src: src, file: f, proj: proj, lm: lm, gen: gen, loadTime: time.Since(start), footprint: need, kv: fp.KV}, nil
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
	l.lastUsed = time.Now()
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
	r.used -= l.footprint
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if c, ok := l.gen.(interface{ Close() }); ok && l.gen != Generator(l.lm) {
		c.Close()
	}
	l.lm.Close() // its kernel workers: refs == 0, so no request is using it
	l.file.Close()
	if l.proj != nil {
		l.proj.Close()
	}
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
