package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/engine"
	"dayi/memory"
	"dayi/server"
)

// TestFinding8_MemoryEncryptedByDefault (issue 15): with no key flag, the
// memory that dayi serve (and chat, and the memory commands) opens is
// encrypted with $DAYI_HOME/memory.key, made 0600 on first use with a
// one-time note to back it up; the store file holds no patient text, and a
// key file others can read is refused.
func TestFinding8_MemoryEncryptedByDefault(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	t.Setenv("DAYI_MEMORY_KEY", "")
	ctx := context.Background()
	secret := "SECRET-7f3a9c"

	var warn bytes.Buffer
	st, err := openMemoryStoreTo(ctx, "", "", &warn)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(home, "memory.key")
	key, err := memory.LoadKey(keyPath)
	if err != nil || len(key) != 32 {
		t.Fatalf("default key: %v", err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode(), err)
	}
	note := warn.String()
	if !strings.Contains(note, keyPath) || !strings.Contains(note, "losing it loses the memory") || strings.Contains(note, hex.EncodeToString(key)) {
		t.Errorf("key creation note %q: want the path and the back-up warning, never the key", note)
	}
	pm := patientMemory{m: memory.New(st, memory.Options{})}
	if err := pm.Record(ctx, "p1", server.Turn{User: "I am allergic to penicillin. " + secret}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	raw, err := os.ReadFile(filepath.Join(home, "memory", "memory.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("penicillin")) {
		t.Error("patient text stored in clear by default")
	}
	plain, err := memory.OpenBolt(filepath.Join(home, "memory", "memory.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := memory.New(plain, memory.Options{}).History(ctx, "p1"); !errors.Is(err, memory.ErrEncrypted) {
		t.Errorf("history without the key: %v, want ErrEncrypted", err)
	}
	plain.Close()

	// dayi serve's wiring opens the same store with the same key, silently.
	var cfg server.Config
	pf := productFlags{noKB: true, noClinic: true}
	closeAll, err := pf.wire(ctx, &cfg, engine.Options{Backend: "dayi"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Memory.Recall(ctx, "p1", "antibiotics", 200)
	closeAll()
	if err != nil || !strings.Contains(got, secret) {
		t.Fatalf("recall through serve's wiring: %v %q", err, got)
	}
	warn.Reset()
	st, err = openMemoryStoreTo(ctx, "", "", &warn)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if warn.Len() != 0 {
		t.Errorf("note printed again for an existing key: %q", warn.String())
	}
	if k2, _ := memory.LoadKey(keyPath); !bytes.Equal(k2, key) {
		t.Error("the key changed on the second use")
	}

	// A named key file must exist: it is never made up.
	missing := filepath.Join(home, "elsewhere.key")
	if _, err := openMemoryStoreTo(ctx, "", missing, &warn); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing --memory-key file: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a missing --memory-key file was created")
	}
	// Another key is refused by the store's key check.
	other := filepath.Join(home, "other.key")
	if err := memory.NewKeyFile(other); err != nil {
		t.Fatal(err)
	}
	if _, err := openMemoryStoreTo(ctx, "", other, &warn); !errors.Is(err, memory.ErrEncrypted) {
		t.Errorf("store opened with another key: %v", err)
	}
	// A key file others can read is refused, by serve too.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.wire(ctx, &server.Config{}, engine.Options{Backend: "dayi"}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("serve with a world-readable key: %v", err)
	}
}

// TestMemoryEncryptCommand: a store written before encryption was the
// default is refused with a pointer to 'dayi memory encrypt', which
// migrates it.
func TestMemoryEncryptCommand(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	t.Setenv("DAYI_MEMORY_KEY", "")
	ctx := context.Background()
	old, err := memory.OpenBolt(filepath.Join(home, "memory", "memory.db"))
	if err != nil {
		t.Fatal(err)
	}
	m := memory.New(old, memory.Options{})
	for _, u := range []string{"对青霉素过敏。", "Follow-up in four weeks."} {
		if err := m.Record(ctx, "p1", memory.Turn{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	if out, err := runDayi(t, "memory", "show", "--patient", "p1"); err == nil || !strings.Contains(err.Error(), "dayi memory encrypt") {
		t.Fatalf("old plaintext store opened: %v\n%s", err, out)
	}
	out, err := runDayi(t, "memory", "encrypt", "--json")
	if err != nil {
		t.Fatalf("memory encrypt: %v\n%s", err, out)
	}
	var st memory.EncryptStats
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &st) != nil || st.Patients != 1 || st.Records != 3 {
		t.Errorf("memory encrypt --json: %+v from %q (want 1 patient, 2 turns and 1 fact)", st, out)
	}
	out, err = runDayi(t, "memory", "show", "--patient", "p1")
	if err != nil || !strings.Contains(out, "2 turns, 1 facts") || !strings.Contains(out, "青霉素") {
		t.Errorf("after encrypt: %v\n%s", err, out)
	}
}
