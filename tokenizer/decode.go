package tokenizer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendPiece appends llama.cpp's token_to_piece(id, special=true) without
// lstrip to dst (appending, not returning a string: New renders every token
// once, and a string each was as many short-lived allocations).
func (t *Tokenizer) appendPiece(dst []byte, id int32) []byte {
	a, s := t.attr[id], t.text[id]
	switch {
	case a&(attrUnknown|attrControl|attrUserDefined) != 0:
		return append(dst, s...)
	case a&attrNormal != 0:
		if t.kind != kindBPE || t.escapeWhitespace {
			for {
				i := strings.Index(s, "▁")
				if i < 0 {
					return append(dst, s...)
				}
				dst = append(append(dst, s[:i]...), ' ')
				s = s[i+len("▁"):]
			}
		}
		return appendByteLevel(dst, s)
	case a&attrByte != 0:
		// token_to_byte: the two hex digits of "<0xNN>" (strtol semantics:
		// parse what is there, 0 if nothing).
		if t.kind == kindWPM {
			return dst
		}
		return append(dst, hexByte(s))
	}
	return dst // undefined or unused-only tokens render as nothing
}

// hexByte parses s[3:5] as llama.cpp's strtol(substr(3, 2), 16) would.
func hexByte(s string) byte {
	if len(s) <= 3 {
		return 0
	}
	h := s[3:min(len(s), 5)]
	v := 0
	for i := 0; i < len(h); i++ {
		d, err := strconv.ParseUint(h[i:i+1], 16, 8)
		if err != nil {
			break
		}
		v = v*16 + int(d)
	}
	return byte(v)
}

// appendByteLevel appends the bytes of a byte-level BPE token
// (llama_decode_text); characters outside GPT-2's table are written as
// llama.cpp writes them, "[UNK_BYTE_0x<hex><token>]".
func appendByteLevel(out []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, n, ok := decodeCpt(s, i)
		if !ok {
			r = 0xFFFD
		}
		i += n
		if b := runeToByte(r); b >= 0 {
			out = append(out, byte(b))
			continue
		}
		out = append(out, "[UNK_BYTE_0x"...)
		var cpt [4]byte
		for _, c := range appendCpt(cpt[:0], r) {
			out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		out = append(out, s...)
		out = append(out, ']')
	}
	return out
}

// Piece returns the text of token id as llama.cpp's token_to_piece with
// special=true: control tokens give their text ("<|im_end|>"), SentencePiece
// ▁ becomes a space, byte tokens give their byte (possibly partial UTF-8).
// Out-of-range ids give "".
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieceOff)-1 {
		return ""
	}
	return t.piece(id)
}

// piece views piece id in pieceBytes (no copy); id must be valid.
func (t *Tokenizer) piece(id int32) string { return unsafeString(t.pieceSlice(id)) }

// pieceSlice is piece id's bytes in pieceBytes, capped so that an append
// cannot write into the next piece; id must be valid.
func (t *Tokenizer) pieceSlice(id int32) []byte {
	a, b := t.pieceOff[id], t.pieceOff[id+1]
	return t.pieceBytes[a:b:b]
}

// TokenBytes returns the bytes token id adds to generated text: Piece, except
// that control and unknown tokens add nothing (token_to_piece with
// special=false). The slice is shared (no allocation); do not modify it.
func (t *Tokenizer) TokenBytes(id int32) []byte {
	if id < 0 || int(id) >= len(t.pieceOff)-1 || t.attr[id]&(attrUnknown|attrControl) != 0 {
		return nil
	}
	return t.pieceSlice(id)
}

// tokenText is TokenBytes as a string (no copy).
func (t *Tokenizer) tokenText(id int32) string { return unsafeString(t.TokenBytes(id)) }

