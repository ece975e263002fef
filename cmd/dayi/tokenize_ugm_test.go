package main

import "testing"

// TestTokenizeCLIUnigram runs dayi tokenize/detokenize on the unigram ("t5")
// vocabulary of nomic-embed-text v2 (testdata/vocab, a copy of llama.cpp's
// ggml-vocab-nomic-bert-moe.gguf). The expected ids and text are llama.cpp's
// (tokenizer/testdata/llamacpp_ugm.json, text 10); the model asks for BOS
// <s> = 0 and EOS </s> = 2 around them.
func TestTokenizeCLIUnigram(t *testing.T) {
	const vocab = "../../testdata/vocab/ggml-vocab-nomic-bert-moe.gguf"
	const text = "头痛三天，怎么办？"
	if got, want := runCmd(t, text, "tokenize", "--model", vocab), "0 6 3878 12392 110627 4 100293 32 2\n"; got != want {
		t.Errorf("tokenize = %q, want %q", got, want)
	}
	if got, want := runCmd(t, text, "tokenize", "--raw", "--model", vocab), "6 3878 12392 110627 4 100293 32\n"; got != want {
		t.Errorf("tokenize --raw = %q, want %q", got, want)
	}
	// The charsmap turns the full-width comma and question mark into ASCII.
	if got, want := runCmd(t, "6 3878 12392 110627 4 100293 32", "detokenize", "--model", vocab), "头痛三天,怎么办?"; got != want {
		t.Errorf("detokenize = %q, want %q", got, want)
	}
}
