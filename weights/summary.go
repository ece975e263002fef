package weights

import "strings"

// Summary is what a model is, read from its GGUF header: the facts `dayi
// info` and `dayi show` print, `dayi pack` records, and the server's
// /api/tags, /api/show and /api/ps report as Ollama's model details. It is
// computed here once so that the CLI and the server cannot disagree about a
// model's size or quantization. Its JSON keys are a stable interface for
// scripts (`dayi info --json`).
type Summary struct {
	Path              string          `json:"path"`
	Name              string          `json:"name,omitempty"`
	Architecture      string          `json:"architecture"`
	Parameters        int64           `json:"parameters"`
	FileType          string          `json:"file_type"`
	FileTypeID        uint32          `json:"file_type_id"`
	FileTypeGuessed   bool            `json:"file_type_guessed"`
	TensorTypes       map[string]int  `json:"tensor_types"`
	ContextLength     uint64          `json:"context_length"`
	EmbeddingLength   uint64          `json:"embedding_length"`
	FeedForwardLength uint64          `json:"feed_forward_length"`
	BlockCount        uint64          `json:"block_count"`
	HeadCount         uint64          `json:"head_count"`
	HeadCountKV       uint64          `json:"head_count_kv"`
	VocabSize         int             `json:"vocab_size"`
	Tokenizer         string          `json:"tokenizer"`
	ChatTemplate      bool            `json:"chat_template"`
	FileSize          int64           `json:"file_size"`
	GGUFVersion       uint32          `json:"gguf_version"`
	RopeScaling       *RopeScaling    `json:"rope_scaling,omitempty"`
	Tensors           []TensorSummary `json:"tensors,omitempty"`
}

// TensorSummary is one tensor of a Summary.
type TensorSummary struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Dims   []int64 `json:"dims"`
	Offset int64   `json:"offset"`
	Size   int64   `json:"size"`
}

// Summarize gathers the facts of f; withTensors also lists every tensor.
// Per-layer arrays (head counts of hybrid models) report their first layer,
// as llama.cpp prints n_head. It reads only the parsed header, never tensor
// data, so it is cheap on a mapped file of any size.
func Summarize(f *File, withTensors bool) *Summary {
	ft, guessed := FileTypeOf(f)
	m := &Summary{
		Path:              f.Path,
		Name:              f.String("general.name", ""),
		Architecture:      f.Arch(),
		FileType:          ft.String(),
		FileTypeID:        uint32(ft),
		FileTypeGuessed:   guessed,
		TensorTypes:       map[string]int{},
		ContextLength:     f.Uint(f.ArchKey("context_length"), 0),
		EmbeddingLength:   f.Uint(f.ArchKey("embedding_length"), 0),
		FeedForwardLength: firstUint(f, f.ArchKey("feed_forward_length")),
		BlockCount:        f.Uint(f.ArchKey("block_count"), 0),
		HeadCount:         firstUint(f, f.ArchKey("attention.head_count")),
		Tokenizer:         f.String("tokenizer.ggml.model", ""),
		ChatTemplate:      f.String("tokenizer.chat_template", "") != "",
		FileSize:          f.Size,
		GGUFVersion:       f.Version,
	}
	m.RopeScaling = ropeScaling(f)
	// llama.cpp defaults head_count_kv to head_count.
	m.HeadCountKV = m.HeadCount
	if f.Has(f.ArchKey("attention.head_count_kv")) {
		m.HeadCountKV = firstUint(f, f.ArchKey("attention.head_count_kv"))
	}
	if v, ok := f.Get("tokenizer.ggml.tokens"); ok {
		m.VocabSize = v.Len()
	} else {
		m.VocabSize = int(f.Uint(f.ArchKey("vocab_size"), 0))
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		m.Parameters += t.Elements()
		m.TensorTypes[t.Type.String()]++
		if withTensors {
			m.Tensors = append(m.Tensors, TensorSummary{Name: t.Name, Type: t.Type.String(), Dims: t.Dims, Offset: t.Offset, Size: t.Size})
		}
	}
	return m
}

// firstUint reads a scalar, or the first element of a per-layer array.
func firstUint(f *File, key string) uint64 {
	v, ok := f.Get(key)
	if !ok {
		return 0
	}
	if v.Type == ValArray {
		if v.Len() == 0 {
			return 0
		}
		switch x := v.Index(0).V.(type) {
		case uint32:
			return uint64(x)
		case int32:
			if x >= 0 {
				return uint64(x)
			}
		}
		return 0
	}
	return f.Uint(key, 0)
}

// Quantization is the file type as Ollama reports it in model details
// ("Q4_K_M", "F16").
func (m *Summary) Quantization() string {
	return strings.ToUpper(FileType(m.FileTypeID).CLIName())
}
