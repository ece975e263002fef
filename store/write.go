package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"dayi/internal/atomicfile"
	"dayi/weights"
)

// ErrExists is wrapped when a name is taken and overwriting was not asked for.
var ErrExists = errors.New("model already exists")

// PathFor is where NAME[:TAG] lives in dayi's writable store.
func (s *Store) PathFor(name string) (string, error) {
	if s.cfg.Dir == "" {
		return "", fmt.Errorf("%w: no writable model directory configured", ErrReadOnly)
	}
	n, tag, _, err := ParseName(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.cfg.Dir, filepath.FromSlash(n), tag+".gguf"), nil
}

// AddOptions control Add.
type AddOptions struct {
	Force    bool          // replace an existing model of the same name
	License  string        // recorded in the sidecar
	Origin   string        // recorded in the sidecar (e.g. the source path or pack)
	Progress func(n int64) // called with bytes copied so far; may be nil
}

// Add copies the GGUF read from r into dayi's store as name (see Write).
func (s *Store) Add(name string, r io.Reader, opt AddOptions) (*Model, error) {
	return s.Write(name, func(w io.Writer) error {
		_, err := io.CopyBuffer(w, r, make([]byte, 1<<20))
		return err
	}, opt)
}

// Write puts the GGUF that fill writes into dayi's store as name. It writes
// to a hidden temporary file in the destination directory (atomicfile),
// checks that the result parses as GGUF, and only then renames it into place,
// so a failed or interrupted write leaves nothing behind. The sha256 computed
// on the way is recorded in the sidecar, so `dayi list`, `dayi pack` and the
// server's /api/tags all know the digest without hashing the file again.
func (s *Store) Write(name string, fill func(io.Writer) error, opt AddOptions) (m *Model, err error) {
	dst, err := s.PathFor(name)
	if err != nil {
		return nil, err
	}
	if !opt.Force {
		if _, err := os.Stat(dst); err == nil {
			return nil, fmt.Errorf("%w: %s (%s); use --force to replace it", ErrExists, name, dst)
		}
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	f, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	defer func() {
		if err != nil {
			f.Abort()
			os.Remove(dir) // only if it is empty, i.e. was made for this copy
		}
	}()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if opt.Progress != nil {
		w = &progressWriter{w: w, fn: opt.Progress}
	}
	if err = fill(w); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return nil, err
	}
	if err = CheckGGUF(f.TempName()); err != nil {
		return nil, err
	}
	if err = f.Commit(); err != nil {
		return nil, err
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if err := WriteSidecar(dst, digest, opt.License, opt.Origin); err != nil {
		return nil, err
	}
	return s.Find(name)
}

// CheckGGUF reports whether path parses as a GGUF file, naming the path.
func CheckGGUF(path string) error {
	f, err := weights.Open(path)
	if err != nil {
		return fmt.Errorf("not a usable GGUF model: %w", err)
	}
	return f.Close()
}

// WriteSidecar records the digest, licence and origin of the GGUF at path,
// together with its current size and modification time.
func WriteSidecar(path, digest, license, origin string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(Sidecar{Digest: digest, Size: st.Size(), Modified: st.ModTime(), License: license, Origin: origin}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(SidecarPath(path), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}
	return nil
}

// Remove deletes a model from dayi's store (with its sidecar, and its
// directories once empty). Models of read-only sources are refused.
func (s *Store) Remove(name string) (*Model, error) {
	m, err := s.Find(name)
	if err != nil {
		return nil, err
	}
	if !m.Writable() {
		return nil, fmt.Errorf("%w: %s is in %s (%s); remove it there", ErrReadOnly, m.FullName(), m.Source, m.Root)
	}
	if err := os.Remove(m.Path); err != nil {
		return nil, err
	}
	if err := os.Remove(SidecarPath(m.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	root := filepath.Clean(s.cfg.Dir)
	for d := filepath.Dir(m.Path); d != root && strings.HasPrefix(d, root+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break // not empty
		}
	}
	return m, nil
}

// FileDigest hashes the file at path: "sha256:<hex>".
func FileDigest(path string, progress func(int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	var w io.Writer = h
	if progress != nil {
		w = &progressWriter{w: h, fn: progress}
	}
	if _, err := io.CopyBuffer(w, f, make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

type progressWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	p.fn(p.n)
	return n, err
}
