package pack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Regression tests for issue 15, finding 9: unsigned packs and packs signed
// by any key were installed by default, a manifest could declare 2^50 bytes
// per file with no free-space check, and the zstd window was not capped.

func trustOnly(k ed25519.PublicKey) Trust { return Trust{Keys: []ed25519.PublicKey{k}} }

// unpackOpt unpacks into dir/model/tag/ with opt.
func unpackOpt(dir string, r io.Reader, opt ReadOptions) (*Header, error) {
	place := func(_ *Header, f File) (string, error) { return filepath.Join(dir, "model", "tag", f.Name), nil }
	return Unpack(context.Background(), r, place, false, opt)
}

func TestFinding9_UnsignedPackRefused(t *testing.T) {
	_, srcs, contents := fixture(t)
	pub, _, _ := GenerateKey(nil)
	unsigned := makePack(t, srcs, nil, 2)
	out := t.TempDir()
	for name, trust := range map[string]Trust{"no trust given": {}, "a trusted key given": trustOnly(pub)} {
		_, err := unpackTo(out, unsigned, trust)
		if !errors.Is(err, ErrUntrusted) || !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "not signed") {
			t.Errorf("%s: unsigned pack: err = %v, want ErrUntrusted", name, err)
		}
		assertEmpty(t, out, "refused unsigned pack")
	}
	// Asked for explicitly, an unsigned pack installs (integrity still checked).
	h, err := unpackTo(out, unsigned, Trust{AllowUnsigned: true})
	if err != nil {
		t.Fatalf("unsigned pack with AllowUnsigned: %v", err)
	}
	if h.Signed() || h.Trusted {
		t.Errorf("unsigned pack reported signed=%v trusted=%v", h.Signed(), h.Trusted)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "model", "tag", "model.gguf")); !bytes.Equal(got, contents[0]) {
		t.Error("model differs after an allowed unsigned unpack")
	}
}

func TestFinding9_UntrustedSignerRefused(t *testing.T) {
	_, srcs, _ := fixture(t)
	trusted, trustedPriv, _ := GenerateKey(nil)
	stranger, strangerPriv, _ := GenerateKey(nil)
	forged := makePack(t, srcs, strangerPriv, 2)
	out := t.TempDir()
	for name, trust := range map[string]Trust{
		"no trust given":      {},
		"another key trusted": trustOnly(trusted),
		"unsigned allowed":    {AllowUnsigned: true, Keys: []ed25519.PublicKey{trusted}},
	} {
		_, err := unpackTo(out, forged, trust)
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), Fingerprint(stranger)) {
			t.Errorf("%s: pack signed by an untrusted key: err = %v, want ErrUntrusted naming %s", name, err, Fingerprint(stranger))
		}
		assertEmpty(t, out, "refused untrusted pack")
	}
	// The same pack is accepted once its signer is trusted, among others.
	h, err := unpackTo(out, forged, Trust{Keys: []ed25519.PublicKey{trusted, stranger}})
	if err != nil || !h.Trusted {
		t.Fatalf("pack signed by a trusted key: trusted=%v err=%v", h != nil && h.Trusted, err)
	}
	// A trusted signer's pack verifies; pack --verify (AnySigner) reports a
	// stranger's signature without calling it trusted.
	if h, err := Verify(context.Background(), bytes.NewReader(makePack(t, srcs, trustedPriv, 1)), ReadOptions{Trust: trustOnly(trusted)}); err != nil || !h.Trusted {
		t.Errorf("trusted signer: %v", err)
	}
	if h, err := Verify(context.Background(), bytes.NewReader(forged), ReadOptions{Trust: Trust{AnySigner: true, Keys: []ed25519.PublicKey{trusted}}}); err != nil || h.Trusted {
		t.Errorf("AnySigner: err=%v, trusted=%v (want a report, not trust)", err, h != nil && h.Trusted)
	}
}

