package tokenizer

// SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session (after
// https://github.com/ggml-org/llama.cpp/commit/074bea2e): the text is split
// into UTF-8 characters, then the adjacent pair whose concatenation is the
// vocabulary token with the highest score is merged, repeatedly (ties go to
// the leftmost pair). Characters left without a token fall back to <0xNN>
// byte tokens.

// spmChunk is the size beyond which encodeSPM looks for a place to cut.
const spmChunk = 1024

// encodeSPM appends the tokens of text (already escaped: ' ' -> ▁) to out.
//
// llama.cpp merges the whole text at once. Long texts are cut here into
// pieces of about spmChunk bytes at places that no vocabulary token spans,
// which gives the same ids (merges never cross such a place, and within a
// piece they happen in the same relative order) with a queue that stays in
// cache.
func (t *Tokenizer) encodeSPM(m *merger, text string, out []int32) []int32 {
	for start := 0; start < len(text); {
		end := t.spmCut(text, start)
		out = t.encodeSPMPiece(m, text[start:end], out)
		start = end
	}
	return out
}

// spmCut returns where the piece starting at start ends: the first character
// boundary spmChunk bytes on whose two neighbouring characters appear next to
// each other in no token (so no token can span it), or len(text).
func (t *Tokenizer) spmCut(text string, start int) int {
	prev := -1
	for p := start; p < len(text); {
		n := min(utf8Len(text[p]), len(text)-p)
		if p-start >= spmChunk && prev >= 0 {
			if _, inToken := t.spmPairs[text[prev:p+n]]; !inToken {
				return p
			}
		}
		prev = p
		p += n
	}
	return len(text)
}

// buildSPMPairs records every two adjacent characters inside a token, each
// token split into characters as the SPM loop splits text.
func (t *Tokenizer) buildSPMPairs() {
	t.spmPairs = map[string]struct{}{}
	for _, s := range t.text { // a duplicate text adds nothing new
		prev := -1
		for p := 0; p < len(s); {
			n := min(utf8Len(s[p]), len(s)-p)
			if prev >= 0 {
				t.spmPairs[s[prev:p+n]] = struct{}{}
			}
			prev = p
			p += n
		}
	}
}

// encodeSPMPiece merges one piece of text.
func (t *Tokenizer) encodeSPMPiece(m *merger, text string, out []int32) []int32 {
	m.split(text, false)
	m.run(func(l, r *symbol) (uint32, int32) {
		id, ok := t.toID.get(text[l.off : r.off+r.n])
		if !ok {
			return noPair, -1
		}
		return spmPriority(t.score[id]), id
	})
	for i := int32(0); i != -1; i = m.syms[i].next {
		sym := m.syms[i]
		if sym.id >= 0 {
			out = append(out, sym.id)
			continue
		}
		piece := text[sym.off : sym.off+sym.n]
		if id, ok := t.toID.get(piece); ok {
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
