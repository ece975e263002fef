// Command ugmvocab writes the small unigram ("t5") vocabularies
// tokenizer/testdata/ugm-*.gguf from llama.cpp's nomic-bert-moe vocabulary:
// its precompiled charsmap, its first 6000 tokens with their scores and types,
// and a few user-defined tokens (full-width "ＡＢＣ", which the charsmap would
// turn into "ABC", "<doc>", "▁▁" and "x y"), under the four settings of
// tokenizer.ggml.add_space_prefix / remove_extra_whitespaces (nomic-bert-moe
// itself has both on). llamacpp_ugm_flags.mjs then tokenizes texts with
// them in llama.cpp.
//
// Usage (from the repository root):
//
//	go run ./tokenizer/testdata/ugmvocab testdata/vocab/ggml-vocab-nomic-bert-moe.gguf tokenizer/testdata
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dayi/weights"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: ugmvocab NOMIC.gguf DIR")
	}
	src, err := weights.Open(os.Args[1])
	if err != nil {
		return err
	}
	defer src.Close()
	const n = 6000
	tokens := append([]string(nil), src.Strings("tokenizer.ggml.tokens")[:n]...)
	scores := append([]float32(nil), src.Float32s("tokenizer.ggml.scores")[:n]...)
	types := append([]int32(nil), src.Int32s("tokenizer.ggml.token_type")[:n]...)
	for _, s := range []string{"ＡＢＣ", "<doc>", "▁▁", "x y"} {
		tokens = append(tokens, s)
		scores = append(scores, 0)
		types = append(types, 4) // user-defined
	}
	charsmap, ok := src.Get("tokenizer.ggml.precompiled_charsmap")
	if !ok {
		return fmt.Errorf("%s has no precompiled_charsmap", os.Args[1])
	}
	for _, v := range []struct {
		name          string
		prefix, merge bool
	}{
		{"ugm-plain", false, false},
		{"ugm-prefix", true, false},
		{"ugm-merge", false, true},
		{"ugm-prefix-merge", true, true},
	} {
		path := filepath.Join(os.Args[2], v.name+".gguf")
		err := weights.WriteFileAtomic(path, func(f io.Writer) error {
			w := weights.NewWriter(f)
			var err error
			kv := func(k string, x any) {
				if err != nil {
					return
				}
				var val weights.Value
				if val, err = weights.ValueOf(x); err == nil {
					err = w.AddKV(k, val)
				}
			}
			kv("general.architecture", "bert")
			kv("general.name", v.name)
			kv("tokenizer.ggml.model", "t5")
			kv("tokenizer.ggml.pre", "default")
			kv("tokenizer.ggml.tokens", tokens)
			kv("tokenizer.ggml.scores", scores)
			kv("tokenizer.ggml.token_type", types)
			kv("tokenizer.ggml.add_space_prefix", v.prefix)
			kv("tokenizer.ggml.remove_extra_whitespaces", v.merge)
			if err == nil {
				err = w.AddKV("tokenizer.ggml.precompiled_charsmap", charsmap)
			}
			kv("tokenizer.ggml.bos_token_id", uint32(0))
			kv("tokenizer.ggml.eos_token_id", uint32(2))
			kv("tokenizer.ggml.unknown_token_id", uint32(3))
			kv("tokenizer.ggml.padding_token_id", uint32(1))
			if err != nil {
				return err
			}
			return w.Close()
		})
		if err != nil {
			return err
		}
	}
	return nil
}