// craft builds a pack around a hand-made manifest and zstd stream, signed by
// key, with a correct checksum trailer: only what the test changes is wrong.
func craft(t *testing.T, files []File, key ed25519.PrivateKey, stream []byte) []byte {
	t.Helper()
	m := Manifest{Format: Version, Name: "crafted:x", Files: files, DayiVersion: "test",
		Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Compression: "zstd",
		Signer: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	raw, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stream)
	b := encodeHeader(raw, ed25519.Sign(key, signedMessage(raw)))
	b = append(b, stream...)
	b = append(b, trailerHead[:]...)
	return append(b, sum[:]...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFinding9_HugeDeclaredSize: a signed manifest declaring far more than
// its pack can hold is refused before anything is decoded or written, and a
// file never receives more than its declared size.
func TestFinding9_HugeDeclaredSize(t *testing.T) {
	_, srcs, contents := fixture(t)
	pub, priv, _ := GenerateKey(nil)
	good := makePack(t, srcs, priv, 2)
	h, err := ReadHeader(bytes.NewReader(good), trustOnly(pub))
	if err != nil {
		t.Fatal(err)
	}
	stream := good[h.Size : len(good)-trailerSize]
	files := append([]File(nil), h.Manifest.Files...)
	files[0].Size = 1 << 50
	huge := craft(t, files, priv, stream)
	out := t.TempDir()
	freeCalls := 0
	opt := ReadOptions{Trust: trustOnly(pub), FreeSpace: func(string) (int64, error) { freeCalls++; return 1 << 62, nil }}
	_, err = unpackOpt(out, bytes.NewReader(huge), opt)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "declares") {
		t.Errorf("2^50-byte declared file: err = %v, want ErrCorrupt about the declared size", err)
	}
	if freeCalls != 0 {
		t.Errorf("the forged size reached the free-space check (%d calls): it must be refused first", freeCalls)
	}
	assertEmpty(t, out, "huge declared size")
	if _, err := Verify(context.Background(), bytes.NewReader(huge), ReadOptions{Trust: trustOnly(pub)}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify of a 2^50-byte declared file: %v", err)
	}
	// Read from a pipe the pack's length is unknown; the free-space check
	// (the real statfs here) still refuses 2^50 bytes before writing.
	_, err = unpackOpt(out, io.MultiReader(bytes.NewReader(huge)), ReadOptions{Trust: trustOnly(pub)})
	if !errors.Is(err, ErrNoSpace) {
		t.Errorf("2^50 bytes from a stream of unknown length: err = %v, want ErrNoSpace", err)
	}
	assertEmpty(t, out, "huge declared size from a stream")

	// Declared smaller than the data: the file gets exactly its declared
	// bytes and the rest is an error, not an overflow into the file.
	files = append([]File(nil), h.Manifest.Files...)
	last := len(files) - 1
	files[last].Size = int64(len(contents[last]) / 2)
	files[last].SHA256 = sha(contents[last][:files[last].Size])
	short := craft(t, files, priv, stream)
	if _, err := unpackTo(out, short, trustOnly(pub)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "continues") {
		t.Errorf("data longer than declared: err = %v", err)
	}
	assertEmpty(t, out, "data longer than declared")
}

// TestFinding9_FreeSpaceChecked simulates a full disk: nothing is written,
// not even the model's directory, and the error names the shortfall.
func TestFinding9_FreeSpaceChecked(t *testing.T) {
	_, srcs, contents := fixture(t)
	pub, priv, _ := GenerateKey(nil)
	data := makePack(t, srcs, priv, 2)
	need := int64(len(contents[0]) + len(contents[1]))
	out := t.TempDir()
	var asked []string
	free := func(avail int64) func(string) (int64, error) {
		return func(dir string) (int64, error) { asked = append(asked, dir); return avail, nil }
	}
	_, err := unpackOpt(out, bytes.NewReader(data), ReadOptions{Trust: trustOnly(pub), FreeSpace: free(need - 1)})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "need") {
		t.Fatalf("disk one byte short: err = %v, want ErrNoSpace", err)
	}
	assertEmpty(t, out, "unpack onto a full disk")
	// the space is asked of the directory that exists (model/tag is made later)
	if len(asked) != 1 || asked[0] != out {
		t.Errorf("free space asked of %v, want [%s]", asked, out)
	}
	if _, err := unpackOpt(out, bytes.NewReader(data), ReadOptions{Trust: trustOnly(pub), FreeSpace: free(need)}); err != nil {
		t.Fatalf("disk with exactly enough room: %v", err)
	}
	if _, err := unpackOpt(t.TempDir(), bytes.NewReader(data), ReadOptions{Trust: trustOnly(pub), FreeSpace: func(string) (int64, error) {
		return 0, errors.New("statfs failed")
	}}); err == nil || !strings.Contains(err.Error(), "statfs failed") {
		t.Errorf("free-space error not reported: %v", err)
	}
}

