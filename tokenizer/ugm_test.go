package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"dayi/weights"
)

// TestUGMAndWPMVocabVectors checks llama.cpp's test-tokenizer-0 strings:
// bert-bge against upstream's vectors, nomic-bert-moe (unigram, no upstream
// vectors) against ids made by llama.cpp with testdata/llamacpp_ugm.mjs.
func TestUGMAndWPMVocabVectors(t *testing.T) {
	for _, name := range []string{"nomic-bert-moe", "bert-bge"} {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			cases, err := readVocabCases(vocabPath(name))
			if err != nil {
				t.Fatal(err)
			}
			if len(cases) < 46 {
				t.Fatalf("%d test strings, want at least 46", len(cases))
			}
			for _, c := range cases {
				if got := tok.Encode(c.text, false, false); !slices.Equal(got, c.ids) {
					t.Errorf("Encode(%q) =\n  %v\nllama.cpp:\n  %v", c.text, got, c.ids)
				}
			}
		})
	}
}

// llamacppUGM is testdata/llamacpp_ugm.json (see llamacpp_ugm.mjs).
type llamacppUGM struct {
	Texts  []string `json:"texts"`
	Vocabs map[string]struct {
		NVocab       int                  `json:"n_vocab"`
		BOS          int32                `json:"bos"`
		EOS          int32                `json:"eos"`
		EOT          int32                `json:"eot"`
		EOG          []int32              `json:"eog"`
		AddBOS       bool                 `json:"add_bos"`
		AddEOS       bool                 `json:"add_eos"`
		Plain        [][]int32            `json:"plain"`
		Special      [][]int32            `json:"special"`
		Detok        []string             `json:"detok"`
		DetokSpecial []string             `json:"detok_special"`
		Pieces       [][3]json.RawMessage `json:"pieces"`
	} `json:"vocabs"`
}

