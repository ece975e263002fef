package pack

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Key files are one text line each, so they can be printed, compared and
// typed in from paper in an air-gapped room:
//
//	dayi-ed25519-public-key <base64 of the 32-byte key> [comment]
//	dayi-ed25519-private-key <base64 of the 32-byte seed> [comment]
const (
	publicKeyTag  = "dayi-ed25519-public-key"
	privateKeyTag = "dayi-ed25519-private-key"
)

// GenerateKey makes a new signing key pair from rand (crypto/rand when nil).
func GenerateKey(rnd io.Reader) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	return ed25519.GenerateKey(rnd)
}

// FormatPublicKey is the public key file's text.
func FormatPublicKey(pub ed25519.PublicKey, comment string) string {
	return strings.TrimSpace(publicKeyTag+" "+base64.StdEncoding.EncodeToString(pub)+" "+comment) + "\n"
}

// FormatPrivateKey is the private key file's text (the seed; keep it secret).
func FormatPrivateKey(priv ed25519.PrivateKey, comment string) string {
	return strings.TrimSpace(privateKeyTag+" "+base64.StdEncoding.EncodeToString(priv.Seed())+" "+comment) + "\n"
}

func parseKeyLine(text, tag string, size int) ([]byte, error) {
	fields := strings.Fields(text)
	if len(fields) < 2 || fields[0] != tag {
		return nil, fmt.Errorf("not a %s file", tag)
	}
	b, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tag, err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%s: %d bytes, want %d", tag, len(b), size)
	}
	return b, nil
}

// ParsePublicKey reads a public key file's text.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	if strings.Contains(text, privateKeyTag) {
		return nil, errors.New("this is a private key; give the .pub file")
	}
	b, err := parseKeyLine(text, publicKeyTag, ed25519.PublicKeySize)
	return ed25519.PublicKey(b), err
}

// ParsePrivateKey reads a private key file's text.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	b, err := parseKeyLine(text, privateKeyTag, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// maxKeyFile bounds what is read of a key file: one line and a comment.
const maxKeyFile = 64 << 10

// readKeyFile reads at most maxKeyFile bytes of path.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s: over %d bytes, not a key file", path, maxKeyFile)
	}
	return b, nil
}

// ReadPublicKeys reads every *.pub file in dir (none when dir does not
// exist), so that a hospital can keep the keys it trusts in one folder. A
// file that is not a public key is an error naming it, never skipped: a
// trust list that silently drops entries hides mistakes.
func ReadPublicKeys(dir string) ([]ed25519.PublicKey, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	var keys []ed25519.PublicKey
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		k, err := ReadPublicKey(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("trusted keys: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ReadPublicKey reads a public key file.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadPrivateKey reads a private key file.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Fingerprint names a public key as OpenSSH does: SHA256:<base64 of its hash>.
func Fingerprint(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return "(invalid key)"
	}
	h := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}
