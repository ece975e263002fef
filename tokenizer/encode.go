package tokenizer

import "strings"

// Encode returns the token ids of text as llama.cpp's
// llama_tokenize(text, add_special, parse_special) does.
//
// addSpecial adds what the model asks for: BOS (add_bos_token) and EOS
// (add_eos_token); for WordPiece, [CLS] and [SEP]. parseSpecial makes the
// text of control tokens (e.g. "<|im_start|>", "<s>") produce those tokens;
// without it only user-defined tokens are recognised and the rest is
// tokenized as plain text.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	frags := t.partition(text, parseSpecial)
	switch t.kind {
	case kindSPM:
		isPrevSpecial := true // a leading space goes before the first fragment
		if addSpecial && t.addBOS {
			out = append(out, t.bos)
		}
		var buf strings.Builder
		var m merger
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f.tok)
				isPrevSpecial = true
				continue
			}
			buf.Reset()
			if t.addSpacePrefix && isPrevSpecial {
				buf.WriteString("▁")
			}
			writeEscaped(&buf, text[f.off:f.off+f.n])
			out = t.encodeSPM(&m, buf.String(), out)
			isPrevSpecial = false
		}
		if addSpecial && t.addEOS {
			out = append(out, t.eos)
		}
	case kindBPE:
		if addSpecial && t.addBOS {
			out = append(out, t.bos)
		}
		s := t.newBPESession()
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f.tok)
				continue
			}
			frag := text[f.off : f.off+f.n]
			if t.escapeWhitespace {
				frag = strings.ReplaceAll(frag, " ", "▁")
			}
			out = s.encode(frag, out)
		}
		if addSpecial && t.addEOS {
			out = append(out, t.eos)
		}
	case kindUGM:
		// llama.cpp's UGM branch: no per-fragment space handling here, the
		// normaliser does it for each raw fragment.
		if addSpecial && t.addBOS {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f.tok)
				continue
			}
			out = t.encodeUGM(text[f.off:f.off+f.n], out)
		}
		if addSpecial && t.addEOS {
			out = append(out, t.eos)
		}
	case kindWPM:
		if addSpecial && t.bos >= 0 {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.tok >= 0 {
				out = append(out, f.tok)
				continue
			}
			out = t.encodeWPM(text[f.off:f.off+f.n], out)
		}
		if addSpecial && t.sep >= 0 {
			out = append(out, t.sep)
		}
	}
	return out
}

// writeEscaped writes s with every ' ' replaced by ▁ (U+2581), as
// SentencePiece's whitespace escaping.
func writeEscaped(b *strings.Builder, s string) {
	for {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		b.WriteString("▁")
		s = s[i+1:]
	}
}
