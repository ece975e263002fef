package tokenizer

// SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session (after
// https://github.com/ggml-org/llama.cpp/commit/074bea2e): the text is split
// into UTF-8 characters, then the adjacent pair whose concatenation is the
// vocabulary token with the highest score is merged, repeatedly (ties go to
// the leftmost pair). Characters left without a token fall back to <0xNN>
// byte tokens.

// encodeSPM appends the tokens of text (already escaped: ' ' -> ▁) to out.
func (t *Tokenizer) encodeSPM(m *merger, text string, out []int32) []int32 {
	if text == "" {
		return out
	}
	m.split(text, false)
	m.run(func(l, r *symbol) uint32 {
		id, ok := t.toID[text[l.off:r.off+r.n]]
		if !ok {
			return noPair
		}
		return spmPriority(t.score[id])
	})
	for i := int32(0); i != -1; i = m.syms[i].next {
		sym := m.syms[i]
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
