package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"unicode/utf8"
)

// llamacppSpecial is testdata/llamacpp_special.json, made by
// testdata/llamacpp_ref.mjs with llama.cpp v0.5.0 (node-llama-cpp 3.22.1).
type llamacppSpecial struct {
	NVocab int     `json:"n_vocab"`
	BOS    int32   `json:"bos"`
	EOS    int32   `json:"eos"`
	EOT    int32   `json:"eot"`
	AddBOS bool    `json:"add_bos"`
	AddEOS bool    `json:"add_eos"`
	EOG    []int32 `json:"eog"`
	Cases  []struct {
		Text         string  `json:"text"`
		Special      []int32 `json:"special"`
		Plain        []int32 `json:"plain"`
		Detok        string  `json:"detok"`
		DetokSpecial string  `json:"detok_special"`
	} `json:"cases"`
	Pieces [][3]json.RawMessage `json:"pieces"`
}

// TestSpecialTokensMatchLlamaCpp checks parse_special tokenization, the
// special ids, the end-of-generation set and detokenization against llama.cpp.
func TestSpecialTokensMatchLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_special.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]llamacppSpecial
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	for name, ref := range all {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			if tok.NumTokens() != ref.NVocab || tok.BOS() != ref.BOS || tok.EOS() != ref.EOS || tok.EOT() != ref.EOT ||
				tok.AddBOS() != ref.AddBOS || tok.AddEOS() != ref.AddEOS {
				t.Errorf("n/bos/eos/eot/add_bos/add_eos = %d/%d/%d/%d/%v/%v, llama.cpp %d/%d/%d/%d/%v/%v",
					tok.NumTokens(), tok.BOS(), tok.EOS(), tok.EOT(), tok.AddBOS(), tok.AddEOS(),
					ref.NVocab, ref.BOS, ref.EOS, ref.EOT, ref.AddBOS, ref.AddEOS)
			}
			if !slices.Equal(tok.EOG(), ref.EOG) {
				t.Errorf("EOG = %v, llama.cpp %v", tok.EOG(), ref.EOG)
			}
			for id := int32(0); id < int32(tok.NumTokens()); id++ {
				if tok.IsEOG(id) != slices.Contains(ref.EOG, id) {
					t.Fatalf("IsEOG(%d) = %v", id, tok.IsEOG(id))
				}
			}
			for _, c := range ref.Cases {
				if got := tok.Encode(c.Text, false, true); !slices.Equal(got, c.Special) && len(got)+len(c.Special) > 0 {
					t.Errorf("Encode(%q, parse special) =\n  %v\nllama.cpp\n  %v", c.Text, got, c.Special)
				}
				if got := tok.Encode(c.Text, false, false); !slices.Equal(got, c.Plain) && len(got)+len(c.Plain) > 0 {
					t.Errorf("Encode(%q, plain) =\n  %v\nllama.cpp\n  %v", c.Text, got, c.Plain)
				}
				if got := tok.Decode(c.Special); got != c.Detok {
					t.Errorf("Decode(%v) = %q, llama.cpp %q", c.Special, got, c.Detok)
				}
				if got := tok.DecodeSpecial(c.Special); got != c.DetokSpecial {
					t.Errorf("DecodeSpecial(%v) = %q, llama.cpp %q", c.Special, got, c.DetokSpecial)
				}
			}
			for _, p := range ref.Pieces {
				var id int32
				var plain, special string
				if json.Unmarshal(p[0], &id) != nil || json.Unmarshal(p[1], &plain) != nil || json.Unmarshal(p[2], &special) != nil {
					t.Fatalf("bad pieces entry %s", p)
				}
				// node-llama-cpp turns invalid UTF-8 into U+FFFD its own way;
				// compare only pieces that are valid UTF-8 on their own.
				if raw := tok.decodeBytes([]int32{id}, false); utf8.Valid(raw) && string(raw) != plain {
					t.Errorf("Decode([%d]) = %q, llama.cpp %q", id, raw, plain)
				}
				if raw := tok.decodeBytes([]int32{id}, true); utf8.Valid(raw) && string(raw) != special {
					t.Errorf("DecodeSpecial([%d]) = %q, llama.cpp %q", id, raw, special)
				}
			}
		})
	}
}
