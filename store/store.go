// Package store finds models by name on a machine with no network: dayi's own
// writable store under $DAYI_HOME/models, read-only extra directories (a
// shared NFS mount, a USB disk) and Ollama's store, so a hospital that already
// pulled models with Ollama can run them without copying gigabytes.
//
// Layout of dayi's store and of extra directories:
//
//	models/NAME.gguf            → NAME:latest
//	models/NAME/TAG.gguf        → NAME:TAG (NAME may contain '/': user/model)
//	models/NAME/TAG.json        → optional sidecar: digest, licence, origin
//
// Names are matched in that order: dayi's store, the extra directories in
// the order given, Ollama. The first match wins, so a copy in dayi's store
// shadows the Ollama model of the same name.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Sources of a Model.
const (
	SourceDayi   = "dayi"   // $DAYI_HOME/models, writable
	SourceExtra  = "extra"  // a read-only extra directory
	SourceOllama = "ollama" // Ollama's manifests and blobs, read-only
)

// DefaultTag is the tag of a name given without one (as Ollama and Docker).
const DefaultTag = "latest"

// ErrNotFound is wrapped when no model has the requested name.
var ErrNotFound = errors.New("model not found")

// ErrReadOnly is wrapped when a change is asked of a read-only source.
var ErrReadOnly = errors.New("read-only model source")

// ErrInvalidName is wrapped when a model name or tag breaks the naming
// rules (see ParseName); such a name can never match a model.
var ErrInvalidName = errors.New("invalid model name")

// Model is one model the store can run.
type Model struct {
	Name     string    `json:"name"`
	Tag      string    `json:"tag"`
	Path     string    `json:"path"`             // the GGUF file
	Size     int64     `json:"size"`             // bytes
	Digest   string    `json:"digest,omitempty"` // "sha256:<hex>" when known without reading the file
	Modified time.Time `json:"modified"`
	Source   string    `json:"source"`           // SourceDayi, SourceExtra or SourceOllama
	Root     string    `json:"root"`             // the directory it was found under
	License  string    `json:"-"`                // licence text when the source records one (sidecar, Ollama layer)
	Origin   string    `json:"origin,omitempty"` // where it came from (a pack, a copied file), from the sidecar
	// Projector is the vision projector (mmproj GGUF) paired with the
	// model: a sibling mmproj-*.gguf or an Ollama projector layer
	// (projector.go); "" for a text-only model.
	Projector string `json:"projector,omitempty"`
}

// FullName is NAME:TAG.
func (m *Model) FullName() string { return m.Name + ":" + m.Tag }

// Writable reports whether rm and overwrite are allowed.
func (m *Model) Writable() bool { return m.Source == SourceDayi }

// Config says where models live. The zero value has no sources.
type Config struct {
	Dir    string   // dayi's writable store, normally $DAYI_HOME/models
	Extra  []string // read-only directories with the same layout
	Ollama string   // Ollama's models directory (holding manifests/ and blobs/); "" = none
}

// Store lists and resolves models over a Config. It holds no cache: every
// call looks at the disk, so models copied in by hand are seen at once.
type Store struct {
	cfg Config
}

// New returns a store over cfg.
func New(cfg Config) *Store { return &Store{cfg: cfg} }

// Config returns the configuration the store was made with.
func (s *Store) Config() Config { return s.cfg }

// Home is $DAYI_HOME, or ~/.dayi (the same rule as the dayi command).
func Home() string {
	if h := os.Getenv("DAYI_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".dayi"
	}
	return filepath.Join(home, ".dayi")
}

