package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"dayi/weights"
)

// TestTextIndex checks textIndex against a Go map filled in id order (the
// last of duplicate texts wins, as llama.cpp's token_to_id) on the texts of
// real vocabularies and on hand-made ones with duplicates, and that texts
// that are no token miss.
func TestTextIndex(t *testing.T) {
	check := func(t *testing.T, texts []string, probes []string) {
		t.Helper()
		want := make(map[string]int32, len(texts))
		for i, s := range texts {
			want[s] = int32(i)
		}
		x := newTextIndex(texts)
		for _, s := range append(slices.Clone(texts), probes...) {
			id, ok := x.get(s)
			wid, wok := want[s]
			if ok != wok || id != wid {
				t.Fatalf("get(%q) = %d, %v; want %d, %v", s, id, ok, wid, wok)
			}
			if bid, bok := x.getBytes([]byte(s)); bid != id || bok != ok {
				t.Fatalf("getBytes(%q) = %d, %v; get %d, %v", s, bid, bok, id, ok)
			}
		}
	}
	t.Run("small", func(t *testing.T) {
		check(t, []string{"a", "b", "a", "ab", "", "b", "abc"}, []string{"c", "abcd", "ba", "A"})
		check(t, nil, []string{"", "a"})
		check(t, []string{""}, []string{"a"})
	})
	t.Run("dense", func(t *testing.T) {
		// every string of 1–3 letters of a 6-letter alphabet, each twice, so
		// that the table is at its fullest and probes run long
		var texts []string
		abc := "abcdef"
		for n := 1; n <= 3; n++ {
			for i := 0; i < 1<<(3*n); i++ {
				var b []byte
				ok := true
				for j, v := 0, i; j < n; j, v = j+1, v>>3 {
					if v&7 >= len(abc) {
						ok = false
						break
					}
					b = append(b, abc[v&7])
				}
				if ok {
					texts = append(texts, string(b))
				}
			}
		}
		texts = append(texts, texts...)
		check(t, texts, []string{"g", "abcd", "fff ", "Abc"})
	})
	for _, name := range []string{"qwen2", "llama-spm", "gemma-4"} {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			rng := rand.New(rand.NewPCG(1, 2))
			var probes []string
			for range 2000 {
				a, b := tok.text[rng.IntN(len(tok.text))], tok.text[rng.IntN(len(tok.text))]
				probes = append(probes, a+b, a+"\x00", a[:len(a)/2])
			}
			check(t, tok.text, probes)
		})
	}
}

