package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"dayi/internal/atomicfile"
)

// FileName is the keys file's name under $DAYI_HOME.
const FileName = "keys.json"

// maxFileBytes bounds the keys file: thousands of keys fit; a file that is
// not a keys file is refused before it is read into memory.
const maxFileBytes = 4 << 20

// File is the keys file's content.
type File struct {
	Version int   `json:"version"`
	Keys    []Key `json:"keys"`
}

// fileVersion is the format written; Load refuses newer ones.
const fileVersion = 1

// validName keeps names printable in logs, audit records and shell commands.
func validName(n string) error {
	if n == "" || len(n) > 64 {
		return fmt.Errorf("key name %q: 1 to 64 characters", n)
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@') {
			return fmt.Errorf("key name %q: use letters, digits, '-', '_', '.' and '@'", n)
		}
	}
	return nil
}

// Load reads a keys file. A file that does not exist is an error wrapping
// fs.ErrNotExist (callers decide whether that means "no keys"). A file other
// users can write is refused: whoever can write it can grant themselves any
// scope. Every error names the file.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("keys file %s: not a regular file", path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("keys file %s: writable by group or others (mode %04o); run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if st.Size() > maxFileBytes {
		return nil, fmt.Errorf("keys file %s: %d bytes, more than a keys file holds (limit %d)", path, st.Size(), maxFileBytes)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	kf, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	return kf, nil
}

// Parse decodes and checks a keys file's bytes: known version, unique valid
// names, known scopes, well-formed hashes.
func Parse(data []byte) (*File, error) {
	var kf File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if kf.Version != fileVersion {
		return nil, fmt.Errorf("version %d, want %d", kf.Version, fileVersion)
	}
	seen := map[string]bool{}
	for i, k := range kf.Keys {
		if err := validName(k.Name); err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("keys[%d]: duplicate name %q", i, k.Name)
		}
		seen[k.Name] = true
		for _, s := range k.Scopes {
			if !slices.Contains(All(), s) {
				return nil, fmt.Errorf("key %q: unknown scope %q", k.Name, s)
			}
		}
		if len(k.Hash) != 64 {
			return nil, fmt.Errorf("key %q: sha256 is not 64 hex digits", k.Name)
		}
		if _, err := NewKeyring([]Key{k}, nil); err != nil {
			return nil, err
		}
	}
	return &kf, nil
}

// LoadOrEmpty is Load where a missing file is an empty keys file (the state
// before the first `dayi keys add`).
func LoadOrEmpty(path string) (*File, error) {
	kf, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Version: fileVersion}, nil
	}
	return kf, err
}

// Add makes a new random key named name with scopes, records its hash and
// returns the key: the only time it exists outside the client.
func (kf *File) Add(name string, scopes []Scope, now time.Time) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	if slices.ContainsFunc(kf.Keys, func(k Key) bool { return k.Name == name }) {
		return "", fmt.Errorf("a key named %q already exists (remove it first with dayi keys rm %s)", name, name)
	}
	if len(scopes) == 0 {
		return "", fmt.Errorf("key %q: no scope given", name)
	}
	for _, s := range scopes {
		if !slices.Contains(All(), s) {
			return "", fmt.Errorf("unknown scope %q (known: %s)", s, scopeList(All()))
		}
	}
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	kf.Version = fileVersion
	kf.Keys = append(kf.Keys, Key{Name: name, Scopes: slices.Clone(scopes), Created: now.UTC().Truncate(time.Second), Hash: Hash(secret)})
	return secret, nil
}

// Remove deletes the key named name.
func (kf *File) Remove(name string) error {
	i := slices.IndexFunc(kf.Keys, func(k Key) bool { return k.Name == name })
	if i < 0 {
		return fmt.Errorf("no key named %q", name)
	}
	kf.Keys = slices.Delete(kf.Keys, i, i+1)
	return nil
}

// Save writes kf to path atomically with mode 0600 (its directory 0700 when
// created): a temporary file in the same directory, synced, renamed over
// path, then the directory synced, so a crash leaves the old file or the new
// one, never half of either, and a running server never reads a torn file.
func Save(path string, kf *File) error {
	kf.Version = fileVersion
	if kf.Keys == nil {
		kf.Keys = []Key{}
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keys file %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("keys file %s: %w", path, err)
	}
	return nil
}

// Update applies edit to the keys file at path under an exclusive lock and
// saves the result: the read-modify-write of `dayi keys add` and `rm`. A
// missing file starts empty; the file is not written when edit fails.
func Update(path string, edit func(*File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keys file %s: %w", path, err)
	}
	unlock, err := lockFile(path)
	if err != nil {
		return err
	}
	defer unlock()
	kf, err := LoadOrEmpty(path)
	if err != nil {
		return err
	}
	if err := edit(kf); err != nil {
		return err
	}
	return Save(path, kf)
}
