package knowledge

import (
	"strings"
	"unicode"
)

// isCJK reports whether r is written without spaces between words (Han,
// kana, Hangul), so that it is indexed as character bigrams.
func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// englishStop are words too common to carry meaning in a query. BM25's idf
// would weigh them down anyway; dropping them keeps the index smaller.
var englishStop = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "of": true, "to": true,
	"in": true, "on": true, "at": true, "by": true, "for": true, "with": true, "is": true,
	"are": true, "was": true, "were": true, "be": true, "been": true, "it": true, "its": true,
	"as": true, "that": true, "this": true, "these": true, "those": true, "from": true,
	"what": true, "which": true, "how": true, "when": true, "should": true, "do": true,
	"does": true, "can": true, "i": true, "we": true, "you": true, "my": true, "if": true,
	"than": true, "then": true, "there": true, "into": true, "not": true, "no": false,
}

// Terms splits text into index terms: runs of CJK characters become
// overlapping character bigrams (a lone character stays a unigram), the
// standard way to index Chinese without a word segmenter; runs of letters and
// digits become lowercased, lightly stemmed words. The same function analyses
// documents and queries, which is all BM25 needs.
func Terms(text string) []string {
	var out []string
	var prev rune = -1 // previous CJK rune in the current run
	runLen := 0
	flushCJK := func() {
		if runLen == 1 {
			out = append(out, string(prev))
		}
		prev, runLen = -1, 0
	}
	word := make([]rune, 0, 32)
	flushWord := func() {
		if len(word) == 0 {
			return
		}
		w := stem(string(word))
		if w != "" && !englishStop[w] {
			out = append(out, w)
		}
		word = word[:0]
	}
	for _, r := range text {
		switch {
		case isCJK(r):
			flushWord()
			if runLen > 0 {
				out = append(out, string([]rune{prev, r}))
			}
			prev = r
			runLen++
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushCJK()
			word = append(word, unicode.ToLower(r))
		default:
			flushCJK()
			flushWord()
		}
	}
	flushCJK()
	flushWord()
	return out
}

// stem strips English plural endings, Porter's (1980) step 1a with "ies"
// mapped to "y" so that "therapies" meets "therapy". Porter's later steps
// (-ed, -ing, suffix removal) are left out on purpose: they need the vowel
// and consonant measure to avoid damage, and medical vocabulary is mostly
// nouns and Latin-derived terms ("sepsis", "diabetes") that they mangle.
func stem(w string) string {
	if len(w) <= 3 || strings.IndexFunc(w, unicode.IsDigit) >= 0 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "sses"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "ss") || strings.HasSuffix(w, "us") || strings.HasSuffix(w, "is"):
		return w
	case strings.HasSuffix(w, "s"):
		return w[:len(w)-1]
	}
	return w
}

// EstimateTokens approximates the token count of text when no tokenizer is
// at hand: one token per CJK character (Chinese-capable vocabularies such as
// Qwen's average 1–1.5 characters per token, so this errs on the safe side),
// one per four letters or digits of a word (rounded up), and one per other
// visible symbol.
func EstimateTokens(text string) int {
	n, word := 0, 0
	for _, r := range text {
		switch {
		case isCJK(r):
			n += (word + 3) / 4
			word = 0
			n++
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word++
		default:
			n += (word + 3) / 4
			word = 0
			if !unicode.IsSpace(r) {
				n++
			}
		}
	}
	return n + (word+3)/4
}
