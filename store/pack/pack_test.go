package pack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dayi/assets"
)

// fixture writes the embedded model and a second small file, and returns
// their sources.
func fixture(t *testing.T) (dir string, srcs []Source, contents [][]byte) {
	t.Helper()
	dir = t.TempDir()
	extra := []byte(strings.Repeat("tokenizer notes, repeated. ", 3000))
	contents = [][]byte{assets.DefaultModel, extra}
	for i, name := range []string{"model.gguf", "notes.txt"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, contents[i], 0o644); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, Source{Name: name, Path: p})
	}
	return dir, srcs, contents
}

func makePack(t *testing.T, srcs []Source, key ed25519.PrivateKey, threads int) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := Write(context.Background(), &buf, srcs, WriteOptions{
		Name: "stories:260k", License: assets.DefaultModelLicense, DayiVersion: "test",
		Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Key: key, Threads: threads,
		Meta: map[string]string{"architecture": "llama"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpackTo unpacks into dir/model/tag/ (directories Unpack must create, and
// remove again on failure) and returns the error.
func unpackTo(dir string, data []byte, trust Trust) (*Header, error) {
	place := func(_ *Header, f File) (string, error) { return filepath.Join(dir, "model", "tag", f.Name), nil }
	return Unpack(context.Background(), bytes.NewReader(data), place, false, ReadOptions{Trust: trust})
}

func assertEmpty(t *testing.T, dir, what string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%s left files behind: %v", what, names)
	}
}

func TestRoundTrip(t *testing.T) {
	_, srcs, contents := fixture(t)
	pub, priv, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		key     ed25519.PrivateKey
		threads int
		trust   Trust
	}{
		{"unsigned", nil, 1, Trust{AllowUnsigned: true}},
		{"signed-trusted", priv, 4, Trust{Keys: []ed25519.PublicKey{pub}}},
		{"signed-any", priv, 2, trustAny()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := makePack(t, srcs, tc.key, tc.threads)
			out := t.TempDir()
			h, err := unpackTo(out, data, tc.trust)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range srcs {
				got, err := os.ReadFile(filepath.Join(out, "model", "tag", s.Name))
				if err != nil || !bytes.Equal(got, contents[i]) {
					t.Fatalf("%s differs after round trip (%v)", s.Name, err)
				}
				sum := sha256.Sum256(contents[i])
				if f := h.Manifest.Files[i]; f.Size != int64(len(contents[i])) || f.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("manifest entry %+v", f)
				}
			}
			m := h.Manifest
			if m.Name != "stories:260k" || m.License != assets.DefaultModelLicense || m.DayiVersion != "test" || m.Meta["architecture"] != "llama" || !m.Created.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
				t.Errorf("manifest %+v", m)
			}
			if h.Signed() != (tc.key != nil) {
				t.Errorf("signed = %v", h.Signed())
			}
			if _, err := Verify(context.Background(), bytes.NewReader(data), ReadOptions{Trust: tc.trust}); err != nil {
				t.Errorf("Verify: %v", err)
			}
			// Unpacking again over the installed files is refused unless asked.
			if _, err := unpackTo(out, data, tc.trust); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Errorf("second unpack: %v", err)
			}
		})
	}
}

// TestZstdCLI checks the stream against the reference zstd implementation:
// `zstd -d` of everything after the header must give the files concatenated
// (it skips the checksum trailer, a standard skippable frame).
func TestZstdCLI(t *testing.T) {
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd command not installed; skipping the cross-check with the reference decoder")
	}
	_, srcs, contents := fixture(t)
	data := makePack(t, srcs, nil, 3)
	h, err := ReadHeader(bytes.NewReader(data), trustAny())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(zstdBin, "-d", "-c", "-q")
	cmd.Stdin = bytes.NewReader(data[h.Size:])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	if !bytes.Equal(out, append(append([]byte{}, contents[0]...), contents[1]...)) {
		t.Fatalf("zstd -d gives %d bytes, not the files' %d", len(out), len(contents[0])+len(contents[1]))
	}
}

// trustAny accepts every pack whose integrity holds: for tests about
// damage, not about trust.
func trustAny() Trust { return Trust{AllowUnsigned: true, AnySigner: true} }

func isRejection(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrSignature) || errors.Is(err, ErrNotPack)
}

// positions returns offsets to damage: every byte of the fixed header and of
// the signature, n spread over the manifest and n over the data, the first
// compressed bytes and the last 48 (the checksum trailer and the end of the
// last frame).
func positions(h *Header, size, n int, rng *rand.Rand) []int {
	var ps []int
	mEnd := headerSize + len(h.Raw)
	for i := 0; i < headerSize; i++ {
		ps = append(ps, i)
	}
	for i := 0; i < n; i++ {
		ps = append(ps, headerSize+rng.IntN(len(h.Raw)))
		ps = append(ps, int(h.Size)+rng.IntN(size-int(h.Size)))
	}
	for i := mEnd; i < int(h.Size)+64 && i < size; i++ {
		ps = append(ps, i)
	}
	for i := max(int(h.Size), size-48); i < size; i++ {
		ps = append(ps, i)
	}
	return ps
}

