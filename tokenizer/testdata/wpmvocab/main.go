// Command wpmvocab writes the small WordPiece vocabularies
// tokenizer/testdata/wpm-*.gguf: the same hand-picked tokens (cased and
// uncased words, accented letters in composed and decomposed form, combining
// marks, CJK) with the four settings of llama.cpp's BertNormalizer keys
// tokenizer.ggml.normalizer.lowercase / .strip_accents (absent, cased,
// cased with accents stripped, lowercased with accents kept).
// llamacpp_wpm.mjs then tokenizes texts with them in llama.cpp.
//
// Usage (from the repository root): go run ./tokenizer/testdata/wpmvocab tokenizer/testdata
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dayi/weights"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wpmvocab DIR")
		os.Exit(2)
	}
	tokens := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	types := []int32{3, 2, 3, 3, 3}
	add := func(ss ...string) {
		for _, s := range ss {
			tokens = append(tokens, s)
			types = append(types, 1)
		}
	}
	for c := 'a'; c <= 'z'; c++ {
		add(string(c), "▁"+string(c), string(c-'a'+'A'), "▁"+string(c-'a'+'A'))
	}
	for _, s := range []string{"é", "É", "ï", "Ï", "ö", "Ö", "ü", "Ü", "ñ", "Ñ", "ç", "Ç", "à", "À", "ß", "σ", "Σ", "ς",
		"\u0301", "\u0308", "\u0300", "ı", "İ", "ǅ", "ǆ", "Å", "å", "Ω", "ω"} {
		add(s, "▁"+s)
	}
	add("▁hello", "▁Hello", "▁HELLO", "▁café", "▁cafe", "▁Café", "▁CAFÉ", "▁naïve", "▁naive", "▁Naïve", "▁résumé",
		"▁resume", "▁e\u0301", "▁straße", "▁Straße", "▁σοφία", "▁Σοφία", "##", "▁头", "▁痛", "▁,", "▁.", "▁!", "▁?", "▁'")
	variants := []struct {
		name  string
		flags map[string]bool
	}{
		{"wpm-default", nil},
		{"wpm-cased", map[string]bool{"lowercase": false}},
		{"wpm-cased-strip", map[string]bool{"lowercase": false, "strip_accents": true}},
		{"wpm-lower-keep", map[string]bool{"lowercase": true, "strip_accents": false}},
	}
	for _, v := range variants {
		path := filepath.Join(os.Args[1], v.name+".gguf")
		err := weights.WriteFileAtomic(path, func(f io.Writer) error {
			w := weights.NewWriter(f)
			kv := func(k string, x any) {
				val, err := weights.ValueOf(x)
				if err == nil {
					err = w.AddKV(k, val)
				}
				if err != nil {
					panic(err)
				}
			}
			kv("general.architecture", "bert")
			kv("general.name", v.name)
			kv("tokenizer.ggml.model", "bert")
			kv("tokenizer.ggml.pre", "default")
			kv("tokenizer.ggml.tokens", tokens)
			kv("tokenizer.ggml.token_type", types)
			kv("tokenizer.ggml.unknown_token_id", uint32(1))
			kv("tokenizer.ggml.cls_token_id", uint32(2))
			kv("tokenizer.ggml.bos_token_id", uint32(2))
			kv("tokenizer.ggml.seperator_token_id", uint32(3))
			kv("tokenizer.ggml.padding_token_id", uint32(0))
			kv("tokenizer.ggml.mask_token_id", uint32(4))
			for _, k := range []string{"lowercase", "strip_accents"} {
				if b, ok := v.flags[k]; ok {
					kv("tokenizer.ggml.normalizer."+k, b)
				}
			}
			return w.Close()
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