// TestUGMAndWPMMatchLlamaCpp tokenizes 434 random and edge-case mixed zh/en
// texts (full-width forms, ligatures, combining marks, odd whitespace,
// emoji, special-token texts) with and without parse_special and with
// add_special, detokenizes them and renders single pieces, and checks the
// special ids and end-of-generation set, all against llama.cpp's results.
func TestUGMAndWPMMatchLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_ugm.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref llamacppUGM
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Vocabs) != 2 || len(ref.Texts) < 400 {
		t.Fatalf("%d vocabularies, %d texts in llamacpp_ugm.json", len(ref.Vocabs), len(ref.Texts))
	}
	for name, r := range ref.Vocabs {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			if tok.NumTokens() != r.NVocab || tok.BOS() != r.BOS || tok.EOS() != r.EOS ||
				tok.AddBOS() != r.AddBOS || tok.AddEOS() != r.AddEOS {
				t.Errorf("n/bos/eos/add_bos/add_eos = %d/%d/%d/%v/%v, llama.cpp %d/%d/%d/%v/%v",
					tok.NumTokens(), tok.BOS(), tok.EOS(), tok.AddBOS(), tok.AddEOS(),
					r.NVocab, r.BOS, r.EOS, r.AddBOS, r.AddEOS)
			}
			if tok.EOT() != r.EOT || !slices.Equal(tok.EOG(), r.EOG) {
				t.Errorf("EOT %d, EOG %v; llama.cpp EOT %d, EOG %v", tok.EOT(), tok.EOG(), r.EOT, r.EOG)
			}
			bad := 0
			for i, s := range ref.Texts {
				plain := tok.Encode(s, false, false)
				special := tok.Encode(s, false, true)
				if !slices.Equal(plain, r.Plain[i]) && len(plain)+len(r.Plain[i]) > 0 {
					bad++
					t.Errorf("text %d Encode(%q) =\n  %v\nllama.cpp\n  %v", i, s, plain, r.Plain[i])
				}
				if !slices.Equal(special, r.Special[i]) && len(special)+len(r.Special[i]) > 0 {
					bad++
					t.Errorf("text %d Encode(%q, parse special) =\n  %v\nllama.cpp\n  %v", i, s, special, r.Special[i])
				}
				// add_special: llama_tokenize puts BOS first and EOS last
				// where the vocabulary asks for them (WordPiece: [CLS], [SEP]).
				want := slices.Clone(r.Plain[i])
				if name == "bert-bge" || r.AddBOS {
					want = append([]int32{r.BOS}, want...)
				}
				if name == "bert-bge" {
					want = append(want, 102) // [SEP]
				} else if r.AddEOS {
					want = append(want, r.EOS)
				}
				if got := tok.Encode(s, true, false); !slices.Equal(got, want) {
					bad++
					t.Errorf("text %d Encode(%q, add special) = %v, want %v", i, s, got, want)
				}
				if raw := tok.decodeBytes(r.Special[i], false); utf8.Valid(raw) && string(raw) != r.Detok[i] {
					t.Errorf("text %d Decode(%v) = %q, llama.cpp %q", i, r.Special[i], raw, r.Detok[i])
				}
				if raw := tok.decodeBytes(r.Special[i], true); utf8.Valid(raw) && string(raw) != r.DetokSpecial[i] {
					t.Errorf("text %d DecodeSpecial(%v) = %q, llama.cpp %q", i, r.Special[i], raw, r.DetokSpecial[i])
				}
			}
			for _, p := range r.Pieces {
				var id int32
				var plain, special string
				if json.Unmarshal(p[0], &id) != nil || json.Unmarshal(p[1], &plain) != nil || json.Unmarshal(p[2], &special) != nil {
					t.Fatalf("bad pieces entry %s", p)
				}
				if raw := tok.decodeBytes([]int32{id}, false); utf8.Valid(raw) && string(raw) != plain {
					t.Errorf("Decode([%d]) = %q, llama.cpp %q", id, raw, plain)
				}
				if raw := tok.decodeBytes([]int32{id}, true); utf8.Valid(raw) && string(raw) != special {
					t.Errorf("DecodeSpecial([%d]) = %q, llama.cpp %q", id, raw, special)
				}
			}
			t.Logf("%s: %d mismatches over %d texts", name, bad, len(ref.Texts))
		})
	}
}

// ugmVocab is a small unigram vocabulary for the hand-worked cases below:
// ids 0-2 are <pad>, </s>, <unk> (llama.cpp's t5 defaults), scores are
// log-probabilities.
func ugmVocab(tokens []string, scores []float32, types []int32, charsmap []byte, flags map[string]bool) Vocab {
	return Vocab{Model: "t5",
		Tokens:   append([]string{"<pad>", "</s>", "<unk>"}, tokens...),
		Scores:   append([]float32{0, 0, 0}, scores...),
		Types:    append([]int32{3, 3, 2}, types...),
		CharsMap: charsmap, Flags: flags}
}