func TestTruncated(t *testing.T) {
	_, srcs, _ := fixture(t)
	_, priv, _ := GenerateKey(nil)
	data := makePack(t, srcs, priv, 2)
	h, _ := ReadHeader(bytes.NewReader(data), trustAny())
	rng := rand.New(rand.NewPCG(1, 2))
	out := t.TempDir()
	for _, cut := range positions(h, len(data), 100, rng) {
		_, err := unpackTo(out, data[:cut], trustAny())
		if !isRejection(err) {
			t.Fatalf("pack cut to %d of %d bytes: err = %v", cut, len(data), err)
		}
		assertEmpty(t, out, "truncated unpack")
		if _, err := Verify(context.Background(), bytes.NewReader(data[:cut]), ReadOptions{Trust: trustAny()}); !isRejection(err) {
			t.Fatalf("Verify of pack cut to %d: %v", cut, err)
		}
	}
	// Appended bytes are damage too.
	for _, extra := range [][]byte{{0}, []byte("garbage"), data[h.Size : h.Size+100]} {
		if _, err := unpackTo(out, append(append([]byte{}, data...), extra...), trustAny()); !isRejection(err) {
			t.Fatalf("pack with %d bytes appended: %v", len(extra), err)
		}
		assertEmpty(t, out, "unpack of an extended pack")
	}
}

func TestCorrupted(t *testing.T) {
	_, srcs, _ := fixture(t)
	pub, priv, _ := GenerateKey(nil)
	for _, signed := range []bool{false, true} {
		var key ed25519.PrivateKey
		trust := Trust{AllowUnsigned: true}
		if signed {
			key, trust = priv, Trust{Keys: []ed25519.PublicKey{pub}}
		}
		data := makePack(t, srcs, key, 2)
		h, _ := ReadHeader(bytes.NewReader(data), trustAny())
		rng := rand.New(rand.NewPCG(3, 4))
		out := t.TempDir()
		// every header byte (magic, lengths, checksum, manifest, signature),
		// the first compressed bytes, random ones, and the trailer
		for _, pos := range positions(h, len(data), 100, rng) {
			bad := append([]byte{}, data...)
			bad[pos] ^= byte(1 + rng.IntN(255))
			_, err := unpackTo(out, bad, trust)
			if !isRejection(err) {
				t.Fatalf("signed=%v: byte %d of %d changed: err = %v", signed, pos, len(data), err)
			}
			assertEmpty(t, out, "corrupted unpack")
		}
	}
}

func TestSignatures(t *testing.T) {
	_, srcs, _ := fixture(t)
	pub, priv, _ := GenerateKey(nil)
	other, otherPriv, _ := GenerateKey(nil)
	signed := makePack(t, srcs, priv, 2)
	unsigned := makePack(t, srcs, nil, 2)
	out := t.TempDir()
	cases := []struct {
		name  string
		data  []byte
		trust Trust
	}{
		{"wrong key", signed, Trust{Keys: []ed25519.PublicKey{other}}},
		{"unsigned but key given", unsigned, Trust{Keys: []ed25519.PublicKey{pub}}},
		{"unsigned, no trust given", unsigned, Trust{}},
		{"signed, no trust given", signed, Trust{}},
		{"signed by another key", makePack(t, srcs, otherPriv, 2), Trust{Keys: []ed25519.PublicKey{pub}}},
	}
	// A signature moved onto another manifest: the signed pack's signature
	// grafted onto the unsigned pack's header (with its signer added) fails.
	hs, _ := ReadHeader(bytes.NewReader(signed), trustAny())
	hu, _ := ReadHeader(bytes.NewReader(unsigned), trustAny())
	m := hu.Manifest
	m.Signer, m.Name = hs.Manifest.Signer, "other:tag"
	raw, _ := jsonIndent(&m)
	grafted := append(encodeHeader(raw, hs.Signature), unsigned[hu.Size:]...)
	cases = append(cases, struct {
		name  string
		data  []byte
		trust Trust
	}{"grafted signature", grafted, trustAny()})
	for _, c := range cases {
		_, err := unpackTo(out, c.data, c.trust)
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: err = %v, want ErrSignature", c.name, err)
		}
		assertEmpty(t, out, c.name)
	}
}

func TestKeys(t *testing.T) {
	pub, priv, _ := GenerateKey(nil)
	p2, err := ParsePublicKey(FormatPublicKey(pub, "ward-7 pharmacy"))
	if err != nil || !p2.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	k2, err := ParsePrivateKey(FormatPrivateKey(priv, ""))
	if err != nil || !k2.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	if _, err := ParsePublicKey(FormatPrivateKey(priv, "")); err == nil {
		t.Error("private key accepted as public")
	}
	if _, err := ParsePublicKey("dayi-ed25519-public-key AAAA"); err == nil {
		t.Error("short key accepted")
	}
	if !strings.HasPrefix(Fingerprint(pub), "SHA256:") {
		t.Error(Fingerprint(pub))
	}
}

// TestChangedSource: a wrong known hash (a stale sidecar) fails the pack.
func TestChangedSource(t *testing.T) {
	_, srcs, _ := fixture(t)
	srcs[0].SHA256 = strings.Repeat("ab", 32)
	if _, err := Write(context.Background(), io.Discard, srcs, WriteOptions{Name: "x"}); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("Write with a wrong known hash: %v", err)
	}
}
