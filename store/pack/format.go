// Package pack writes and reads .dayipack files: one file that carries a
// model across an air gap with everything needed to trust it on the other
// side — a manifest (name, files, sizes, sha256 of each, licence text, dayi
// version, creation time), an optional ed25519 signature over that manifest,
// and the files themselves compressed with zstd.
//
// Layout (integers little-endian):
//
//	offset  size  field
//	0       8     magic "DAYIPACK"
//	8       2     format version (1)
//	10      2     signature length: 0 (unsigned) or 64 (ed25519)
//	12      4     manifest length M (≤ 16 MiB)
//	16      32    sha256 of the manifest bytes
//	48      M     manifest, JSON
//	48+M    S     ed25519 signature of "dayipack v1 manifest\n" ‖ manifest
//	…             zstd stream: the files' bytes concatenated in manifest order,
//	              as independent frames of a few MiB (compressed in parallel)
//	last 40       trailer, a zstd skippable frame (magic 0x184D2A5D, length
//	              32) holding the sha256 of every stream byte before it
//
// The manifest comes first so that a reader checks the signature before it
// decompresses a byte, and then verifies every file's size and sha256 while
// streaming. The manifest checksum catches accidental damage to unsigned
// packs; the signature authenticates signed ones. Since the manifest is
// signed and holds every file's sha256, the signature covers the data too.
// The trailer makes damage to any compressed byte an error even where zstd
// itself would not notice (a frame magic cut short reads as a clean end),
// and a plain `zstd -d` still reads the stream since it skips the trailer.
package pack

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Format constants.
const (
	Magic          = "DAYIPACK"
	Version        = 1
	Ext            = ".dayipack"
	headerSize     = 48
	maxManifest    = 16 << 20
	maxFiles       = 64
	signatureLabel = "dayipack v1 manifest\n" // domain separation: the key signs nothing else by accident
	trailerSize    = 40

	// maxRatio bounds the bytes a zstd stream can yield per compressed byte,
	// so that a manifest cannot declare more than its pack can hold. RFC
	// 8878 §3.1.1.2 caps a block's output at Block_Maximum_Size (128 KiB),
	// and the cheapest block is an RLE block (§3.1.1.2.2): a 3-byte header
	// and one byte repeated Block_Size times, so 4 compressed bytes give at
	// most 131072 (a compressed block needs at least 5 bytes of headers for
	// the same limit; frame headers and skippable frames only lower the
	// ratio). klauspost/compress refuses larger blocks (blockdec.go).
	maxRatio = (128 << 10) / 4

	// maxWindow is the largest zstd window (and single-segment frame) a
	// reader accepts. Write makes frames of chunkSize input with the
	// encoder's 8 MiB window; twice that leaves room, while the decoder's
	// defaults (512 MiB windows, 64 GiB) let a 40-byte frame header make it
	// allocate hundreds of MiB per concurrent frame.
	maxWindow = 2 * chunkSize
)

// trailerHead is the skippable-frame header of the trailer: magic
// 0x184D2A5D (RFC 8878 §3.1.2: 0x184D2A50..5F are skippable) and length 32.
var trailerHead = [8]byte{0x5D, 0x2A, 0x4D, 0x18, 32, 0, 0, 0}

// Errors wrapped by readers, so callers can tell damage from distrust.
var (
	ErrNotPack   = errors.New("not a dayipack file")
	ErrCorrupt   = errors.New("corrupted or truncated dayipack")
	ErrSignature = errors.New("dayipack signature check failed")
	// ErrUntrusted (always with ErrSignature) is a pack that is unsigned or
	// signed by a key the reader does not trust.
	ErrUntrusted = errors.New("not signed by a trusted key")
	// ErrNoSpace is a destination without room for the manifest's files.
	ErrNoSpace = errors.New("not enough free disk space")
)

// File is one file of a pack.
type File struct {
	Name   string `json:"name"`   // base name, e.g. model.gguf
	Size   int64  `json:"size"`   // bytes, uncompressed
	SHA256 string `json:"sha256"` // lower-case hex of the uncompressed bytes
}

// Manifest describes a pack. Its JSON is what is signed.
type Manifest struct {
	Format      int               `json:"format"`
	Name        string            `json:"name"` // the model's NAME:TAG
	Files       []File            `json:"files"`
	License     string            `json:"license"` // full licence text ("" only when none is known)
	DayiVersion string            `json:"dayi_version"`
	Created     time.Time         `json:"created"`
	Compression string            `json:"compression"`      // "zstd"
	Signer      string            `json:"signer,omitempty"` // base64 ed25519 public key, when signed
	Meta        map[string]string `json:"meta,omitempty"`   // informational: architecture, file type, …
}

// TotalSize is the sum of the files' sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// SignerKey decodes Signer.
func (m *Manifest) SignerKey() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(m.Signer)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: manifest signer %q is not an ed25519 public key", ErrCorrupt, m.Signer)
	}
	return ed25519.PublicKey(b), nil
}