// charsmapOne is a precompiled charsmap, built by hand, that maps the byte
// from to the string to: the root's BASE is 0, so from leads to entry from,
// whose LCHECK is from, LEAF is set and BASE is 1; entry from^1 holds the
// value 0 (with bit 31, so it is no child of anything), the offset of to in
// the replacement strings.
func charsmapOne(from byte, to string) []byte {
	xcda := make([]uint32, int(from|1)+1)
	xcda[from] = 1<<10 | 1<<8 | uint32(from)
	xcda[from^1] = 1<<31 | 0
	b := binary.LittleEndian.AppendUint32(nil, uint32(4*len(xcda)))
	for _, v := range xcda {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return append(append(b, to...), 0)
}

// charsmapAtoB maps "A" to "b".
func charsmapAtoB() []byte { return charsmapOne('A', "b") }

// TestUGMHandWorked checks the unigram algorithm on cases worked out by hand
// from llama.cpp's llm_tokenizer_ugm_session.
func TestUGMHandWorked(t *testing.T) {
	// Tokens from id 3: ▁ab(-1) ▁a(-2) b(-2) ▁(-3) a(-3) c(-5) ▁x(-4) AB(user-defined) \uFFFD(-6)
	toks := []string{"▁ab", "▁a", "b", "▁", "a", "c", "▁x", "AB", "\uFFFD"}
	scores := []float32{-1, -2, -2, -3, -3, -5, -4, 0, -6}
	types := []int32{1, 1, 1, 1, 1, 1, 1, 4, 1}
	const (
		sAB, sA, b, sp, a, c, sX, userAB, repl = 3, 4, 5, 6, 7, 8, 9, 10, 11
		eos, unk                               = 1, 2
	)
	cases := []struct {
		name     string
		normalAB bool // "AB" is a normal token, not user-defined
		charsmap []byte
		flags    map[string]bool
		text     string
		want     []int32
	}{
		// ▁ab (-1) beats ▁a b (-4) and ▁ a b (-8).
		{"best path", false, nil, map[string]bool{"add_space_prefix": true}, "ab", []int32{sAB}},
		// No space prefix: "ab" = a b (-5).
		{"no prefix", false, nil, nil, "ab", []int32{a, b}},
		// Each space is ▁ without remove_extra_whitespaces; with the
		// prefix, "␣ab" gets two: ▁ ▁ab.
		{"spaces kept", false, nil, map[string]bool{"add_space_prefix": true}, " ab", []int32{sp, sAB}},
		// remove_extra_whitespaces: leading, repeated and trailing spaces go,
		// every word gets one ▁.
		{"spaces merged", false, nil, map[string]bool{"remove_extra_whitespaces": true}, "  ab   x ", []int32{sAB, sX}},
		// Unknown characters: "dd" has no token, min score is -6 so each
		// scores -16; the two unknowns become one <unk>.
		{"unknown run", false, nil, nil, "adda", []int32{a, unk, a}},
		// Malformed UTF-8 becomes U+FFFD (a token here), one per bad byte.
		{"bad utf8", false, nil, nil, "a\xff\xfeb", []int32{a, repl, repl, b}},
		// llama.cpp checks UTF-8 structure only: an overlong sequence is
		// kept as one (unknown) character, not replaced; a lead byte
		// 0xF8 and up is malformed.
		{"overlong kept", false, nil, nil, "a\xc0\x80b\xf8", []int32{a, unk, b, repl}},
		// The charsmap maps A to b: "Aa" is normalised to "ba".
		{"charsmap", true, charsmapAtoB(), nil, "Aa", []int32{b, a}},
		// User-defined tokens are matched before the charsmap, and score 0.
		// (partition already splits "AB" off, so this goes through Encode's
		// special-token path.)
		{"user-defined", false, charsmapAtoB(), nil, "aAB", []int32{a, userAB}},
		// llama.cpp's get_longest_prefix follows the user-defined trie as
		// far as it goes, even without reaching a token: the "A" of "Ac"
		// matches the start of "AB", so it is kept and not mapped to b;
		// "A" has no token, so it is unknown.
		{"user-defined prefix", false, charsmapAtoB(), nil, "Ac", []int32{unk, c}},
		// Empty text, and text that normalises to nothing.
		{"empty", false, nil, nil, "", nil},
		{"only spaces merged", false, nil, map[string]bool{"remove_extra_whitespaces": true}, "   ", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ty := slices.Clone(types)
			if tc.normalAB {
				ty[userAB-3] = 1
			}
			tok, err := New(ugmVocab(toks, scores, ty, tc.charsmap, tc.flags))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tc.text, false, false); !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
			}
			// add_special: no BOS by default for t5, EOS (</s>, id 1) last.
			if got, want := tok.Encode(tc.text, true, false), append(slices.Clone(tc.want), eos); !slices.Equal(got, want) {
				t.Errorf("Encode(%q, add special) = %v, want %v", tc.text, got, want)
			}
		})
	}
}

