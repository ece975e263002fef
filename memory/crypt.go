package memory

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// encPrefix marks an encrypted body. Stores check it: once a store is
// marked encrypted it refuses a body without it, and Encrypted refuses to
// return one.
const encPrefix = "enc1:"

var (
	// ErrEncrypted is returned when encrypted records are read without the
	// key, or with the wrong one.
	ErrEncrypted = errors.New("memory is encrypted and the key does not open it")
	// ErrPlaintext is an unencrypted record where only encrypted ones may
	// be: written to or read from a store marked encrypted, or read through
	// Encrypted.
	ErrPlaintext = errors.New("unencrypted record in an encrypted memory store")
	// ErrNotEncrypted is a store that holds records but was never marked
	// encrypted (made before encryption was the default): Encrypt migrates
	// it.
	ErrNotEncrypted = errors.New("memory store holds records written without encryption")
)

// markedStore is a store that can be marked encrypted. The mark holds a
// check value of the key, so that a wrong key is told from damage before a
// record is read, and once it is set the store refuses unsealed records on
// its own, whoever writes to it (an older dayi, a script).
type markedStore interface {
	// EncryptionMark returns the store's mark, "" when it has none.
	EncryptionMark(ctx context.Context) (string, error)
	// MarkEncrypted sets mark unless the store has one already, and returns
	// the mark the store holds. It fails with ErrPlaintext while any record
	// is not sealed.
	MarkEncrypted(ctx context.Context, mark string) (string, error)
	// Replace swaps all of the patient's records for recs atomically,
	// keeping their order (Seq numbers may change); keys de-duplicate as in
	// Append.
	Replace(ctx context.Context, patient string, recs []Record) error
}

// compacter is a store whose files keep deleted bytes until compacted.
type compacter interface {
	Compact(ctx context.Context) error
}

// Encrypted wraps a Store so that record bodies are sealed with AES-256-GCM
// before they reach it. The patient id and the record's kind are the
// additional data, so a ciphertext moved to another patient fails to open.
// Keys become HMAC-SHA256 tags, keeping de-duplication without revealing the
// facts. Patient ids, kinds and times stay in clear: the store needs them to
// find and order records.
type Encrypted struct {
	Store
	aead   cipher.AEAD
	macKey []byte
	mark   string // encPrefix + a check value of the key
}

// NewEncrypted wraps s with the 32-byte key.
func NewEncrypted(s Store, key []byte) (*Encrypted, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("memory encryption key: %d bytes, want 32", len(key))
	}
	// separate keys for sealing and for tags, derived from the one secret
	sealKey := hmacSum(key, []byte("dayi memory seal"))
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The check value is a third derived key, truncated: it tells keys
	// apart without helping anyone who lacks the key.
	check := hex.EncodeToString(hmacSum(key, []byte("dayi memory key check"))[:16])
	return &Encrypted{Store: s, aead: aead, macKey: hmacSum(key, []byte("dayi memory keys")), mark: encPrefix + check}, nil
}

// OpenEncrypted wraps s with the key and makes sure the store is the one the
// key belongs to: a store marked with another key is ErrEncrypted, and a
// store that holds records but no mark (written before encryption) is
// ErrNotEncrypted, to be migrated with Encrypt. An empty store is marked, so
// that from then on it refuses unsealed records.
func OpenEncrypted(ctx context.Context, s Store, key []byte) (*Encrypted, error) {
	e, err := NewEncrypted(s, key)
	if err != nil {
		return nil, err
	}
	ms, ok := s.(markedStore)
	if !ok {
		return nil, fmt.Errorf("memory store %T cannot be marked encrypted", s)
	}
	mark, err := ms.EncryptionMark(ctx)
	if err != nil {
		return nil, err
	}
	if mark == "" {
		ps, err := s.Patients(ctx)
		if err != nil {
			return nil, err
		}
		if len(ps) > 0 {
			return nil, fmt.Errorf("%w (%d patients)", ErrNotEncrypted, len(ps))
		}
		if mark, err = ms.MarkEncrypted(ctx, e.mark); err != nil {
			return nil, err
		}
	}
	if err := e.checkMark(mark); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Encrypted) checkMark(mark string) error {
	if !strings.HasPrefix(mark, encPrefix) {
		return fmt.Errorf("memory store encryption mark %.20q: unknown scheme", mark)
	}
	if !hmac.Equal([]byte(mark), []byte(e.mark)) {
		return fmt.Errorf("%w: the store was encrypted with another key (key check value differs)", ErrEncrypted)
	}
	return nil
}

// EncryptStats is what Encrypt did.
type EncryptStats struct {
	Patients int `json:"patients"`          // patients whose records were rewritten
	Records  int `json:"records_encrypted"` // records sealed now
	Sealed   int `json:"records_already"`   // records that were sealed already
}

