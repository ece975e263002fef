package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/store/pack"
)

// TestUnpackTrust walks finding 9 through the CLI: unsigned packs and packs
// by unknown signers are refused by default (naming the signer's
// fingerprint), a key in $DAYI_HOME/trusted or given with --trust is
// enough, and --allow-unsigned admits an unsigned pack only.
func TestUnpackTrust(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	t.Setenv("DAYI_MODELS_PATH", "")
	t.Setenv("OLLAMA_MODELS", filepath.Join(home, "no-ollama"))
	must := func(args ...string) string {
		t.Helper()
		out, err := runDayiCmd(t, args...)
		if err != nil {
			t.Fatalf("dayi %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	key := filepath.Join(home, "signer")
	must("keygen", "-o", key)
	pub, err := pack.ReadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	signed, unsigned := filepath.Join(home, "s.dayipack"), filepath.Join(home, "u.dayipack")
	must("pack", "dayi-tiny", "-o", signed, "--sign", key+".key")
	must("pack", "dayi-tiny", "-o", unsigned)
	models := filepath.Join(home, "models")
	installed := func() bool {
		ents, _ := os.ReadDir(models)
		return len(ents) != 0
	}

	if _, err := runDayiCmd(t, "unpack", unsigned, "--as", "u:1"); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("unsigned pack by default: %v", err)
	}
	_, err = runDayiCmd(t, "unpack", signed, "--as", "s:1")
	if err == nil || !strings.Contains(err.Error(), pack.Fingerprint(pub)) || !strings.Contains(err.Error(), "--trust") {
		t.Errorf("pack by an untrusted signer: %v (want its fingerprint %s and how to trust it)", err, pack.Fingerprint(pub))
	}
	if _, err := runDayiCmd(t, "unpack", signed, "--as", "s:1", "--allow-unsigned"); err == nil {
		t.Error("--allow-unsigned admitted a pack by an untrusted signer")
	}
	if installed() {
		t.Fatal("refused packs installed something")
	}

	must("unpack", unsigned, "--as", "u:1", "--allow-unsigned")
	var res struct {
		Trusted bool   `json:"trusted"`
		Signer  string `json:"signer_fingerprint"`
	}
	if err := json.Unmarshal([]byte(must("unpack", signed, "--as", "s:1", "--trust", key+".pub", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Trusted || res.Signer != pack.Fingerprint(pub) {
		t.Errorf("unpack --trust: %+v", res)
	}
	if err := os.MkdirAll(filepath.Join(home, "trusted"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(key + ".pub")
	if err := os.WriteFile(filepath.Join(home, "trusted", "signer.pub"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	must("unpack", signed, "--as", "s:2")
	for _, f := range []string{"u/1.gguf", "s/1.gguf", "s/2.gguf"} {
		if _, err := os.Stat(filepath.Join(models, f)); err != nil {
			t.Errorf("%s not installed: %v", f, err)
		}
	}
	// A file in trusted/ that is not a key is an error, not silently skipped.
	if err := os.WriteFile(filepath.Join(home, "trusted", "bad.pub"), []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runDayiCmd(t, "unpack", signed, "--as", "s:3"); err == nil || !strings.Contains(err.Error(), "bad.pub") {
		t.Errorf("bad key in trusted/: %v", err)
	}
}