// Decode returns the text of ids as llama.cpp's llama_detokenize with
// remove_special=false and unparse_special=false: control tokens vanish, the
// leading space of the first piece is dropped for vocabularies with
// add_space_prefix (SentencePiece) unless the sequence starts with BOS or
// another token, and the BPE clean_up_tokenization_spaces pass runs where the
// vocabulary asks for it. Invalid UTF-8 in the result becomes U+FFFD.
func (t *Tokenizer) Decode(ids []int32) string {
	return validString(t.decodeBytes(ids, false))
}

// DecodeSpecial is Decode with control tokens rendered as their text
// (llama_detokenize with unparse_special=true).
func (t *Tokenizer) DecodeSpecial(ids []int32) string {
	return validString(t.decodeBytes(ids, true))
}

// decodeBytes is llama_detokenize(remove_special=false, unparse_special=special)
// returning raw bytes.
func (t *Tokenizer) decodeBytes(ids []int32, special bool) []byte {
	var b []byte
	for i, id := range ids {
		var p string
		if special {
			p = t.Piece(id)
		} else {
			p = t.tokenText(id)
		}
		if i == 0 && t.addSpacePrefix && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		b = append(b, p...)
	}
	if t.cleanSpaces {
		b = cleanSpaces(b)
	}
	return b
}

// cleanSpaces is llama_detokenize's clean_spaces passes (Hugging Face's
// clean_up_tokenization): " ?", " !", " .", " ," lose the space; a lone
// apostrophe between spaces loses both; " 's", " 'm", " 're", " 've" lose the
// space.
func cleanSpaces(text []byte) []byte {
	// Pass 1: space before ? ! . ,
	n := len(text)
	if n == 0 {
		return text
	}
	total := 1
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			total--
		}
		text[total] = x
		total++
	}
	// Pass 2: " ' " -> "'" (reads the not-yet-compacted text, as llama.cpp).
	n, total = total, 1
	for i := 1; i < n; i++ {
		x := text[i]
		if x == '\'' && i+1 < n && text[i-1] == ' ' && text[i+1] == ' ' {
			total--
			i++
			text[i] = 0
		}
		text[total] = x
		total++
	}
	// Pass 3: contractions.
	n, total = total, 1
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && x == '\'' && i+1 < n {
			x1 := text[i+1]
			switch {
			case x1 == 's' || x1 == 'm':
				total--
			case x1 == 't' || x1 == 'd':
			case i+2 < n:
				x2 := text[i+2]
				if (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e') {
					total--
				}
			}
		}
		text[total] = x
		total++
	}
	return text[:total]
}

// Stream turns generated ids into text one token at a time. Add returns only
// complete UTF-8: a token that ends inside a multi-byte character (byte
// fallback, byte-level BPE) is held back until the character completes.
// Invalid sequences are replaced by U+FFFD. The leading space of the first
// piece is kept (" named"), as llama.cpp's streaming CLI prints it.
type Stream struct {
	t       *Tokenizer
	pending []byte
}

// NewStream returns a streaming detokenizer.
func (t *Tokenizer) NewStream() *Stream { return &Stream{t: t} }

// Add appends token id and returns the text that became complete.
func (s *Stream) Add(id int32) string {
	s.pending = append(s.pending, s.t.tokenText(id)...)
	cut := completePrefix(s.pending)
	if cut == 0 {
		return ""
	}
	out := validString(s.pending[:cut])
	s.pending = append(s.pending[:0], s.pending[cut:]...)
	return out
}

// Flush returns what is held back (an incomplete character becomes U+FFFD)
// and resets the stream.
func (s *Stream) Flush() string {
	out := validString(s.pending)
	s.pending = s.pending[:0]
	return out
}

// completePrefix returns the length of the longest prefix of b that does not
// end inside a UTF-8 sequence that may still complete.
func completePrefix(b []byte) int {
	n := len(b)
	// Find the start of the last (possibly partial) character.
	for i := n - 1; i >= 0 && i >= n-utf8.UTFMax; i-- {
		c := b[i]
		if c&0xC0 == 0x80 {
			continue // continuation byte: keep looking for the lead
		}
		if c >= 0xC0 && !utf8.FullRune(b[i:]) {
			return i
		}
		break
	}
	return n
}

func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