// TestMergesByText runs the merge loop's two ways of looking merges up
// against each other on llama.cpp-checked vocabularies: by token ids
// (pairs, what every real vocabulary uses, TestVocabVectors) and by
// text (ranks, for vocabularies with a merge whose sides are no tokens),
// forced by appending one such merge, which can never fire (its sides are
// raw control bytes that byte-level encoding never produces). A duplicate
// of an early merge appended last must change nothing in either way: the
// first rank wins, as in llama.cpp. It also checks that a vocabulary whose
// merges are all tokens builds no text index (the memory that saves).
func TestMergesByText(t *testing.T) {
	for _, name := range []string{"qwen2", "llama-bpe", "gpt-2"} {
		t.Run(name, func(t *testing.T) {
			openVocab(t, name) // the fixture check
			f, err := weights.Open(vocabPath(name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			v := ggufVocab(t, f)
			build := func(merges []string) *Tokenizer {
				w := v
				w.Merges = merges
				tok, err := New(w)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			byID := build(v.Merges)
			if byID.pairs == nil || byID.ranks != nil {
				t.Fatalf("all merges are tokens: pair index %v, text index %v; want only the pair index", byID.pairs != nil, byID.ranks != nil)
			}
			byText := build(append(slices.Clone(v.Merges), "\x01 \x02"))
			if byText.pairs != nil || byText.ranks == nil {
				t.Fatalf("a merge of no tokens: pair index %v, text index %v; want only the text index", byText.pairs != nil, byText.ranks != nil)
			}
			dup := -1
			for i, m := range v.Merges[:100] {
				if len(m) > 2 { // an early merge that fires in English text
					dup = i
					break
				}
			}
			byIDDup := build(append(slices.Clone(v.Merges), v.Merges[dup]))
			byTextDup := build(append(slices.Clone(v.Merges), "\x01 \x02", v.Merges[dup]))
			texts := []string{mixedText(1 << 14), "Hello world", " the theme of these", "aaaa bbbb  cccc\n\n"}
			for i := 0; i < 100; i++ {
				texts = append(texts, fmt.Sprintf("%d: in there, she reads the %x.", i*7919, i))
			}
			for _, s := range texts {
				want := byID.Encode(s, false, false)
				for _, c := range []struct {
					name string
					tok  *Tokenizer
				}{{"by text", byText}, {"by id, duplicate merge", byIDDup}, {"by text, duplicate merge", byTextDup}} {
					if got := c.tok.Encode(s, false, false); !slices.Equal(got, want) {
						i := 0
						for i < min(len(got), len(want)) && got[i] == want[i] {
							i++
						}
						t.Fatalf("%s: Encode(%.60q): %d ids, by id %d; first difference at %d: %v, by id %v",
							c.name, s, len(got), len(want), i, got[i:min(i+4, len(got))], want[i:min(i+4, len(want))])
					}
				}
			}
		})
	}
}

// ggufVocab reads f's vocabulary as FromGGUF does, for tests that change it.
func ggufVocab(t *testing.T, f *weights.File) Vocab {
	t.Helper()
	v := Vocab{Model: f.String("tokenizer.ggml.model", ""), Pre: f.String("tokenizer.ggml.pre", ""),
		Name: f.String("general.name", ""), Arch: f.Arch(),
		Tokens: f.Strings("tokenizer.ggml.tokens"), Merges: f.Strings("tokenizer.ggml.merges"),
		Types: f.Int32s("tokenizer.ggml.token_type"), IDs: map[string]int64{}, Flags: map[string]bool{}}
	for _, k := range vocabIDKeys {
		if key := "tokenizer.ggml." + k + "_token_id"; f.Has(key) {
			v.IDs[k] = int64(f.Uint(key, 1<<40))
		}
	}
	for _, k := range vocabFlagKeys {
		if b, ok := f.Get("tokenizer.ggml." + k); ok {
			v.Flags[k], _ = b.V.(bool)
		}
	}
	return v
}

// TestTokenizerFootprint bounds the heap a Tokenizer keeps beyond the GGUF
// metadata it is built from (which the weights.File holds either way): the
// bytes per token of Qwen 2's (151,936 tokens, 151,387 merges), Llama 3's
// (128,256 tokens, 280,147 merges) and Gemma's (262,144 tokens, 514,906
// merges) byte-level BPE vocabularies. With map[string]int32 indexes of
// texts and of merges, a map of merges by ids and a string per piece,
// Qwen 2's and Gemma's were 185 and 283 bytes a token (28 and 74 MB,
// 2026-12-07); the text index, the merges by ids only, grouped by left id
// (pairIndex), and the pieces in one buffer make them 67, 76 and 74.
func TestTokenizerFootprint(t *testing.T) {
	for _, c := range []struct {
		name     string
		maxBytes int // per token
	}{{"qwen2", 80}, {"llama-bpe", 90}, {"gemma-4", 90}} {
		t.Run(c.name, func(t *testing.T) {
			path := vocabPath(c.name)
			openVocab(t, c.name) // the fixture check
			f, err := weights.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tok, err := FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			n := tok.NumTokens()
			t.Logf("%s: %d tokens, %.1f MB kept, %d bytes a token", c.name, n, float64(kept)/1e6, kept/int64(n))
			if kept > int64(c.maxBytes*n) {
				t.Errorf("%s: the tokenizer keeps %d bytes, %d a token; want at most %d a token", c.name, kept, kept/int64(n), c.maxBytes)
			}
			runtime.KeepAlive(tok)
		})
	}
}

// FuzzNewVocab builds tokenizers from arbitrary vocabularies, as a hostile
// GGUF file would give them (tokens split from tokens at NUL bytes, merges
// from merges at newlines, token types from types' bytes): New must refuse
// or build, never panic; a built tokenizer must find every token by its
// text (the last of duplicates, as llama.cpp), encode text to ids in range
// and decode them to valid UTF-8.
func FuzzNewVocab(f *testing.F) {
	f.Add(byte(0), "a\x00b\x00ab\x00c\x00abc\x00a", "a b\nab c\na b\nx y", []byte{1, 1, 1, 3, 1, 6}, "abcab cab")
	f.Add(byte(1), "<unk>\x00<s>\x00</s>\x00▁a\x00b\x00▁ab\x00<0x41>", "", []byte{2, 3, 3, 1, 1, 1, 6}, "ab aab A")
	f.Add(byte(2), "[PAD]\x00[UNK]\x00[CLS]\x00[SEP]\x00hello\x00##lo\x00he", "", []byte{3, 2, 3, 3}, "Hello hello")
	f.Add(byte(3), "\n\x00\n\n\x00a\x00b\x00ab", "a b\n\n \n", []byte{}, "a\n\nb ab")
	models := []string{"gpt2", "llama", "bert", "gemma4"}
	f.Fuzz(func(t *testing.T, model byte, tokens, merges string, types []byte, text string) {
		v := Vocab{Model: models[int(model)%len(models)], Tokens: strings.Split(tokens, "\x00"), IDs: map[string]int64{}, Flags: map[string]bool{}}
		if merges != "" {
			v.Merges = strings.Split(merges, "\n")
		} else if v.Model == "gpt2" || v.Model == "gemma4" {
			v.Merges = []string{}
		}
		if len(types) >= len(v.Tokens) {
			v.Types = make([]int32, len(v.Tokens))
			for i := range v.Types {
				v.Types[i] = int32(types[i] % 8)
			}
		}
		v.IDs["unknown"] = 0
		tok, err := New(v)
		if err != nil {
			return
		}
		for i := 0; i < tok.NumTokens(); i++ {
			s := tok.Text(int32(i))
			id, ok := tok.ID(s)
			if !ok || tok.Text(id) != s || int(id) < i {
				t.Fatalf("ID(Text(%d) = %q) = %d, %v", i, s, id, ok)
			}
		}
		for _, special := range []bool{false, true} {
			ids := tok.Encode(text, true, special)
			for _, id := range ids {
				if id < 0 || int(id) >= tok.NumTokens() {
					t.Fatalf("Encode(%q) gave id %d of %d", text, id, tok.NumTokens())
				}
			}
			if d := tok.Decode(ids); !utf8.ValidString(d) {
				t.Fatalf("Decode gave invalid UTF-8 %q", d)
			}
		}
	})
}

// TestPairIndex checks pairIndex against a map filled in rank order, first
// rank winning, on random merges over a small vocabulary (so that pairs
// repeat and groups are long) and pairs that are no merge.
func TestPairIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 7, 300} {
		var merges []pairMerge
		want := map[[2]int32][2]int32{}
		for i := 0; i < 20*n; i++ {
			m := pairMerge{int32(rng.IntN(n)), int32(rng.IntN(n)), int32(i), int32(rng.IntN(n))}
			merges = append(merges, m)
			if _, dup := want[[2]int32{m.left, m.right}]; !dup {
				want[[2]int32{m.left, m.right}] = [2]int32{m.rank, m.res}
			}
		}
		x := newPairIndex(n, merges)
		for l := int32(-1); l <= int32(n); l++ {
			for r := int32(-1); r <= int32(n); r++ {
				rank, res, ok := x.get(l, r)
				w, wok := want[[2]int32{l, r}]
				if ok != wok || ok && (rank != w[0] || res != w[1]) {
					t.Fatalf("n=%d: get(%d, %d) = %d, %d, %v; want %d, %d, %v", n, l, r, rank, res, ok, w[0], w[1], wok)
				}
			}
		}
		if len(x.ents) != len(want) {
			t.Fatalf("n=%d: %d entries for %d distinct pairs", n, len(x.ents), len(want))
		}
	}
}
