package tokenizer

// SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session (after
// https://github.com/ggml-org/llama.cpp/commit/074bea2e): the text is split
// into UTF-8 characters, then the adjacent pair whose concatenation is the
// vocabulary token with the highest score is merged, repeatedly (ties go to
// the leftmost pair). Characters left without a token fall back to <0xNN>
// byte tokens.
//
// Every symbol is a contiguous span of the input, so a pair's text is the
// span from the left symbol's start to the right symbol's end and lookups
// need no string building.

type symbol struct {
	off, n     int // span in the text; n == 0 once merged away
	prev, next int
}

type spmBigram struct {
	left, right int
	score       float32
	size        int
}

// spmBefore orders the SPM queue: highest score first, then smallest left
// index (llm_bigram_spm::comparator).
func spmBefore(a, b spmBigram) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

// spmSession holds the scratch buffers of one SPM encoding.
type spmSession struct {
	t     *Tokenizer
	text  string
	syms  []symbol
	queue pq[spmBigram]
}

// encodeSPM appends the tokens of text (already escaped: ' ' -> ▁) to out.
func (t *Tokenizer) encodeSPM(text string, out []int32) []int32 {
	if text == "" {
		return out
	}
	s := &spmSession{t: t, text: text, syms: make([]symbol, 0, len(text)), queue: pq[spmBigram]{before: spmBefore}}
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		idx := len(s.syms)
		next := idx + 1
		if off+n == len(text) {
			next = -1
		}
		s.syms = append(s.syms, symbol{off: off, n: n, prev: idx - 1, next: next})
		off += n
	}
	for i := 1; i < len(s.syms); i++ {
		s.tryAdd(i-1, i)
	}
	for len(s.queue.items) > 0 {
		b := s.queue.pop()
		l, r := &s.syms[b.left], &s.syms[b.right]
		// Skip pairs invalidated by an earlier merge.
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.syms[r.next].prev = b.left
		}
		s.tryAdd(l.prev, b.left)
		s.tryAdd(b.left, l.next)
	}
	for i := 0; i != -1; i = s.syms[i].next {
		sym := s.syms[i]
		piece := text[sym.off : sym.off+sym.n]
		if id, ok := t.toID[piece]; ok {
			out = append(out, id)
			continue
		}
		// A merged symbol is always a token, so only single characters get
		// here; llama.cpp's resegment then emits their bytes.
		for j := 0; j < len(piece); j++ {
			out = append(out, t.byteFallback(piece[j]))
		}
	}
	return out
}

func (s *spmSession) tryAdd(left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.syms[left], s.syms[right]
	id, ok := s.t.toID[s.text[l.off:r.off+r.n]]
	if !ok {
		return
	}
	s.queue.push(spmBigram{left: left, right: right, score: s.t.score[id], size: l.n + r.n})
}

// byteFallback returns the token of byte b, or UNK (then 0) when the
// vocabulary has none; llama.cpp would throw there.
func (t *Tokenizer) byteFallback(b byte) int32 {
	if id := t.byteTok[b]; id >= 0 {
		return id
	}
	if t.unk >= 0 {
		return t.unk
	}
	return 0
}
