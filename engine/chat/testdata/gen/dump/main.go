// Command dump writes the tokenizer.chat_template of each GGUF vocabulary given on the command line into
// OUTDIR/<name>.jinja, with the BOS/EOS token texts in OUTDIR/<name>.tokens.json, so the Jinja reference
// renderer (../render.mjs) can render them. Usage: go run ./engine/chat/testdata/gen/dump OUTDIR file.gguf...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"dayi/weights"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: dump OUTDIR file.gguf...")
		os.Exit(2)
	}
	out := os.Args[1]
	for _, path := range os.Args[2:] {
		f, err := weights.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		tmpl := f.String("tokenizer.chat_template", "")
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ggml-vocab-"), ".gguf")
		if tmpl == "" {
			fmt.Fprintf(os.Stderr, "%s: no tokenizer.chat_template\n", path)
			f.Close()
			continue
		}
		toks := f.Strings("tokenizer.ggml.tokens")
		tok := func(key string) string {
			id := f.Int(key, -1)
			if id < 0 || int(id) >= len(toks) {
				return ""
			}
			return toks[id]
		}
		meta := map[string]any{
			"bos_token": tok("tokenizer.ggml.bos_token_id"),
			"eos_token": tok("tokenizer.ggml.eos_token_id"),
			"add_bos":   f.Bool("tokenizer.ggml.add_bos_token", false),
		}
		b, _ := json.MarshalIndent(meta, "", "  ")
		if err := os.WriteFile(filepath.Join(out, name+".jinja"), []byte(tmpl), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(out, name+".tokens.json"), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d bytes, bos=%q eos=%q\n", name, len(tmpl), meta["bos_token"], meta["eos_token"])
		f.Close()
	}
}