// DefaultConfig reads the environment: $DAYI_HOME/models; extra directories
// from $DAYI_MODELS_PATH (separated by the OS list separator, ':' on Unix);
// Ollama's store from $OLLAMA_MODELS or ~/.ollama/models.
func DefaultConfig() Config {
	cfg := Config{Dir: filepath.Join(Home(), "models")}
	for _, d := range filepath.SplitList(os.Getenv("DAYI_MODELS_PATH")) {
		if d != "" {
			cfg.Extra = append(cfg.Extra, d)
		}
	}
	if o := os.Getenv("OLLAMA_MODELS"); o != "" {
		cfg.Ollama = o
	} else if home, err := os.UserHomeDir(); err == nil {
		cfg.Ollama = filepath.Join(home, ".ollama", "models")
	}
	return cfg
}

// Default is the store the environment describes.
func Default() *Store { return New(DefaultConfig()) }

// List is Default().List(): every model of the environment's store.
func List() ([]Model, error) { return Default().List() }

// Resolve is Default().Resolve(name): the GGUF path for a model name or path.
func Resolve(name string) (string, error) { return Default().Resolve(name) }

// List returns every model, in precedence order (dayi, extra, Ollama), each
// source sorted by name and tag. Shadowed duplicates are listed too, so that
// `dayi list` shows what is on disk; Find returns the first. Missing
// directories are not errors; unreadable entries are skipped with their
// error returned alongside the rest only when nothing could be listed.
func (s *Store) List() ([]Model, error) {
	var all []Model
	var errs []error
	add := func(ms []Model, err error) {
		sortModels(ms)
		all = append(all, ms...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.cfg.Dir != "" {
		add(scanDir(s.cfg.Dir, SourceDayi))
	}
	for _, d := range s.cfg.Extra {
		add(scanDir(d, SourceExtra))
	}
	if s.cfg.Ollama != "" {
		add(scanOllama(s.cfg.Ollama))
	}
	if len(all) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

func sortModels(ms []Model) {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Name != ms[j].Name {
			return ms[i].Name < ms[j].Name
		}
		return ms[i].Tag < ms[j].Tag
	})
}

// Find returns the model a name refers to. A name without a tag means
// NAME:latest, or, when there is no latest, the only tag of NAME if there is
// exactly one (an air-gapped convenience; Ollama would refuse).
func (s *Store) Find(name string) (*Model, error) {
	n, tag, explicit, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var tags []*Model
	for i := range all {
		m := &all[i]
		if m.Name != n {
			continue
		}
		if m.Tag == tag {
			return m, nil
		}
		tags = append(tags, m)
	}
	if !explicit && len(tags) > 0 {
		first := tags[0]
		single := true // one tag, possibly shadowed copies of it
		for _, m := range tags[1:] {
			single = single && m.Tag == first.Tag
		}
		if single {
			return first, nil
		}
		var names []string
		for _, m := range tags {
			names = append(names, m.FullName())
		}
		return nil, fmt.Errorf("%w: %s:%s (there are %s; name one)", ErrNotFound, n, tag, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("%w: %s:%s", ErrNotFound, n, tag)
}

// Resolve returns the GGUF file for name: a path to an existing file (one
// containing a path separator or ending in .gguf) is returned as is;
// anything else is looked up as a model name.
func (s *Store) Resolve(name string) (string, error) {
	if LooksLikePath(name) {
		st, err := os.Stat(name)
		if err != nil {
			return "", fmt.Errorf("model %s: %w", name, err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("model %s: is a directory", name)
		}
		return name, nil
	}
	m, err := s.Find(name)
	if err != nil {
		return "", err
	}
	return m.Path, nil
}

// LooksLikePath reports whether name is meant as a file path rather than a
// model name: it ends in .gguf, or starts with '/', './', '../' or '~', or
// contains the OS separator where that is not '/'.
func LooksLikePath(name string) bool {
	if strings.HasSuffix(strings.ToLower(name), ".gguf") {
		return true
	}
	if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../") || strings.HasPrefix(name, "~") {
		return true
	}
	return filepath.Separator != '/' && strings.ContainsRune(name, filepath.Separator)
}

// ParseName splits NAME[:TAG] into its canonical parts. explicit says whether
// a tag was given. Ollama's long forms (registry.ollama.ai/library/NAME,
// library/NAME) are shortened to NAME. A ':' before the last '/' belongs to a
// host name (localhost:5000/x), not to the tag.
func ParseName(s string) (name, tag string, explicit bool, err error) {
	name, tag = s, DefaultTag
	slash := strings.LastIndexByte(s, '/')
	if c := strings.LastIndexByte(s, ':'); c > slash {
		name, tag, explicit = s[:c], s[c+1:], true
	}
	name = strings.TrimPrefix(name, ollamaRegistry+"/")
	name = strings.TrimPrefix(name, ollamaLibrary+"/")
	if err := checkName(name); err != nil {
		return "", "", false, fmt.Errorf("%w %q: %w", ErrInvalidName, s, err)
	}
	if err := checkPart(tag); err != nil {
		return "", "", false, fmt.Errorf("%w %q: tag: %w", ErrInvalidName, s, err)
	}
	return name, tag, explicit, nil
}

// checkName accepts slash-separated parts.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	for _, p := range strings.Split(name, "/") {
		if err := checkPart(p); err != nil {
			return err
		}
	}
	return nil
}

// checkPart accepts letters, digits, '.', '_', '-' (and ':' nowhere), not
// starting with '.' or '-', so a part can never be "..", a hidden file or a flag.
func checkPart(p string) error {
	if p == "" {
		return errors.New("empty part")
	}
	if len(p) > 128 {
		return errors.New("part longer than 128 bytes")
	}
	if p[0] == '.' || p[0] == '-' {
		return fmt.Errorf("%q starts with %q", p, p[0])
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%q has the character %q (allowed: letters, digits, . _ -)", p, r)
		}
	}
	return nil
}

