package tokenizer

import (
	"fmt"
	"math"
	"strings"
	"unsafe"
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

// loadMerges indexes the merges. A merge is split at its first space after
// the first byte, as llama.cpp does, and the first of duplicate merges keeps
// its rank. In every vocabulary seen so far both sides of every merge and
// their concatenation are tokens, and the merge loop looks merges up by
// token ids (pairs); only where some side is no token does it look them up
// by text, "left right" (ranks). The text index is built only then: for
// Gemma's 514k merges it was 27 MB next to the id index.
func (t *Tokenizer) loadMerges(merges []string) error {
	if merges == nil {
		return fmt.Errorf("tokenizer: %s vocabulary without tokenizer.ggml.merges", t.model)
	}
	byID := make([]pairMerge, 0, len(merges))
	var joined []byte
	for i, m := range merges {
		sp := mergeSpace(m)
		if sp < 0 {
			continue // llama.cpp stores it as ("", ""), which never matches
		}
		l, lok := t.toID.get(m[:sp])
		r, rok := t.toID.get(m[sp+1:])
		joined = append(append(joined[:0], m[:sp]...), m[sp+1:]...)
		res, resok := t.toID.getBytes(joined)
		if !lok || !rok || !resok || i > math.MaxInt32 {
			byID = nil
			break
		}
		byID = append(byID, pairMerge{l, r, int32(i), res})
	}
	if byID != nil {
		// Equal pairs of ids are equal merge texts (the ids' texts joined
		// by the space), so the index's lowest rank is llama.cpp's first.
		t.pairs = newPairIndex(len(t.text), byID)
		return nil
	}
	t.ranks = make(map[string]int32, len(merges))
	for i, m := range merges {
		if mergeSpace(m) < 0 {
			continue
		}
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = int32(i)
		}
	}
	return nil
}

// mergeSpace is the index of the space that splits merge m, the first after
// its first byte (llama.cpp's split), or -1 if there is none.
func mergeSpace(m string) int {
	if len(m) < 2 {
		return -1
	}
	if i := strings.IndexByte(m[1:], ' '); i >= 0 {
		return 1 + i
	}
	return -1
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
	if t.pairs == nil {
		return s.encodeWordByText(raw, out)
	}
	if t.ignoreMerges {
		if id, ok := t.toID.get(s.encodedWord(raw)); ok {
			return append(out, id)
		}
	} else if !t.byteEncode && t.pre == "gemma4" && strings.Trim(raw, "\n") == "" {
		// Gemma 4: a run of newlines that is a token stays whole
		// (llama.cpp PR 21343).
		if id, ok := t.toID.get(raw); ok {
			return append(out, id)
		}
	}
	// Symbols are spans of raw; with byte encoding each byte is one
	// character of the encoded word.
	m := &s.m
	m.reset(len(raw))
	if t.byteEncode {
		for i := 0; i < len(raw); i++ {
			m.add(i, 1)
			m.syms[i].id = t.byteTok[raw[i]]
		}
	} else {
		for off := 0; off < len(raw); {
			n := min(utf8Len(raw[off]), len(raw)-off)
			m.add(off, n)
			if id, ok := t.toID.get(raw[off : off+n]); ok {
				m.syms[len(m.syms)-1].id = id
			}
			off += n
		}
	}
	m.run(func(l, r *symbol) (uint32, int32) {
		if l.id < 0 || r.id < 0 {
			return noPair, -1
		}
		rank, res, ok := t.pairs.get(l.id, r.id)
		if !ok {
			return noPair, -1
		}
		return bpePriority(rank), res
	})
	for _, sym := range m.syms {
		if sym.n == 0 {
			continue
		}
		if sym.id >= 0 {
			out = append(out, sym.id)
			continue
		}
		piece := raw[sym.off : sym.off+sym.n]
		if t.byteEncode {
			piece = s.encodedWord(piece)
		}
		out = s.emitUnknown(piece, out)
	}
	return out
}

// encodedWord returns raw with each byte replaced by its GPT-2 character; the
// result aliases a scratch buffer and is valid until the next call.
func (s *bpeSession) encodedWord(raw string) string {
	if !s.t.byteEncode {
		return raw
	}
	s.word = s.word[:0]
	for i := 0; i < len(raw); i++ {
		s.word = appendCpt(s.word, byteToRune[raw[i]])
	}
	return unsafeString(s.word)
}

// emitUnknown handles a final symbol that is no token: llama.cpp emits the
// tokens of its single bytes (byte-level BPE) or its <0xNN> byte tokens, and
// skips bytes without one.
func (s *bpeSession) emitUnknown(piece string, out []int32) []int32 {
	t := s.t
	for j := 0; j < len(piece); j++ {
		if t.byteEncode {
			if id, ok := t.toID.get(piece[j : j+1]); ok {
				out = append(out, id)
			}
		} else if id := t.byteTok[piece[j]]; id >= 0 {
			out = append(out, id)
		}
	}
	return out
}

// encodeWordByText is encodeWord for vocabularies with merges between
// strings that are not tokens: pairs are looked up by text, as llama.cpp does.
func (s *bpeSession) encodeWordByText(raw string, out []int32) []int32 {
	t := s.t
	w := strings.Clone(s.encodedWord(raw))
	whole := false
	if t.ignoreMerges {
		_, whole = t.toID.get(w)
	} else if !t.byteEncode && t.pre == "gemma4" && strings.Trim(w, "\n") == "" {
		_, whole = t.toID.get(w)
	}
	s.m.split(w, whole)
	s.m.run(func(l, r *symbol) (uint32, int32) {
		ls := w[l.off : l.off+l.n]
		if len(ls) > 1 && strings.IndexByte(ls[1:], ' ') >= 0 {
			return noPair, -1 // llama.cpp's merge parsing never yields such a left side
		}
		s.key = append(append(append(s.key[:0], ls...), ' '), w[r.off:r.off+r.n]...)
		rank, ok := t.ranks[string(s.key)]
		if !ok {
			return noPair, -1
		}
		return bpePriority(rank), -1
	})
	for _, sym := range s.m.syms {
		if sym.n == 0 {
			continue
		}
		piece := w[sym.off : sym.off+sym.n]
		if id, ok := t.toID.get(piece); ok {
			out = append(out, id)
			continue
		}
		out = s.emitUnknown(piece, out)
	}
	return out
}

// unsafeString views b as a string without copying; b must not change while
// the string is in use.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
