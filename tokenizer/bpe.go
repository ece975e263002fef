package tokenizer

import (
	"fmt"
	"strings"
)

// Byte-level BPE as llama.cpp's llm_tokenizer_bpe_session: the text is split
// by the pre-tokenizer into words, each word's bytes are mapped to GPT-2's
// byte characters (not for Gemma 4), and within each word the adjacent pair
// with the lowest merge rank is merged repeatedly (ties go to the leftmost).

// setPre applies the pre-tokenizer named by t.pre.
func (t *Tokenizer) setPre() error {
	cfg, ok := preConfigFor(t.pre)
	if !ok {
		return fmt.Errorf("tokenizer: unsupported pre-tokenizer %q (tokenizer.ggml.pre)", t.pre)
	}
	t.splits = cfg.splits
	t.ignoreMerges = cfg.ignoreMerges
	t.cleanSpaces = !cfg.keepSpaces
	if cfg.addBOS {
		t.addBOS = true
	}
	if cfg.addSep {
		t.addSep = true
	}
	if cfg.noBOS {
		t.bos = -1
	}
	if cfg.rawBytes {
		t.byteEncode = false
		t.escapeWhitespace = true
	}
	return nil
}

// loadMerges indexes the merges by "left right". A merge is split at its
// first space after the first byte, as llama.cpp does, and the first of
// duplicate merges keeps its rank.
func (t *Tokenizer) loadMerges(merges []string) error {
	if merges == nil {
		return fmt.Errorf("tokenizer: %s vocabulary without tokenizer.ggml.merges", t.model)
	}
	t.ranks = make(map[string]int32, len(merges))
	for i, m := range merges {
		if len(m) < 2 || strings.IndexByte(m[1:], ' ') < 0 {
			continue // llama.cpp stores it as ("", ""), which never matches
		}
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = int32(i)
		}
	}
	return nil
}

// bpeSession holds the scratch buffers of one Encode call.
type bpeSession struct {
	t     *Tokenizer
	cpts  []rune
	segs  []int
	next  []int
	clean []byte // canonical re-encoding of the text when it differs
	word  []byte // current word, byte-encoded
	key   []byte // "left right" lookup key
	m     merger
}

func (t *Tokenizer) newBPESession() *bpeSession {
	return &bpeSession{t: t}
}

// encode appends the tokens of one raw-text fragment to out.
func (s *bpeSession) encode(text string, out []int32) []int32 {
	if text == "" {
		return out
	}
	var clean bool
	s.cpts, clean = decodeAll(s.cpts[:0], text)
	src := text
	if !clean {
		// llama.cpp rebuilds the words from code points, so malformed bytes
		// become U+FFFD and overlong forms their shortest encoding.
		s.clean = s.clean[:0]
		for _, r := range s.cpts {
			s.clean = appendCpt(s.clean, r)
		}
		src = string(s.clean)
	}
	s.segs = append(s.segs[:0], len(s.cpts))
	for _, sp := range s.t.splits {
		s.next = s.next[:0]
		start := 0
		for _, n := range s.segs {
			s.next = sp(s.cpts, start, start+n, s.next)
			start += n
		}
		s.segs, s.next = s.next, s.segs
	}
	c, b := 0, 0
	for _, n := range s.segs {
		bl := 0
		for _, r := range s.cpts[c : c+n] {
			bl += cptLen(r)
		}
		out = s.encodeWord(src[b:b+bl], out)
		c += n
		b += bl
	}
	return out
}

// cptLen is the length of appendCpt's encoding of r.
func cptLen(r rune) int {
	switch {
	case r < 0x80:
		return 1
	case r < 0x800:
		return 2
	case r < 0x10000:
		return 3
	}
	return 4
}

// encodeWord runs the merges over one pre-tokenized word.
func (s *bpeSession) encodeWord(raw string, out []int32) []int32 {
	t := s.t
	var w string
	if t.byteEncode {
		s.word = s.word[:0]
		for i := 0; i < len(raw); i++ {
			s.word = appendCpt(s.word, byteToRune[raw[i]])
		}
		w = string(s.word)
	} else {
		w = raw
	}
	whole := false
	if t.ignoreMerges {
		_, whole = t.toID[w]
	} else if !t.byteEncode && t.pre == "gemma4" && strings.Trim(w, "\n") == "" {
		// Gemma 4: a run of newlines that is a token stays whole
		// (llama.cpp PR 21343).
		_, whole = t.toID[w]
	}
	s.m.split(w, whole)
	s.m.run(func(l, r *symbol) uint32 {
		ls := w[l.off : l.off+l.n]
		if len(ls) > 1 && strings.IndexByte(ls[1:], ' ') >= 0 {
			return noPair // llama.cpp's merge parsing never yields such a left side
		}
		s.key = append(append(append(s.key[:0], ls...), ' '), w[r.off:r.off+r.n]...)
		rank, ok := t.ranks[string(s.key)]
		if !ok {
			return noPair
		}
		return bpePriority(rank)
	})
	for _, sym := range s.m.syms {
		if sym.n == 0 {
			continue
		}
		piece := w[sym.off : sym.off+sym.n]
		if id, ok := t.toID[piece]; ok {
			out = append(out, id)
			continue
		}
		// No token for this symbol: emit its bytes that are tokens
		// (llama.cpp skips the others silently).
		for j := 0; j < len(piece); j++ {
			if t.byteEncode {
				if id, ok := t.toID[piece[j:j+1]]; ok {
					out = append(out, id)
				}
			} else if id := t.byteTok[piece[j]]; id >= 0 {
				out = append(out, id)
			}
		}
	}
	return out
}
