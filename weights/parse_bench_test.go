package weights

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseVocab parses the header of llama.cpp's qwen2 vocabulary
// file (151 k tokens and merges): the metadata a model load decodes
// before its first tensor.
func BenchmarkParseVocab(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "vocab", "ggml-vocab-qwen2.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