// Encrypt migrates a store to encryption under key: every patient's
// unsealed records are sealed, one patient per transaction (Replace), then
// the store is marked and, where its files keep deleted bytes, compacted.
// Interrupted, it leaves each patient wholly migrated or untouched and
// the store unmarked, so running it again finishes the work. Records sealed
// already must open under key (else ErrEncrypted: the wrong key); a store
// marked with another key is refused before anything is written.
func Encrypt(ctx context.Context, s Store, key []byte, progress func(done, total int)) (EncryptStats, error) {
	var st EncryptStats
	e, err := NewEncrypted(s, key)
	if err != nil {
		return st, err
	}
	ms, ok := s.(markedStore)
	if !ok {
		return st, fmt.Errorf("memory store %T cannot be marked encrypted", s)
	}
	mark, err := ms.EncryptionMark(ctx)
	if err != nil {
		return st, err
	}
	if mark != "" {
		if err := e.checkMark(mark); err != nil {
			return st, err
		}
	}
	ps, err := s.Patients(ctx)
	if err != nil {
		return st, err
	}
	for i, p := range ps {
		recs, err := s.List(ctx, p)
		if err != nil {
			return st, err
		}
		plain := 0
		for j, r := range recs {
			if isSealed(r.Body) {
				if _, err := e.open(p, r); err != nil {
					return st, err
				}
				st.Sealed++
				continue
			}
			if recs[j], err = e.seal(p, r); err != nil {
				return st, err
			}
			plain++
		}
		if plain > 0 {
			if err := ms.Replace(ctx, p, recs); err != nil {
				return st, err
			}
			st.Patients++
			st.Records += plain
		}
		if progress != nil {
			progress(i+1, len(ps))
		}
	}
	if mark == "" {
		if mark, err = ms.MarkEncrypted(ctx, e.mark); err != nil {
			return st, err
		}
		if err := e.checkMark(mark); err != nil {
			return st, err
		}
	}
	if c, ok := s.(compacter); ok && st.Records > 0 {
		if err := c.Compact(ctx); err != nil {
			return st, err
		}
	}
	return st, nil
}

func hmacSum(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// LoadKey reads a key file: 32 raw bytes, or 64 hex digits, or base64 of 32
// bytes (surrounding white space ignored). A key file that group or others
// may read is refused: whoever reads it reads every patient's memory.
func LoadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("memory key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("memory key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("memory key file %s: not a regular file", path)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("memory key file %s: mode %04o lets group or others read it; chmod 600 it", path, m)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("memory key file %s: %w", path, err)
	}
	if len(b) == 32 {
		return b, nil
	}
	t := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(t); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(t); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("memory key file %s: want 32 bytes, 64 hex digits or base64 of 32 bytes", path)
}

// NewKeyFile writes a fresh random key (32 bytes from crypto/rand, as 64
// hex digits so that it can be printed for a safe) to path, mode 0600,
// which must not exist yet. The key is written to a temporary file and
// linked into place, so a concurrent reader never sees half a key.
func NewKeyFile(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("memory key file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	if err := os.Link(f.Name(), path); err != nil { // fails if path exists
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("memory key file: %w", err)
		}
		// a file system without hard links: create the file exclusively
		return writeKeyExcl(path, k)
	}
	syncDir(filepath.Dir(path))
	return nil
}

func writeKeyExcl(path string, k []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("memory key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	return f.Close()
}

// LoadOrCreateKey loads the key at path, first creating it (NewKeyFile)
// when there is none; created says whether it did. Two processes starting
// together end with the same key: the one that loses the race reads the
// winner's.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("memory key file: %w", err)
	}
	err = NewKeyFile(path)
	created = err == nil
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	key, err = LoadKey(path)
	return key, created, err
}

func aad(patient, kind string) []byte { return []byte(patient + "\x00" + kind) }

// seal encrypts one record of the patient.
func (e *Encrypted) seal(patient string, r Record) (Record, error) {
	nonce := make([]byte, e.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return r, err
	}
	ct := e.aead.Seal(nonce, nonce, []byte(r.Body), aad(patient, r.Kind))
	r.Body = encPrefix + base64.StdEncoding.EncodeToString(ct)
	if r.Key != "" {
		r.Key = hex.EncodeToString(hmacSum(e.macKey, []byte(patient+"\x00"+r.Key)))
	}
	return r, nil
}

// open decrypts one record of the patient. Errors name the record's
// sequence number, not the patient.
func (e *Encrypted) open(patient string, r Record) (Record, error) {
	if !isSealed(r.Body) {
		return r, fmt.Errorf("record %d: %w", r.Seq, ErrPlaintext)
	}
	ct, err := base64.StdEncoding.DecodeString(r.Body[len(encPrefix):])
	ns := e.aead.NonceSize()
	if err != nil || len(ct) < ns {
		return r, fmt.Errorf("record %d: %w (malformed)", r.Seq, ErrEncrypted)
	}
	pt, err := e.aead.Open(nil, ct[:ns], ct[ns:], aad(patient, r.Kind))
	if err != nil {
		return r, fmt.Errorf("record %d: %w", r.Seq, ErrEncrypted)
	}
	r.Body = string(pt)
	r.Key = "" // the tag means nothing to callers
	return r, nil
}

// Append implements Store.
func (e *Encrypted) Append(ctx context.Context, patient string, recs []Record) error {
	sealed := make([]Record, len(recs))
	for i, r := range recs {
		var err error
		if sealed[i], err = e.seal(patient, r); err != nil {
			return err
		}
	}
	return e.Store.Append(ctx, patient, sealed)
}

// List implements Store. A record that is not sealed is an error
// (ErrPlaintext), never returned: it was not written through the key, so
// it is not trusted to be this patient's.
func (e *Encrypted) List(ctx context.Context, patient string) ([]Record, error) {
	recs, err := e.Store.List(ctx, patient)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if recs[i], err = e.open(patient, recs[i]); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// isSealed reports whether a body is still encrypted.
func isSealed(body string) bool { return strings.HasPrefix(body, encPrefix) }
