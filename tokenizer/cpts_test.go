package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"dayi/weights"
)

// cptBlockTexts rebuilds the texts of testdata/llamacpp_cpts.mjs: the code
// points 0..0x323AF and 0xE0000..0xE01EF without surrogates in blocks of 64,
// each block alone ("c1 c2 ...") and between letters ("ac1b ac2b ...").
func cptBlockTexts() []string {
	var cpts []rune
	for c := rune(0); c <= 0x323AF; c++ {
		if c < 0xD800 || c > 0xDFFF {
			cpts = append(cpts, c)
		}
	}
	for c := rune(0xE0000); c <= 0xE01EF; c++ {
		cpts = append(cpts, c)
	}
	var texts []string
	for i := 0; i < len(cpts); i += 64 {
		block := cpts[i:min(i+64, len(cpts))]
		alone := make([]string, len(block))
		framed := make([]string, len(block))
		for k, c := range block {
			alone[k] = string(c)
			framed[k] = "a" + string(c) + "b"
		}
		texts = append(texts, strings.Join(alone, " "), strings.Join(framed, " "))
	}
	return texts
}

// TestEveryCodePointMatchesLlamaCpp tokenizes every assigned code point with
// the unigram (nomic-bert-moe) and WordPiece (bert-bge) vocabularies and
// compares id counts and hashes with llama.cpp's
// (testdata/llamacpp_cpts.json from testdata/llamacpp_cpts.mjs), which
// checks the charsmap, NFD, lowercase, category and whitespace tables for
// each code point.
func TestEveryCodePointMatchesLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_cpts.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts  int                   `json:"texts"`
		Expect map[string][][2]int64 `json:"expect"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	texts := cptBlockTexts()
	if len(texts) != ref.Texts || len(ref.Expect) != 2 {
		t.Fatalf("%d texts, llamacpp_cpts.json has %d texts and %d vocabularies", len(texts), ref.Texts, len(ref.Expect))
	}
	hash := func(ids []int32) int64 {
		var h int64
		for _, id := range ids {
			h = (h*31 + int64(id)) % 1000000007
		}
		return h
	}
	for name, exp := range ref.Expect {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			bad := 0
			for i, s := range texts {
				ids := tok.Encode(s, false, false)
				if got := [2]int64{int64(len(ids)), hash(ids)}; got != exp[i] {
					bad++
					if bad <= 20 {
						r := []rune(s)
						t.Errorf("block text %d (U+%04X..): (n, hash) = %v, llama.cpp %v", i, r[0], got, exp[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s: %d of %d block texts differ", name, bad, len(texts))
			}
		})
	}
}

// TestWPMNormalizerOptions checks WordPiece with the four settings of the
// BertNormalizer keys tokenizer.ggml.normalizer.lowercase / .strip_accents
// (testdata/wpm-*.gguf from testdata/wpmvocab) against llama.cpp's ids
// (testdata/llamacpp_wpm.json from testdata/llamacpp_wpm.mjs).
func TestWPMNormalizerOptions(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_wpm.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts  []string             `json:"texts"`
		Expect map[string][][]int32 `json:"expect"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Expect) != 4 {
		t.Fatalf("%d vocabularies in llamacpp_wpm.json, want 4", len(ref.Expect))
	}
	for name, exp := range ref.Expect {
		t.Run(name, func(t *testing.T) {
			f, err := weights.Open("testdata/" + name + ".gguf")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tok, err := FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range ref.Texts {
				if got := tok.Encode(s, false, false); !slices.Equal(got, exp[i]) && len(got)+len(exp[i]) > 0 {
					t.Errorf("Encode(%q) = %v, llama.cpp %v", s, got, exp[i])
				}
			}
		})
	}
}

// TestUGMAndWPMMegabyteMatchLlamaCpp encodes the 1 MB mixed zh/en text of
// the benchmarks as one fragment (for the unigram model one Viterbi pass over
// all of it) and compares with llama.cpp (testdata/llamacpp_ugm_long.json
// from testdata/llamacpp_ugm_long.mjs).
func TestUGMAndWPMMegabyteMatchLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_ugm_long.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]struct {
		Bytes int   `json:"bytes"`
		N     int   `json:"n"`
		Sum   int64 `json:"sum"`
		MS    int   `json:"ms"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref) != 2 {
		t.Fatalf("%d vocabularies in llamacpp_ugm_long.json, want 2", len(ref))
	}
	text := mixedText(1 << 20)
	for name, r := range ref {
		if len(text) != r.Bytes {
			t.Fatalf("mixedText is %d bytes, the generator's %d: they no longer agree", len(text), r.Bytes)
		}
		tok := openVocab(t, name)
		start := time.Now()
		ids := tok.Encode(text, false, false)
		d := time.Since(start)
		var sum int64
		for _, id := range ids {
			sum = (sum*31 + int64(id)) % 1000000007
		}
		if len(ids) != r.N || sum != r.Sum {
			t.Errorf("%s: %d ids, hash %d; llama.cpp %d ids, hash %d", name, len(ids), sum, r.N, r.Sum)
		}
		t.Logf("%s: %d bytes -> %d ids in %v (llama.cpp %d ms)", name, len(text), len(ids), d, r.MS)
	}
}
