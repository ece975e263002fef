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
	"os"
	"strings"
)

// encPrefix marks an encrypted body, so that a store encrypted later in its
// life can still read the records written before.
const encPrefix = "enc1:"

// ErrEncrypted is returned when encrypted records are read without the key,
// or with the wrong one.
var ErrEncrypted = errors.New("memory is encrypted and the key does not open it")

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
	return &Encrypted{Store: s, aead: aead, macKey: hmacSum(key, []byte("dayi memory keys"))}, nil
}

func hmacSum(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// LoadKey reads a key file: 32 raw bytes, or 64 hex digits, or base64 of 32
// bytes (surrounding white space ignored).
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("memory key file: %w", err)
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

// NewKeyFile writes a fresh random key (64 hex digits) to path, which must
// not exist yet.
func NewKeyFile(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("memory key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("memory key file %s: %w", path, err)
	}
	return f.Close()
}

func aad(patient, kind string) []byte { return []byte(patient + "\x00" + kind) }

// Append implements Store.
func (e *Encrypted) Append(ctx context.Context, patient string, recs []Record) error {
	sealed := make([]Record, len(recs))
	for i, r := range recs {
		nonce := make([]byte, e.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		ct := e.aead.Seal(nonce, nonce, []byte(r.Body), aad(patient, r.Kind))
		r.Body = encPrefix + base64.StdEncoding.EncodeToString(ct)
		if r.Key != "" {
			r.Key = hex.EncodeToString(hmacSum(e.macKey, []byte(patient+"\x00"+r.Key)))
		}
		sealed[i] = r
	}
	return e.Store.Append(ctx, patient, sealed)
}

// List implements Store.
func (e *Encrypted) List(ctx context.Context, patient string) ([]Record, error) {
	recs, err := e.Store.List(ctx, patient)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if !strings.HasPrefix(recs[i].Body, encPrefix) {
			continue // written before encryption was turned on
		}
		ct, err := base64.StdEncoding.DecodeString(recs[i].Body[len(encPrefix):])
		ns := e.aead.NonceSize()
		if err != nil || len(ct) < ns {
			return nil, fmt.Errorf("patient %q record %d: %w (malformed)", patient, recs[i].Seq, ErrEncrypted)
		}
		pt, err := e.aead.Open(nil, ct[:ns], ct[ns:], aad(patient, recs[i].Kind))
		if err != nil {
			return nil, fmt.Errorf("patient %q record %d: %w", patient, recs[i].Seq, ErrEncrypted)
		}
		recs[i].Body = string(pt)
		recs[i].Key = "" // the tag means nothing to callers
	}
	return recs, nil
}

// isSealed reports whether a body is still encrypted.
func isSealed(body string) bool { return strings.HasPrefix(body, encPrefix) }
