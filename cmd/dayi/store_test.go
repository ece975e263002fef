package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/assets"
)

// TestStorePackCommands walks the air-gap workflow through the CLI: copy a
// model into the store, sign a pack, verify it, remove the model, refuse the
// pack under the wrong key and when truncated (installing nothing), then
// unpack it under the right key and find the same bytes.
func TestStorePackCommands(t *testing.T) {
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
	must("cp", "dayi-tiny", "tiny:v1")
	var list []struct {
		Name, Tag, Source, Digest string
	}
	if err := json.Unmarshal([]byte(must("list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(assets.DefaultModel)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if len(list) != 2 || list[1].Name != "tiny" || list[1].Tag != "v1" || list[1].Source != "dayi" || list[1].Digest != digest {
		t.Fatalf("list: %+v", list)
	}
	key := filepath.Join(home, "k")
	must("keygen", "-o", key)
	must("keygen", "-o", key+"2")
	packFile := filepath.Join(home, "tiny.dayipack")
	var packed struct {
		Signed bool    `json:"signed"`
		Ratio  float64 `json:"ratio"`
	}
	json.Unmarshal([]byte(must("pack", "tiny:v1", "-o", packFile, "--sign", key+".key", "--json")), &packed)
	if !packed.Signed || packed.Ratio <= 0 || packed.Ratio >= 1 {
		t.Errorf("pack: %+v", packed)
	}
	must("pack", "--verify", packFile, "--verify-key", key+".pub")
	must("rm", "tiny:v1")
	models := filepath.Join(home, "models")
	if _, err := runDayiCmd(t, "unpack", packFile, "--verify-key", key+"2.pub"); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("unpack under the wrong key: %v", err)
	}
	data, _ := os.ReadFile(packFile)
	cut := filepath.Join(home, "cut.dayipack")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	if _, err := runDayiCmd(t, "unpack", cut, "--trust", key+".pub"); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("unpack of a truncated pack: %v", err)
	}
	if ents, _ := os.ReadDir(models); len(ents) != 0 {
		t.Fatalf("rejected unpacks left %v", ents)
	}
	must("unpack", packFile, "--verify-key", key+".pub")
	got, err := os.ReadFile(filepath.Join(models, "tiny", "v1.gguf"))
	if err != nil || string(got) != string(assets.DefaultModel) {
		t.Fatalf("unpacked model differs: %v", err)
	}
	if _, err := runDayiCmd(t, "rm", "dayi-tiny"); err == nil {
		t.Error("rm of the embedded model succeeded")
	}
}

func TestEvalCommand(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	results := filepath.Join(home, "r.jsonl")
	out, err := runDayiCmd(t, "eval", "--file", "../../eval/testdata/pubmedqa_sample.json", "--json", "--out", results)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Format  string `json:"format"`
		Summary struct {
			Scored  int        `json:"scored"`
			Correct int        `json:"correct"`
			CI95    [2]float64 `json:"ci95"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(results)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	correct := 0
	for _, l := range lines {
		var r struct{ Correct bool }
		json.Unmarshal([]byte(l), &r)
		if r.Correct {
			correct++
		}
	}
	if res.Format != "pubmedqa" || res.Summary.Scored != 3 || len(lines) != 3 || res.Summary.Correct != correct || res.Summary.CI95[1] <= 0 {
		t.Errorf("eval: %+v, %d result lines, %d correct in them", res, len(lines), correct)
	}
}
