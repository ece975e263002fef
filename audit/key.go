package audit

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// KeySize is the length of an audit key file: 32 random bytes.
const KeySize = 32

// Key seals an audit log. It is never used directly: three sub-keys are
// derived from it with HKDF-SHA256 (RFC 5869), one per purpose, so that a
// patient-id hash can never be replayed as a record MAC or a head MAC and
// an auditor holding the key for one purpose learns nothing about another.
type Key struct {
	chain   []byte // record MACs
	head    []byte // the head file's MAC
	patient []byte // keyed hashes of patient ids
}

// HKDF "info" strings: the domain separation of the sub-keys. Changing one
// makes every existing log unverifiable.
const (
	infoChain   = "dayi audit record chain v1"
	infoHead    = "dayi audit head v1"
	infoPatient = "dayi audit patient id v1"
)

// NewKey derives the sub-keys from a 32-byte secret.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("audit key: %d bytes, want %d", len(secret), KeySize)
	}
	derive := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
		if err != nil { // only for lengths above 255*32
			panic(err)
		}
		return k
	}
	return &Key{chain: derive(infoChain), head: derive(infoHead), patient: derive(infoPatient)}, nil
}

// LoadKey reads the audit key at path. With create set, a missing file is
// created with 32 random bytes and mode 0600 (O_EXCL, so two servers
// starting together cannot each write their own). A key file that group or
// others may read or write is refused: whoever can read it can forge the
// log, whoever can write it can swap it.
func LoadKey(path string, create bool) (*Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && create {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("audit key %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s: mode %#o lets group or others use the key; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, KeySize+1))
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	k, err := NewKey(b)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	return k, nil
}

func createKey(path string) (*Key, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race: use its key
		return LoadKey(path, false)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	_, err = f.Write(secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	return NewKey(secret)
}

// PatientHash is what the audit log stores instead of a patient id: hex
// HMAC-SHA256 under the patient sub-key. The same id always gives the same
// hash under one key, so an auditor with the key finds a patient's records
// (`dayi audit find-patient ID`); without the key the hash cannot be
// reversed by trying every plausible id.
func (k *Key) PatientHash(id string) string {
	if id == "" {
		return ""
	}
	return hex.EncodeToString(mac(k.patient, []byte(id)))
}

func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// syncDir fsyncs a directory so that a file created or renamed in it
// survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