// TestUGMTieKeepsFirst checks that between two paths of equal score the one
// proposed first (the one whose last token starts earlier) wins, as with
// llama.cpp's strict comparison.
func TestUGMTieKeepsFirst(t *testing.T) {
	// "abc": ab+c and a+bc both score -4; ab+c's c is proposed from
	// offset 2 after a+bc's bc from offset 1, so a+bc stays.
	tok, err := New(ugmVocab([]string{"ab", "c", "a", "bc"}, []float32{-2, -2, -2, -2}, []int32{1, 1, 1, 1}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("abc", false, false), []int32{5, 6}; !slices.Equal(got, want) {
		t.Errorf("Encode(abc) = %v, want %v (a bc)", got, want)
	}
}

// TestUGMHostileCharsmap checks that a malformed charsmap is refused when the
// vocabulary loads, and that one whose entries point anywhere never makes
// Encode panic or read outside it.
func TestUGMHostileCharsmap(t *testing.T) {
	toks, scores, types := []string{"▁a", "a"}, []float32{-1, -1}, []int32{1, 1}
	for _, cm := range [][]byte{
		{1, 2},                   // shorter than the size header
		{8, 0, 0, 0, 1, 2, 3, 4}, // double array up to the end, no replacements
		{0xff, 0xff, 0xff, 0xff, 0},
	} {
		if _, err := New(ugmVocab(toks, scores, types, cm, nil)); err == nil || !strings.Contains(err.Error(), "precompiled_charsmap") {
			t.Errorf("charsmap %v: err = %v, want a precompiled_charsmap error", cm, err)
		}
	}
	// Double arrays whose walk leaves the array, reaches a value past the
	// replacement strings or an unterminated replacement: nothing matches,
	// so the text is tokenized as without a charsmap.
	plain, err := New(ugmVocab(toks, scores, types, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, xcda := range [][]uint32{
		{0xffffffff, 0xffffffff, 0xffffffff},
		{0, 0x1FFFFF<<10 | 1<<9 | 1<<8 | 0x01},
		{0, 3<<10 | 1<<8 | 0x01, 1<<31 | 1000},
		{0, 1<<10 | 1<<8 | 0x01},
	} {
		b := binary.LittleEndian.AppendUint32(nil, uint32(4*len(xcda)))
		for _, v := range xcda {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		b = append(b, 'x') // unterminated
		tok, err := New(ugmVocab(toks, scores, types, b, nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"a", "\x01", "\x01\x02a", "\x00a", "\xff", "Aa\u3000"} {
			if got, want := tok.Encode(s, true, true), plain.Encode(s, true, true); !slices.Equal(got, want) {
				t.Errorf("xcda %x: Encode(%q) = %v, want %v", xcda, s, got, want)
			}
		}
	}
}

// TestUGMMatchersUseGGUFTypes checks that the unigram model sees the token
// types of the GGUF file, not the attributes llama.cpp's special-token
// detection assigns afterwards (init_tokenizer runs before it): gpt-oss's
// "<|channel|>" stored as a normal token becomes user-defined, but it is
// not in the user-defined prefix matcher, so "<|x" is normalised by the
// charsmap ('<' to 'b') and not kept as it is.
func TestUGMMatchersUseGGUFTypes(t *testing.T) {
	tok, err := New(ugmVocab([]string{"<|channel|>", "<", "|", "x", "b"}, []float32{-1, -1, -1, -1, -1},
		[]int32{1, 1, 1, 1, 1}, charsmapOne('<', "b"), nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("<|x", false, false), []int32{7, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("Encode(<|x) = %v, want %v (b | x)", got, want)
	}
	// The token itself is still split off as a user-defined token.
	if got, want := tok.Encode("x<|channel|>", false, false), []int32{6, 3}; !slices.Equal(got, want) {
		t.Errorf("Encode(x<|channel|>) = %v, want %v", got, want)
	}
}

// TestUGMNaNScore checks that a NaN score does not poison the unknown score:
// llama.cpp's std::min skips it, so the minimum stays -2 and an unknown
// character still scores -12, which beats nothing and loses to a token.
func TestUGMNaNScore(t *testing.T) {
	tok, err := New(ugmVocab([]string{"a", "b"}, []float32{float32(math.NaN()), -2}, []int32{1, 1}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	// "b" (-2) then the unknown "c" (-12): a NaN minimum would make every
	// sum NaN, no proposal would win and the text would become one <unk>.
	if got, want := tok.Encode("bc", false, false), []int32{4, 2}; !slices.Equal(got, want) {
		t.Errorf("Encode(bc) = %v, want %v", got, want)
	}
}

// TestUGMNeedsUnknown checks that a unigram vocabulary without an unknown
// token is refused instead of producing invalid ids.
func TestUGMNeedsUnknown(t *testing.T) {
	_, err := New(Vocab{Model: "t5", Tokens: []string{"<pad>", "</s>"}})
	if err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("err = %v, want an error about the unknown token", err)
	}
}

// FuzzUGMEncode checks that unigram encoding never panics and that every id
// it returns is in range.
func FuzzUGMEncode(f *testing.F) {
	for _, s := range []string{"", "ab", " a\u3000b ", "\xff\xfe", "Aé\u0301ﬁ", "<mask>AB"} {
		f.Add(s)
	}
	tok, err := New(ugmVocab([]string{"▁ab", "a", "b", "AB", "▁"}, []float32{-1, -2, -2, 0, -3}, []int32{1, 1, 1, 4, 1},
		charsmapAtoB(), map[string]bool{"remove_extra_whitespaces": true}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, id := range tok.Encode(s, true, true) {
			if id < 0 || int(id) >= tok.NumTokens() {
				t.Fatalf("Encode(%q) gave id %d", s, id)
			}
		}
	})
}

// TestUGMFlagsMatchLlamaCpp checks the unigram normaliser under the four
// settings of add_space_prefix / remove_extra_whitespaces, with user-defined
// tokens (matched whole by the partition, and as prefixes by the
// normaliser), on nomic-bert-moe's charsmap and first 6000 tokens
// (testdata/ugm-*.gguf from testdata/ugmvocab) against llama.cpp
// (testdata/llamacpp_ugm_flags.json from testdata/llamacpp_ugm_flags.mjs).
func TestUGMFlagsMatchLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_ugm_flags.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts  []string `json:"texts"`
		Vocabs map[string]struct {
			AddBOS  bool      `json:"add_bos"`
			AddEOS  bool      `json:"add_eos"`
			Plain   [][]int32 `json:"plain"`
			Special [][]int32 `json:"special"`
			Detok   []string  `json:"detok"`
		} `json:"vocabs"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Vocabs) != 4 {
		t.Fatalf("%d vocabularies in llamacpp_ugm_flags.json, want 4", len(ref.Vocabs))
	}
	for name, r := range ref.Vocabs {
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
			if tok.AddBOS() != r.AddBOS || tok.AddEOS() != r.AddEOS {
				t.Errorf("add_bos/add_eos = %v/%v, llama.cpp %v/%v", tok.AddBOS(), tok.AddEOS(), r.AddBOS, r.AddEOS)
			}
			for i, s := range ref.Texts {
				if got := tok.Encode(s, false, false); !slices.Equal(got, r.Plain[i]) && len(got)+len(r.Plain[i]) > 0 {
					t.Errorf("Encode(%q) =\n  %v\nllama.cpp\n  %v", s, got, r.Plain[i])
				}
				if got := tok.Encode(s, false, true); !slices.Equal(got, r.Special[i]) && len(got)+len(r.Special[i]) > 0 {
					t.Errorf("Encode(%q, parse special) =\n  %v\nllama.cpp\n  %v", s, got, r.Special[i])
				}
				if raw := tok.decodeBytes(r.Special[i], false); utf8.Valid(raw) && string(raw) != r.Detok[i] {
					t.Errorf("Decode(%v) = %q, llama.cpp %q", r.Special[i], raw, r.Detok[i])
				}
			}
		})
	}
}
