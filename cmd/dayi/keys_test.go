package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"dayi/auth"
)

func TestKeysCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	path := filepath.Join(home, "keys.json")

	out, err := runDayiCmd(t, "keys", "add", "--name", "ward7", "--scope", "generate,memory", "--scope", "clinic", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		Name   string   `json:"name"`
		Key    string   `json:"key"`
		Scopes []string `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if added.Name != "ward7" || !regexp.MustCompile(`^dayi_[A-Za-z0-9_-]{43}$`).MatchString(added.Key) ||
		strings.Join(added.Scopes, ",") != "generate,memory,clinic" {
		t.Fatalf("add --json: %+v", added)
	}
	plain, err := runDayiCmd(t, "keys", "add", "--name", "ops", "--scope", "admin")
	if err != nil || !strings.HasPrefix(plain, auth.Prefix) || strings.Count(plain, "\n") != 1 {
		t.Fatalf("add: %q %v", plain, err)
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("keys file: %v %v", st, err)
		}
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), added.Key) || strings.Contains(string(data), strings.TrimSpace(plain)) {
		t.Fatal("the keys file holds a key")
	}

	for _, bad := range [][]string{
		{"keys", "add", "--name", "ward7", "--scope", "generate"}, // duplicate
		{"keys", "add", "--name", "x", "--scope", "generate,root"},
		{"keys", "add", "--name", "x"},
		{"keys", "add", "--scope", "generate"},
		{"keys", "add", "--name", "a b", "--scope", "generate"},
	} {
		if _, err := runDayiCmd(t, bad...); err == nil {
			t.Errorf("dayi %s succeeded", strings.Join(bad, " "))
		}
	}

	out, err = runDayiCmd(t, "keys", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, added.Key) || strings.Contains(out, "dayi_") || strings.Contains(out, "sha256") {
		t.Fatalf("list shows a key or its hash: %s", out)
	}
	var rows []struct {
		Name   string
		Scopes []string
	}
	if json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[0].Name != "ward7" || rows[1].Name != "ops" {
		t.Fatalf("list: %s", out)
	}
	if out, _ := runDayiCmd(t, "keys", "list"); !strings.Contains(out, "generate,memory,clinic") || strings.Contains(out, "dayi_") {
		t.Fatalf("list: %s", out)
	}

	// The file is what the server accepts.
	kf, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := auth.NewKeyring(kf.Keys, nil)
	if p, ok := kr.Lookup(added.Key); !ok || p.Name != "ward7" || !p.Has(auth.Memory) || p.Has(auth.Admin) {
		t.Fatalf("lookup: %+v %v", p, ok)
	}

	if _, err := runDayiCmd(t, "keys", "rm", "ward7"); err != nil {
		t.Fatal(err)
	}
	if _, err := runDayiCmd(t, "keys", "rm", "ward7"); err == nil || !strings.Contains(err.Error(), "ward7") {
		t.Fatalf("rm twice: %v", err)
	}
	kf, _ = auth.Load(path)
	if len(kf.Keys) != 1 || kf.Keys[0].Name != "ops" {
		t.Fatalf("after rm: %+v", kf.Keys)
	}
	// --keys names another file.
	other := filepath.Join(home, "other.json")
	if _, err := runDayiCmd(t, "keys", "add", "--keys", other, "--name", "x", "--scope", "kb:read"); err != nil {
		t.Fatal(err)
	}
	if kf, err := auth.Load(other); err != nil || len(kf.Keys) != 1 {
		t.Fatalf("--keys: %v %v", kf, err)
	}
}

func TestAPIKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys.txt")
	os.WriteFile(p, []byte("# ward 7\nalpha\n\n  beta  \r\n"), 0o600)
	keys, err := readAPIKeyFile(p)
	if err != nil || strings.Join(keys, "|") != "alpha|beta" {
		t.Fatalf("%q %v", keys, err)
	}
	if runtime.GOOS != "windows" {
		os.Chmod(p, 0o644)
		if _, err := readAPIKeyFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("world-readable key file: %v", err)
		}
	}
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	if _, err := readAPIKeyFile(empty); err == nil {
		t.Fatal("a key file without keys was accepted")
	}
}

// `dayi serve` on a non-loopback address with no key refuses to start and
// says how to make one.
func TestServeRefusesOpenNetwork(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_API_KEYS", "")
	_, err := runDayiCmd(t, "serve", "--addr", "0.0.0.0:0", "--no-clinic", "--no-memory", "--no-knowledge", "--ollama-models", "-")
	if err == nil || !strings.Contains(err.Error(), "dayi keys add") {
		t.Fatalf("serve: %v", err)
	}
	if _, err := runDayiCmd(t, "serve", "--keys", filepath.Join(t.TempDir(), "missing.json"), "--no-clinic", "--no-memory", "--no-knowledge"); err == nil ||
		!strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("serve --keys missing: %v", err)
	}
}
