package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dayi/weights"
)

// modelInfo is what `dayi info` reports; its JSON keys are a stable interface
// for scripts.
type modelInfo struct {
	Path              string         `json:"path"`
	Name              string         `json:"name,omitempty"`
	Architecture      string         `json:"architecture"`
	Parameters        int64          `json:"parameters"`
	FileType          string         `json:"file_type"`
	FileTypeID        uint32         `json:"file_type_id"`
	FileTypeGuessed   bool           `json:"file_type_guessed"`
	TensorTypes       map[string]int `json:"tensor_types"`
	ContextLength     uint64         `json:"context_length"`
	EmbeddingLength   uint64         `json:"embedding_length"`
	FeedForwardLength uint64         `json:"feed_forward_length"`
	BlockCount        uint64         `json:"block_count"`
	HeadCount         uint64         `json:"head_count"`
	HeadCountKV       uint64         `json:"head_count_kv"`
	VocabSize         int            `json:"vocab_size"`
	Tokenizer         string         `json:"tokenizer"`
	ChatTemplate      bool           `json:"chat_template"`
	FileSize          int64          `json:"file_size"`
	GGUFVersion       uint32         `json:"gguf_version"`
	Tensors           []tensorInfo   `json:"tensors,omitempty"`
}

type tensorInfo struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Dims   []int64 `json:"dims"`
	Offset int64   `json:"offset"`
	Size   int64   `json:"size"`
}

// describeModel gathers the facts of f. Per-layer arrays (head counts of
// hybrid models) report their first layer, as llama.cpp prints n_head.
func describeModel(f *weights.File, withTensors bool) *modelInfo {
	ft, guessed := weights.FileTypeOf(f)
	m := &modelInfo{
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
			m.Tensors = append(m.Tensors, tensorInfo{Name: t.Name, Type: t.Type.String(), Dims: t.Dims, Offset: t.Offset, Size: t.Size})
		}
	}
	return m
}

// firstUint reads a scalar, or the first element of a per-layer array.
func firstUint(f *weights.File, key string) uint64 {
	v, ok := f.Get(key)
	if !ok {
		return 0
	}
	if v.Type == weights.ValArray {
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

func newInfoCmd() *cobra.Command {
	var asJSON, tensors bool
	cmd := &cobra.Command{
		Use:   "info [MODEL]",
		Short: "Describe a GGUF model (default: the embedded model)",
		Long: `Print what a GGUF model is: architecture, size, quantization and hyperparameters.
With no MODEL, describes the embedded default model.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			f, err := openModelFile(path)
			if err != nil {
				return err
			}
			defer f.Close()
			m := describeModel(f, tensors)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), m)
			}
			return printInfo(cmd.OutOrStdout(), m)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&tensors, "tensors", false, "list every tensor")
	return cmd
}

func printInfo(w io.Writer, m *modelInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k string, format string, a ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...)
	}
	line("model", "%s", m.Path)
	if m.Name != "" {
		line("name", "%s", m.Name)
	}
	line("architecture", "%s", m.Architecture)
	line("parameters", "%s (%d)", humanCount(m.Parameters), m.Parameters)
	guess := ""
	if m.FileTypeGuessed {
		guess = " (guessed)"
	}
	line("file type", "%s%s", m.FileType, guess)
	names := make([]string, 0, len(m.TensorTypes))
	for k := range m.TensorTypes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := m.TensorTypes[names[i]], m.TensorTypes[names[j]]
		return a > b || a == b && names[i] < names[j]
	})
	hist := ""
	for i, k := range names {
		if i > 0 {
			hist += ", "
		}
		hist += fmt.Sprintf("%s: %d", k, m.TensorTypes[k])
	}
	line("tensor types", "%s", hist)
	line("file size", "%s (%d bytes)", humanBytes(m.FileSize), m.FileSize)
	line("context length", "%d", m.ContextLength)
	line("embedding length", "%d", m.EmbeddingLength)
	line("feed forward", "%d", m.FeedForwardLength)
	line("layers", "%d", m.BlockCount)
	line("heads", "%d", m.HeadCount)
	line("kv heads", "%d", m.HeadCountKV)
	line("vocab size", "%d", m.VocabSize)
	line("tokenizer", "%s", m.Tokenizer)
	tmpl := "no"
	if m.ChatTemplate {
		tmpl = "yes"
	}
	line("chat template", "%s", tmpl)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Tensors) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "tensor\ttype\tdims\toffset\tbytes")
		for _, t := range m.Tensors {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\n", t.Name, t.Type, t.Dims, t.Offset, t.Size)
		}
		return tw.Flush()
	}
	return nil
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
