package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"dayi/internal/testref"
	"dayi/weights"
)

// runDayiCmd runs the root command with args and returns stdout.
func runDayiCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestInfoEmbeddedModel checks `dayi info --json` on the embedded model
// against the stories260K facts in testdata/models/README.md (file size
// 1185376, all tensors F32, vocab 512 SPM, n_embd 64, 5 layers, 8 heads / 4 KV
// heads, n_ff 172, separate output.weight) and llama.cpp's loader, which
// prints "file type = all F32 (guessed)" and n_ctx_train = 2048 for it.
func TestInfoEmbeddedModel(t *testing.T) {
	out, err := runDayiCmd(t, "info", "--json", "--tensors")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Architecture    string         `json:"architecture"`
		Parameters      int64          `json:"parameters"`
		ContextLength   int            `json:"context_length"`
		EmbeddingLength int            `json:"embedding_length"`
		BlockCount      int            `json:"block_count"`
		VocabSize       int            `json:"vocab_size"`
		TensorTypes     map[string]int `json:"tensor_types"`
		FileType        string         `json:"file_type"`
		FileTypeGuessed bool           `json:"file_type_guessed"`
		HeadCount       int            `json:"head_count"`
		HeadCountKV     int            `json:"head_count_kv"`
		Tokenizer       string         `json:"tokenizer"`
		ChatTemplate    *bool          `json:"chat_template"`
		FileSize        int64          `json:"file_size"`
		Tensors         []struct {
			Name string  `json:"name"`
			Type string  `json:"type"`
			Dims []int64 `json:"dims"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const vocab, embd, layers, heads, kvHeads, ff = 512, 64, 5, 8, 4, 172
	kvDim := embd / heads * kvHeads
	perLayer := embd*embd*2 + embd*kvDim*2 + embd*ff*3 + 2*embd // q, o, k, v, gate/up/down, 2 norms
	params := int64(2*vocab*embd + embd + layers*perLayer)      // token_embd, output, output_norm
	nTensors := 3 + layers*9
	if m.Architecture != "llama" || m.Parameters != params || m.ContextLength != 2048 || m.EmbeddingLength != embd ||
		m.BlockCount != layers || m.VocabSize != vocab || m.HeadCount != heads || m.HeadCountKV != kvHeads ||
		m.Tokenizer != "llama" || m.ChatTemplate == nil || *m.ChatTemplate || m.FileSize != 1185376 ||
		m.FileType != "ALL_F32" || !m.FileTypeGuessed || len(m.TensorTypes) != 1 || m.TensorTypes["f32"] != nTensors {
		t.Fatalf("info does not match stories260K (want %d parameters, %d f32 tensors):\n%s", params, nTensors, out)
	}
	if len(m.Tensors) != nTensors || m.Tensors[0].Name != "token_embd.weight" || m.Tensors[0].Type != "f32" ||
		len(m.Tensors[0].Dims) != 2 || m.Tensors[0].Dims[0] != embd || m.Tensors[0].Dims[1] != vocab {
		t.Fatalf("tensor list: %d entries, first %+v", len(m.Tensors), m.Tensors[0])
	}

	text, err := runDayiCmd(t, "info")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"llama", "ALL_F32 (guessed)", "f32: 48", "1185376 bytes", "kv heads", "chat template     no"} {
		if !strings.Contains(text, want) {
			t.Errorf("info output lacks %q:\n%s", want, text)
		}
	}
	if _, err := runDayiCmd(t, "info", "/nonexistent/model.gguf"); err == nil || !strings.Contains(err.Error(), "/nonexistent/model.gguf") {
		t.Fatalf("missing model: %v", err)
	}
}

// TestInfoQuantizedFile reads general.file_type from a file llama.cpp wrote.
func TestInfoQuantizedFile(t *testing.T) {
	p := testref.File(t, "models", "stories260K-q4_k_m.gguf")
	out, err := runDayiCmd(t, "info", "--json", p)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		FileType    string         `json:"file_type"`
		Guessed     bool           `json:"file_type_guessed"`
		TensorTypes map[string]int `json:"tensor_types"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	// testdata/models/README.md: file_type 15; only F32/F16/Q5_0/Q8_0 inside
	// (11 F32 norms, 5 F16 ffn_down, output + 2 attn_v Q8_0, the rest Q5_0).
	if m.FileType != "MOSTLY_Q4_K_M" || m.Guessed || m.TensorTypes["f32"] != 11 || m.TensorTypes["f16"] != 5 ||
		m.TensorTypes["q8_0"] != 3 || m.TensorTypes["q5_0"] != 29 {
		t.Fatalf("%s", out)
	}
}

// `dayi info` names a model's rope scaling (YaRN with its original context).
func TestInfoRopeScaling(t *testing.T) {
	var b strings.Builder
	m := &weights.Summary{Architecture: "qwen3", TensorTypes: map[string]int{},
		RopeScaling: &weights.RopeScaling{Type: "yarn", Factor: 4, OriginalContextLength: 32768}}
	if err := printInfo(&b, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "rope scaling      yarn x4 from 32768\n") {
		t.Errorf("info output lacks the rope scaling:\n%s", b.String())
	}
}
