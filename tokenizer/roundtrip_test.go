package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// losslessVocabs decode back to exactly the text they encoded (byte fallback
// or byte-level BPE, no clean_up_tokenization_spaces). llama-bpe, gemma-4,
// gpt-2 & co. are not: llama.cpp's decoder removes the space in " ," there.
var losslessVocabs = []string{"llama-spm", "qwen2", "qwen35", "deepseek-coder", "deepseek-llm", "command-r"}

// randomText builds valid UTF-8 from a pool of Chinese, English, digits,
// punctuation, emoji, accented letters and whitespace runs. It avoids '<', '['
// and '|' (the raw text of control tokens may encode to those tokens, which
// decode to nothing) and U+2581 (SentencePiece's space marker).
func randomText(r *rand.Rand, n int) string {
	pools := []string{
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"0123456789", "0123456789",
		" ", "  ", "\n", "\t", "\r\n", " \n ",
		".,;:!?'\"()-_/+*=%&#@$^~`{}\\",
		"患者胸痛头晕发热咳嗽血压心率建议检查治疗药物过敏史",
		"éèàüößçñøåÄÖÜĐđươẫệ", "нещо на Български", "كلمة", "ไทย",
		"🦙🚀😶‍🌫️✅😁👍🏽", "\u200d\u00a0\u3000\u2028",
	}
	var b strings.Builder
	for b.Len() < n {
		p := []rune(pools[r.IntN(len(pools))])
		k := 1 + r.IntN(6)
		for i := 0; i < k; i++ {
			b.WriteRune(p[r.IntN(len(p))])
		}
	}
	return b.String()
}

func TestRoundTripLossless(t *testing.T) {
	toks := map[string]*Tokenizer{"stories260K": embeddedTokenizer(t)}
	for _, name := range losslessVocabs {
		toks[name] = openVocab(t, name)
	}
	r := rand.New(rand.NewPCG(1, 2))
	texts := []string{"", " ", "  Hello", "Hello  ", "\n\n", "头痛三天，怎么办？", "🦙.cpp"}
	for i := 0; i < 200; i++ {
		texts = append(texts, randomText(r, 1+r.IntN(300)))
	}
	for name, tok := range toks {
		for _, s := range texts {
			ids := tok.Encode(s, false, false)
			if got := tok.Decode(ids); got != s {
				t.Errorf("%s: Decode(Encode(%q)) = %q", name, s, got)
				break
			}
			// Streaming gives the same text (SPM keeps its leading space).
			st := tok.NewStream()
			var sb strings.Builder
			for _, id := range ids {
				sb.WriteString(st.Add(id))
			}
			sb.WriteString(st.Flush())
			want := s
			if tok.addSpacePrefix && len(ids) > 0 {
				want = " " + s
			}
			if sb.String() != want {
				t.Errorf("%s: stream of Encode(%q) = %q", name, s, sb.String())
				break
			}
		}
	}
}

// FuzzEncodeDecode checks that arbitrary bytes never panic, give ids in
// range, and decode and stream to valid UTF-8; valid UTF-8 round-trips
// through the (lossless) embedded vocabulary.
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range []string{"", "Once upon a time", "<s>hi</s>", "\xff\xfe", "\xe4\xb8", "🦙", "a\x00b", "\xed\xa0\x80"} {
		f.Add(s)
	}
	toks := []*Tokenizer{embeddedTokenizer(f)}
	for _, name := range []string{"qwen2", "llama-bpe", "gemma-4", "bert-bge", "deepseek-llm"} {
		toks = append(toks, openVocab(f, name))
	}
	f.Fuzz(func(t *testing.T, s string) {
		for ti, tok := range toks {
			for _, flags := range [][2]bool{{false, false}, {true, true}} {
				ids := tok.Encode(s, flags[0], flags[1])
				for _, id := range ids {
					if id < 0 || int(id) >= tok.NumTokens() {
						t.Fatalf("tokenizer %d: Encode(%q) gave id %d", ti, s, id)
					}
				}
				d := tok.Decode(ids)
				if !utf8.ValidString(d) {
					t.Fatalf("tokenizer %d: Decode gave invalid UTF-8 %q", ti, d)
				}
				st := tok.NewStream()
				for _, id := range ids {
					if out := st.Add(id); !utf8.ValidString(out) {
						t.Fatalf("tokenizer %d: stream gave invalid UTF-8 %q", ti, out)
					}
				}
				if out := st.Flush(); !utf8.ValidString(out) {
					t.Fatalf("tokenizer %d: Flush gave invalid UTF-8 %q", ti, out)
				}
			}
		}
		if utf8.ValidString(s) && !strings.ContainsAny(s, "<▁") {
			if got := toks[0].Decode(toks[0].Encode(s, false, false)); got != s {
				t.Fatalf("stories260K: Decode(Encode(%q)) = %q", s, got)
			}
		}
		// Random ids (from the input bytes) decode to valid UTF-8 too.
		ids := make([]int32, 0, len(s)/2)
		for i := 0; i+1 < len(s); i += 2 {
			ids = append(ids, int32(s[i])<<8|int32(s[i+1]))
		}
		for _, tok := range toks {
			if d := tok.Decode(ids); !utf8.ValidString(d) {
				t.Fatalf("Decode(%v) gave invalid UTF-8", ids)
			}
		}
	})
}
