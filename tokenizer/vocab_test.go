package tokenizer

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"dayi/internal/testref"
	"dayi/weights"
)

// vocabPath is llama.cpp's ggml-vocab-NAME.gguf in the repository's
// testdata/vocab, next to its test vectors NAME.gguf.inp / .out (see
// testdata/vocab/README.md).
func vocabPath(name string) string {
	return testref.Path("vocab", "ggml-vocab-"+name+".gguf")
}

// vocabCase is one test string and the ids llama.cpp's test-tokenizer-0 expects
// (add_special=false, parse_special=false).
type vocabCase struct {
	text string
	ids  []int32
}

// readVocabCases parses X.gguf.inp / X.gguf.out.
func readVocabCases(base string) ([]vocabCase, error) {
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		return nil, err
	}
	outb, err := os.ReadFile(base + ".out")
	if err != nil {
		return nil, err
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] == "" {
		texts = texts[:len(texts)-1] // the empty piece after the last separator is not a test
	}
	lines := strings.Split(string(outb), "\n")
	if len(lines) < len(texts) {
		return nil, fmt.Errorf("%s: %d tests but %d result lines", base, len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i, s := range texts {
		cases[i].text = s
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s.out line %d: %w", base, i+1, err)
			}
			cases[i].ids = append(cases[i].ids, int32(id))
		}
	}
	return cases, nil
}

// vocabCache keeps the vocabularies loaded by the tests of this package
// (loading the large ones takes a second each); Tokenizers are immutable.
var vocabCache = struct {
	sync.Mutex
	m map[string]*Tokenizer
}{m: map[string]*Tokenizer{}}

func openVocab(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	path := vocabPath(name)
	testref.Require(tb, path)
	vocabCache.Lock()
	defer vocabCache.Unlock()
	if tok, ok := vocabCache.m[name]; ok {
		return tok
	}
	f, err := weights.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		tb.Fatal(err)
	}
	vocabCache.m[name] = tok
	return tok
}

// vocabsWithVectors are the vocabularies that have .inp/.out test vectors.
var vocabsWithVectors = []string{"bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon",
	"gemma-4", "gpt-2", "llama-bpe", "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"}

// TestVocabVectors checks every llama.cpp tokenizer test vector: exact ids.
func TestVocabVectors(t *testing.T) {
	for _, name := range vocabsWithVectors {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			cases, err := readVocabCases(vocabPath(name))
			if err != nil {
				t.Fatal(err)
			}
			pass := 0
			for _, c := range cases {
				got := tok.Encode(c.text, false, false)
				if slices.Equal(got, c.ids) {
					pass++
					continue
				}
				t.Errorf("Encode(%q) =\n  %v\nllama.cpp:\n  %v", c.text, got, c.ids)
			}
			t.Logf("%s: %d/%d vectors pass", name, pass, len(cases))
		})
	}
}

// TestVocabsLoad checks that the vocabularies without test vectors load.
func TestVocabsLoad(t *testing.T) {
	for _, name := range []string{"aquila", "baichuan", "gpt-neox"} {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			if ids := tok.Encode("Hello world", false, false); len(ids) == 0 {
				t.Errorf("Encode(Hello world) is empty")
			}
		})
	}
}