// validate checks what a reader relies on: names safe to create, sizes sane,
// hashes well-formed.
func (m *Manifest) validate() error {
	if m.Format != Version {
		return fmt.Errorf("%w: manifest format %d, this dayi reads %d", ErrCorrupt, m.Format, Version)
	}
	if m.Compression != "zstd" {
		return fmt.Errorf("%w: compression %q (want zstd)", ErrCorrupt, m.Compression)
	}
	if len(m.Files) == 0 || len(m.Files) > maxFiles {
		return fmt.Errorf("%w: %d files (want 1..%d)", ErrCorrupt, len(m.Files), maxFiles)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := checkFileName(f.Name); err != nil {
			return fmt.Errorf("%w: file name %q: %v", ErrCorrupt, f.Name, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: file %q listed twice", ErrCorrupt, f.Name)
		}
		seen[f.Name] = true
		if f.Size < 0 || f.Size > 1<<50 {
			return fmt.Errorf("%w: file %q has size %d", ErrCorrupt, f.Name, f.Size)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != f.SHA256 {
			return fmt.Errorf("%w: file %q has sha256 %q", ErrCorrupt, f.Name, f.SHA256)
		}
	}
	return nil
}

// checkFileName accepts a plain base name: no separators, no "..", no hidden files.
func checkFileName(s string) error {
	if s == "" || len(s) > 255 {
		return errors.New("empty or too long")
	}
	if s[0] == '.' || s[0] == '-' {
		return errors.New("starts with '.' or '-'")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("character %q", r)
		}
	}
	return nil
}

// Header is what precedes the data.
type Header struct {
	Manifest  Manifest
	Raw       []byte // the manifest bytes as stored (and signed)
	Signature []byte // nil when unsigned
	Size      int64  // bytes before the zstd stream
	Trusted   bool   // signed by one of the reader's trusted keys
}

// Signed reports whether the pack carries a signature.
func (h *Header) Signed() bool { return h.Signature != nil }

func signedMessage(manifest []byte) []byte {
	return append([]byte(signatureLabel), manifest...)
}

// encodeHeader serialises the header for manifest bytes raw and signature sig.
func encodeHeader(raw, sig []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(raw)+len(sig))
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[8:], Version)
	binary.LittleEndian.PutUint16(b[10:], uint16(len(sig)))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(raw)))
	sum := sha256.Sum256(raw)
	copy(b[16:48], sum[:])
	b = append(b, raw...)
	return append(b, sig...)
}

// Trust says which packs a reader accepts. The zero value is the safe one:
// only packs signed by one of Keys, so with no keys no pack at all. A pack
// carries its signer's public key in the manifest; a signature that verifies
// under that key proves only that the manifest was not changed since someone
// signed it, which is why the signer must also be one the reader trusts.
type Trust struct {
	Keys []ed25519.PublicKey
	// AllowUnsigned accepts packs without a signature (their integrity is
	// still checked against the manifest's sha256 sums). A signed pack must
	// still be signed by one of Keys.
	AllowUnsigned bool
	// AnySigner accepts a valid signature by a key outside Keys. Only for
	// reports such as pack --verify, which installs nothing.
	AnySigner bool
}

// Trusts reports whether pub is one of the trusted keys.
func (t Trust) Trusts(pub ed25519.PublicKey) bool {
	for _, k := range t.Keys {
		if k.Equal(pub) {
			return true
		}
	}
	return false
}

// ReadHeader reads and checks the header: magic, version, manifest checksum,
// manifest validity and the signature under trust. It reads exactly the
// header's bytes from r.
func ReadHeader(r io.Reader, trust Trust) (*Header, error) {
	var fixed [headerSize]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: file shorter than the %d-byte header", ErrNotPack, headerSize)
		}
		return nil, err
	}
	if string(fixed[:8]) != Magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrNotPack, fixed[:8])
	}
	if v := binary.LittleEndian.Uint16(fixed[8:]); v != Version {
		return nil, fmt.Errorf("%w: format version %d, this dayi reads version %d", ErrCorrupt, v, Version)
	}
	sigLen := int(binary.LittleEndian.Uint16(fixed[10:]))
	if sigLen != 0 && sigLen != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature length %d (want 0 or %d)", ErrCorrupt, sigLen, ed25519.SignatureSize)
	}
	mLen := int64(binary.LittleEndian.Uint32(fixed[12:]))
	if mLen == 0 || mLen > maxManifest {
		return nil, fmt.Errorf("%w: manifest length %d (want 1..%d)", ErrCorrupt, mLen, maxManifest)
	}
	raw := make([]byte, mLen)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("%w: truncated in the manifest: %v", ErrCorrupt, err)
	}
	if sum := sha256.Sum256(raw); !bytes.Equal(sum[:], fixed[16:48]) {
		return nil, fmt.Errorf("%w: manifest checksum mismatch", ErrCorrupt)
	}
	h := &Header{Raw: raw, Size: headerSize + mLen + int64(sigLen)}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if err := h.Manifest.validate(); err != nil {
		return nil, err
	}
	if sigLen > 0 {
		h.Signature = make([]byte, sigLen)
		if _, err := io.ReadFull(r, h.Signature); err != nil {
			return nil, fmt.Errorf("%w: truncated in the signature: %v", ErrCorrupt, err)
		}
	}
	if err := h.checkSignature(trust); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Header) checkSignature(trust Trust) error {
	m := &h.Manifest
	switch {
	case h.Signature == nil && m.Signer != "":
		return fmt.Errorf("%w: the manifest names signer %s but the pack has no signature", ErrSignature, Fingerprint(mustKey(m)))
	case h.Signature == nil && trust.AllowUnsigned:
		return nil
	case h.Signature == nil:
		return fmt.Errorf("%w: %w: the pack is not signed", ErrSignature, ErrUntrusted)
	case m.Signer == "":
		return fmt.Errorf("%w: the pack has a signature but the manifest names no signer", ErrSignature)
	}
	pub, err := m.SignerKey()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, signedMessage(h.Raw), h.Signature) {
		return fmt.Errorf("%w: the signature does not verify under the signer key %s (pack damaged or forged)", ErrSignature, Fingerprint(pub))
	}
	h.Trusted = trust.Trusts(pub)
	if !h.Trusted && !trust.AnySigner {
		return fmt.Errorf("%w: %w: signed by %s, which is not a trusted key", ErrSignature, ErrUntrusted, Fingerprint(pub))
	}
	return nil
}

func mustKey(m *Manifest) ed25519.PublicKey {
	k, _ := m.SignerKey()
	return k
}
