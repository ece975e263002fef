package weights

import (
	"bytes"
	"testing"
)

// TestSummarizeHybrid builds a small GGUF by hand (a hybrid model whose head
// counts are per-layer arrays, one Q8_0 and one F32 tensor, an explicit file
// type) and checks every derived fact against the numbers it was built with.
func TestSummarizeHybrid(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	kv := func(k string, x any) {
		t.Helper()
		v, err := ValueOf(x)
		must(err)
		must(w.AddKV(k, v))
	}
	kv("general.architecture", "hybridx")
	kv("general.name", "Ward Model")
	kv("general.file_type", uint32(FileTypeMostlyQ8_0))
	kv("hybridx.context_length", uint32(4096))
	kv("hybridx.embedding_length", uint32(64))
	kv("hybridx.block_count", uint32(3))
	kv("hybridx.feed_forward_length", []int32{160, 160, 160})
	kv("hybridx.attention.head_count", []int32{8, 0, 8}) // the first layer is reported
	kv("tokenizer.ggml.model", "gpt2")
	kv("tokenizer.ggml.tokens", []string{"a", "b", "c", "d", "e"})
	must(w.AddTensor("token_embd.weight", TypeQ8_0, []int64{64, 5}))
	must(w.AddTensor("output_norm.weight", TypeF32, []int64{64}))
	must(w.WriteTensor("token_embd.weight", make([]byte, 5*2*34)))
	must(w.WriteTensor("output_norm.weight", make([]byte, 64*4)))
	must(w.Close())
	f, err := Parse(buf.Bytes())
	must(err)

	s := Summarize(f, true)
	if s.Architecture != "hybridx" || s.Name != "Ward Model" {
		t.Errorf("arch %q name %q", s.Architecture, s.Name)
	}
	if s.Parameters != 64*5+64 {
		t.Errorf("parameters %d, want %d", s.Parameters, 64*5+64)
	}
	if s.FileTypeID != uint32(FileTypeMostlyQ8_0) || s.FileTypeGuessed || s.Quantization() != "Q8_0" {
		t.Errorf("file type %d guessed %v quantization %q", s.FileTypeID, s.FileTypeGuessed, s.Quantization())
	}
	if s.ContextLength != 4096 || s.EmbeddingLength != 64 || s.BlockCount != 3 || s.FeedForwardLength != 160 {
		t.Errorf("hyperparameters %+v", s)
	}
	if s.HeadCount != 8 || s.HeadCountKV != 8 { // head_count_kv defaults to head_count (llama.cpp)
		t.Errorf("heads %d / kv %d, want 8 / 8", s.HeadCount, s.HeadCountKV)
	}
	if s.VocabSize != 5 || s.Tokenizer != "gpt2" || s.ChatTemplate {
		t.Errorf("vocab %d tokenizer %q template %v", s.VocabSize, s.Tokenizer, s.ChatTemplate)
	}
	if s.TensorTypes["q8_0"] != 1 || s.TensorTypes["f32"] != 1 || len(s.TensorTypes) != 2 {
		t.Errorf("tensor types %v", s.TensorTypes)
	}
	if len(s.Tensors) != 2 || s.Tensors[0].Name != "token_embd.weight" || s.Tensors[0].Size != 5*2*34 {
		t.Errorf("tensors %+v", s.Tensors)
	}
	if s.FileSize != int64(buf.Len()) {
		t.Errorf("file size %d, want %d", s.FileSize, buf.Len())
	}
	if len(Summarize(f, false).Tensors) != 0 {
		t.Error("tensors listed without withTensors")
	}
}
