package tokenizer

import (
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// WordPiece (BERT) as llama.cpp's llm_tokenizer_wpm_session: the text is
// lowercased and accents are stripped (each code point replaced by the first
// code point of its NFD form, marks dropped) unless the vocabulary's
// tokenizer.ggml.normalizer.lowercase / .strip_accents say otherwise (cased
// BERT models; strip_accents defaults to lowercase), split at whitespace and around
// punctuation and CJK characters; each word gets a ▁ prefix and is covered
// greedily by the longest vocabulary tokens; a word that cannot be covered
// becomes [UNK].

// encodeWPM appends the WordPiece tokens of text to out.
func (t *Tokenizer) encodeWPM(text string, out []int32) []int32 {
	for _, w := range wpmWords(text, t.wpmLower, t.wpmStrip) {
		word := "▁" + w
		n := len(word)
		mark := len(out)
		for i := 0; i < n; i++ {
			matched := false
			for j := min(n, i+t.maxTokenLen+1); j > i; j-- {
				if id, ok := t.toID.get(word[i:j]); ok {
					out = append(out, id)
					matched = true
					i = j - 1
					break
				}
			}
			if !matched {
				out = out[:mark]
				break
			}
		}
		if len(out) == mark {
			out = append(out, t.unk)
		}
	}
	return out
}

// wpmWords is llm_tokenizer_wpm_session::preprocess with the normalizer
// options lower (lowercase) and strip (strip_accents).
func wpmWords(text string, lower, strip bool) []string {
	cpts, _ := decodeAll(nil, text)
	var words []string
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range cpts {
		if strip {
			r = nfdFirst(r)
		}
		f := cptFlags(r)
		if f&flagWhitespace != 0 {
			flush()
			continue
		}
		if r == 0 || r == 0xFFFD || f&flagControl != 0 || (strip && f&flagAccentMark != 0) {
			continue
		}
		lr := r
		if lower {
			lr = unicode.ToLower(r)
		}
		if f&flagPunctuation != 0 || (r < 0x7F && f&flagSymbol != 0) || isChineseChar(r) {
			flush()
			words = append(words, string(appendCpt(nil, lr)))
			continue
		}
		cur = appendCpt(cur, lr)
	}
	flush()
	return words
}

// nfdFirst returns the first code point of r's canonical decomposition.
func nfdFirst(r rune) rune {
	if r < 0xC0 || r > unicode.MaxRune || (r >= 0xD800 && r <= 0xDFFF) {
		return r
	}
	var buf [4]byte
	d := norm.NFD.Bytes(appendCpt(buf[:0], r))
	if len(d) == 0 {
		return r
	}
	first, _, ok := decodeCpt(string(d), 0)
	if !ok {
		return r
	}
	return first
}

// isChineseChar is BERT's CJK test (with the 0x2B920 quirk of Hugging Face's
// Rust code that llama.cpp copies).
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}
