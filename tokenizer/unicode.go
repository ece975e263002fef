package tokenizer

import "unicode"

// Code-point classification and UTF-8 handling that mirror llama.cpp's
// src/unicode.cpp (v0.5.0). The token ids depend on these details: llama.cpp
// decodes UTF-8 structurally (it accepts overlong forms and surrogates and
// turns only malformed bytes into U+FFFD), and it classifies code points with
// tables generated from UnicodeData.txt. Go's own decoder and tables differ
// in both respects, so the tokenizer must not use utf8.DecodeRune or the raw
// unicode package directly.

// Category flags, one per code point (llama.cpp's unicode_cpt_flags).
const (
	flagUndefined   uint16 = 0x0001
	flagNumber      uint16 = 0x0002 // \p{N}
	flagLetter      uint16 = 0x0004 // \p{L}
	flagSeparator   uint16 = 0x0008 // \p{Z}
	flagAccentMark  uint16 = 0x0010 // \p{M}
	flagPunctuation uint16 = 0x0020 // \p{P}
	flagSymbol      uint16 = 0x0040 // \p{S}
	flagControl     uint16 = 0x0080 // \p{C}
	flagWhitespace  uint16 = 0x0100 // \s (llama.cpp's own whitespace set)
)

// cptInvalid is what llama.cpp's splitters return for a position outside the
// current fragment (OUT_OF_RANGE); its flags are 0.
const cptInvalid = rune(-1)

// asciiFlags holds the flags of the 128 ASCII code points.
var asciiFlags = func() (t [128]uint16) {
	for c := 0; c < 128; c++ {
		t[c] = categoryOf(rune(c))
		if isSpaceCpt(rune(c)) {
			t[c] |= flagWhitespace
		}
	}
	return t
}()

// cptFlags returns the flags of code point r as llama.cpp's
// unicode_cpt_flags_from_cpt does; r == cptInvalid gives 0.
func cptFlags(r rune) uint16 {
	if r < 0 {
		return 0
	}
	if r < 128 {
		return asciiFlags[r]
	}
	if r > unicode.MaxRune {
		return flagUndefined
	}
	f := categoryOf(r)
	if isSpaceCpt(r) {
		f |= flagWhitespace
	}
	return f
}

// categoryOf maps the Unicode general category to a flag. Go's tables are
// Unicode 15.0; llama.cpp v0.5.0's are 15.1, which adds exactly the code
// points patched here (CJK extension I and five ideographic description
// characters); the rest of the 0x110000 code points agree (checked against
// unicode-data.cpp when this was written).
func categoryOf(r rune) uint16 {
	switch {
	case r >= 0x2EBF0 && r <= 0x2EE5D:
		return flagLetter
	case (r >= 0x2FFC && r <= 0x2FFF) || r == 0x31EF:
		return flagSymbol
	case unicode.IsLetter(r):
		return flagLetter
	case unicode.IsNumber(r):
		return flagNumber
	case unicode.IsMark(r):
		return flagAccentMark
	case unicode.IsPunct(r):
		return flagPunctuation
	case unicode.IsSymbol(r):
		return flagSymbol
	case unicode.In(r, unicode.Z):
		return flagSeparator
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs):
		return flagControl
	}
	return flagUndefined
}

// isSpaceCpt is llama.cpp's unicode_set_whitespace (Python's str.isspace
// minus U+001C..U+001F, which llama.cpp's generator leaves out).
func isSpaceCpt(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r == 0x20, r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F,
		r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length announced by
// a lead byte, from its top four bits only (continuation bytes count as 1).
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// decodeCpt decodes one code point at s[i:] as llama.cpp's
// unicode_cpt_from_utf8 does: structurally (overlong forms and surrogates are
// accepted) and returns ok=false for a malformed sequence, in which case the
// caller substitutes U+FFFD and advances one byte.
func decodeCpt(s string, i int) (r rune, n int, ok bool) {
	b0 := s[i]
	switch {
	case b0&0x80 == 0:
		return rune(b0), 1, true
	case b0&0x40 == 0:
		return 0, 1, false
	case b0&0x20 == 0:
		if i+1 >= len(s) || s[i+1]&0xC0 != 0x80 {
			return 0, 1, false
		}
		return rune(b0&0x1F)<<6 | rune(s[i+1]&0x3F), 2, true
	case b0&0x10 == 0:
		if i+2 >= len(s) || s[i+1]&0xC0 != 0x80 || s[i+2]&0xC0 != 0x80 {
			return 0, 1, false
		}
		return rune(b0&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3, true
	case b0&0x08 == 0:
		if i+3 >= len(s) || s[i+1]&0xC0 != 0x80 || s[i+2]&0xC0 != 0x80 || s[i+3]&0xC0 != 0x80 {
			return 0, 1, false
		}
		r = rune(b0&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
		if r > unicode.MaxRune {
			// llama.cpp would throw while re-encoding such a code point;
			// treating it as malformed keeps the output well defined.
			return 0, 1, false
		}
		return r, 4, true
	}
	return 0, 1, false
}

// appendCpt encodes r as llama.cpp's unicode_cpt_to_utf8 does (surrogates are
// encoded as three bytes, unlike utf8.AppendRune).
func appendCpt(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r&0x3F))
	case r < 0x10000:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6&0x3F), 0x80|byte(r&0x3F))
	}
	return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12&0x3F), 0x80|byte(r>>6&0x3F), 0x80|byte(r&0x3F))
}

// decodeAll appends the code points of s to dst (llama.cpp's
// unicode_cpts_from_utf8: malformed bytes become U+FFFD one byte at a time)
// and reports whether re-encoding them reproduces s byte for byte.
func decodeAll(dst []rune, s string) ([]rune, bool) {
	clean := true
	for i := 0; i < len(s); {
		r, n, ok := decodeCpt(s, i)
		if !ok {
			r, clean = 0xFFFD, false
		} else if n > 1 && !canonical(r, n) {
			clean = false
		}
		dst = append(dst, r)
		i += n
	}
	return dst, clean
}

// canonical reports whether an n-byte sequence decoding to r is the shortest
// form (so that appendCpt gives the same bytes back).
func canonical(r rune, n int) bool {
	switch n {
	case 2:
		return r >= 0x80
	case 3:
		return r >= 0x800
	}
	return r >= 0x10000
}

// byteToRune is GPT-2's byte-to-unicode table (bytes_to_unicode in OpenAI's
// encoder.py, llama.cpp's unicode_byte_to_utf8_map): printable bytes map to
// themselves, the other 68 to U+0100 upwards in byte order.
var byteToRune = func() (t [256]rune) {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = 256 + n
			n++
		}
	}
	return t
}()

// runeToByte inverts byteToRune; -1 for code points outside the table.
func runeToByte(r rune) int {
	switch {
	case (r >= 0x21 && r <= 0x7E) || (r >= 0xA1 && r <= 0xAC) || (r >= 0xAE && r <= 0xFF):
		return int(r)
	case r >= 256 && r < 256+68:
		return int(byteOfShifted[r-256])
	}
	return -1
}

// byteOfShifted lists, for U+0100+i, the byte that GPT-2's table maps there.
var byteOfShifted = func() (t [68]byte) {
	for b := 0; b < 256; b++ {
		if r := byteToRune[b]; r >= 256 {
			t[r-256] = byte(b)
		}
	}
	return t
}()