// Sidecar is the optional TAG.json next to a model in dayi's store, written by
// cp and unpack, which read the whole file anyway: it saves hashing gigabytes
// again for `dayi list` and `dayi pack`. Its digest is trusted only while the
// file's size and modification time are those recorded.
type Sidecar struct {
	Digest   string    `json:"digest"` // sha256:<hex>
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	License  string    `json:"license,omitempty"`
	Origin   string    `json:"origin,omitempty"`
}

// scanDir lists dir with the layout in the package comment.
func scanDir(dir, source string) ([]Model, error) {
	var out []Model
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			errs = append(errs, err)
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(d.Name(), ".gguf") || IsProjectorFile(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil
		}
		rel = filepath.ToSlash(strings.TrimSuffix(rel, ".gguf"))
		name, tag := rel, DefaultTag
		if i := strings.LastIndexByte(rel, '/'); i >= 0 {
			name, tag = rel[:i], rel[i+1:]
		}
		if checkName(name) != nil || checkPart(tag) != nil {
			return nil // not a name dayi can address; ignore rather than fail the listing
		}
		st, err := d.Info()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err = os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		}
		m := Model{Name: name, Tag: tag, Path: p, Size: st.Size(), Modified: st.ModTime(), Source: source, Root: dir, Projector: SiblingProjector(p, filepath.Dir(p) != filepath.Clean(dir))}
		if sc, err := ReadSidecar(p); err == nil {
			if sc.Size == m.Size && sc.Modified.Equal(m.Modified) {
				m.Digest = sc.Digest
			}
			m.License, m.Origin = sc.License, sc.Origin
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// SidecarPath is where the sidecar of the GGUF at path lives.
func SidecarPath(path string) string { return strings.TrimSuffix(path, ".gguf") + ".json" }

// ReadSidecar reads the sidecar of the GGUF at path.
func ReadSidecar(path string) (*Sidecar, error) {
	b, err := os.ReadFile(SidecarPath(path))
	if err != nil {
		return nil, err
	}
	var sc Sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, fmt.Errorf("%s: %w", SidecarPath(path), err)
	}
	return &sc, nil
}
