package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuantizeCommand quantizes the embedded model (stories260K) to q4_0 and
// requires the file llama.cpp's llama_model_quantize made from the same input
// (sha256 from testdata/models/README.md).
func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "q4_0.gguf")
	stdout, err := runDayiCmd(t, "quantize", "--type", "q4_0", "--json", "--threads", "2", "dayi-tiny", out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != "fd93abd9957992763c863e7e3f30934baf1e7a2e31b6c911a720cd109daed40d" {
		t.Fatalf("output differs from llama.cpp's stories260K-q4_0.gguf (sha256 %x)", h)
	}
	var s struct {
		FileType    string         `json:"file_type"`
		FileTypeID  int            `json:"file_type_id"`
		OutputBytes int64          `json:"output_bytes"`
		TensorTypes map[string]int `json:"tensor_types"`
		Fallbacks   int            `json:"fallbacks"`
		Tensors     []struct {
			Name, To, FallbackFrom string
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	// README: norms F32, ffn_down F16 (172-wide rows), output Q8_0 (wanted Q6_K).
	if s.FileType != "MOSTLY_Q4_0" || s.FileTypeID != 2 || s.OutputBytes != 277024 || s.TensorTypes["f32"] != 11 ||
		s.TensorTypes["f16"] != 5 || s.TensorTypes["q8_0"] != 1 || s.TensorTypes["q4_0"] != 31 || len(s.Tensors) != 48 {
		t.Fatalf("summary: %s", stdout)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files in the output directory, want only the result", len(ents))
	}

	// Human summary, and errors that name the problem.
	text, err := runDayiCmd(t, "quantize", "--type", "Q8_0", "dayi-tiny", filepath.Join(dir, "q8.gguf"))
	if err != nil || !strings.Contains(text, "MOSTLY_Q8_0") {
		t.Fatalf("%v\n%s", err, text)
	}
	if _, err := runDayiCmd(t, "quantize", "--type", "q3_x", "dayi-tiny", filepath.Join(dir, "x.gguf")); err == nil || !strings.Contains(err.Error(), "q3_x") {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := runDayiCmd(t, "quantize", "dayi-tiny", filepath.Join(dir, "x.gguf")); err == nil || !strings.Contains(err.Error(), "type") {
		t.Fatalf("missing --type: %v", err)
	}
	_, err = runDayiCmd(t, "quantize", "--type", "q8_0", out, filepath.Join(dir, "re.gguf"))
	if err == nil || !strings.Contains(err.Error(), "requantiz") {
		t.Fatalf("requantize: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "re.gguf")); !os.IsNotExist(err) {
		t.Fatalf("failed quantize left an output: %v", err)
	}
}
