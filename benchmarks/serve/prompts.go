package serve

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"dayi/tokenizer"
)

// Prompter makes benchmark prompts of an exact token count from a model's
// own vocabulary, so each stream's prompt is distinct (no prefix-cache hit
// beyond the BOS token) and costs the same prefill on every engine.
type Prompter struct {
	tok   *tokenizer.Tokenizer
	words []string // pieces " xyz…": a leading space keeps them whole words
}

// NewPrompter collects the vocabulary's word pieces: normal tokens that
// decode to a space and three or more ASCII letters. Every pre-tokenizer
// splits at such a space, so concatenated words re-tokenize one token per
// word almost always; BuildPrompt checks the count anyway.
func NewPrompter(tok *tokenizer.Tokenizer) (*Prompter, error) {
	p := &Prompter{tok: tok}
	for id := range int32(tok.NumTokens()) {
		if tok.Type(id) != tokenizer.TypeNormal || tok.IsControl(id) {
			continue
		}
		s := tok.Piece(id)
		if len(s) < 4 || s[0] != ' ' || !asciiLetters(s[1:]) {
			continue
		}
		p.words = append(p.words, s)
	}
	if len(p.words) < 16 {
		return nil, fmt.Errorf("vocabulary has %d word tokens, too few for benchmark prompts", len(p.words))
	}
	return p, nil
}

func asciiLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Build returns a prompt of exactly n tokens as the server counts them
// (Encode with the model's BOS), made of random words drawn with seed. The
// prefix, when not empty, is kept as the start of the text.
func (p *Prompter) Build(n int, seed uint64, prefix string) (string, error) {
	r := rand.New(rand.NewPCG(seed, 0x5e7e))
	var b strings.Builder
	b.WriteString(prefix)
	count := func(s string) int { return len(p.tok.Encode(s, true, false)) }
	if c := count(b.String()); c > n {
		return "", fmt.Errorf("prefix is %d tokens, more than the prompt's %d", c, n)
	}
	for tries := 0; tries < 50*n; tries++ {
		cur := b.String()
		c := count(cur)
		if c == n {
			return cur, nil
		}
		w := p.words[r.IntN(len(p.words))]
		if count(cur+w) <= n {
			b.WriteString(w)
		}
	}
	return "", fmt.Errorf("could not build a prompt of exactly %d tokens", n)
}