// zstdFrame is one zstd frame (RFC 8878 §3.1.1) with the given
// Window_Descriptor byte and no content size, holding content as one raw
// last block.
func zstdFrame(windowDescriptor byte, content []byte) []byte {
	f := []byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, windowDescriptor}
	hdr := 1 | uint32(len(content))<<3 // Last_Block, Raw_Block, Block_Size
	f = append(f, byte(hdr), byte(hdr>>8), byte(hdr>>16))
	return append(f, content...)
}

// TestFinding9_ZstdWindowCapped: a 40-byte frame header asking for a 256 MiB
// window (under the decoder's 512 MiB default, so accepted before) is
// refused; the same frame with an 8 MiB window, as Write makes, installs.
func TestFinding9_ZstdWindowCapped(t *testing.T) {
	pub, priv, _ := GenerateKey(nil)
	content := []byte("a crafted model\n")
	files := []File{{Name: "model.gguf", Size: int64(len(content)), SHA256: sha(content)}}
	// Window_Descriptor: Exponent<<3 | Mantissa, window = 2^(10+Exponent)
	ok := craft(t, files, priv, zstdFrame(13<<3, content))     // 8 MiB
	greedy := craft(t, files, priv, zstdFrame(18<<3, content)) // 256 MiB
	out := t.TempDir()
	_, err := unpackTo(out, greedy, trustOnly(pub))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "window") {
		t.Errorf("256 MiB window: err = %v, want ErrCorrupt about the window", err)
	}
	assertEmpty(t, out, "frame with a huge window")
	if _, err := Verify(context.Background(), bytes.NewReader(greedy), ReadOptions{Trust: trustOnly(pub)}); err == nil {
		t.Error("Verify accepted a 256 MiB window")
	}
	if _, err := unpackTo(out, ok, trustOnly(pub)); err != nil {
		t.Fatalf("8 MiB window: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "model", "tag", "model.gguf")); !bytes.Equal(got, content) {
		t.Errorf("crafted model installed as %q", got)
	}
}

// TestWindowCapKeepsRealPacks: the window cap is no limit on pack size: a
// 17 MiB file (three of Write's frames, more than maxWindow in all) packs
// and unpacks with one decoder thread and with several.
func TestWindowCapKeepsRealPacks(t *testing.T) {
	if testing.Short() {
		t.Skip("packs 17 MiB")
	}
	dir := t.TempDir()
	b := make([]byte, 17<<20)
	for i := range b {
		b[i] = byte(i*i>>7) ^ byte(i>>13)
	}
	p := filepath.Join(dir, "model.gguf")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := GenerateKey(nil)
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, []Source{{Name: "model.gguf", Path: p}}, WriteOptions{Name: "big:1", Key: priv, Threads: 2}); err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 3} {
		out := t.TempDir()
		if _, err := unpackOpt(out, bytes.NewReader(buf.Bytes()), ReadOptions{Trust: trustOnly(pub), Threads: threads}); err != nil {
			t.Fatalf("%d decoder threads: %v", threads, err)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "model", "tag", "model.gguf")); !bytes.Equal(got, b) {
			t.Fatalf("%d decoder threads: the file differs", threads)
		}
	}
}
