// Package safename checks the names users give knowledge bases and
// uploaded documents: a letter or digit first (no leading dot, dash or
// space), then letters, digits and a few punctuation characters, with a
// bound on the length in characters.
//
// It replaces three package-level regular expressions of the form
// ^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$: compiled, the Unicode classes
// repeated 64 or 128 times took ~6.7 MB of heap in every dayi process (a
// tenth of the memory slack of a 0.5B model) and time at start-up, to test
// a few names per request. Valid accepts exactly what those expressions
// matched (TestMatchesRegexp compares them on generated names).
package safename

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Valid reports whether name is a letter or digit (Unicode categories L
// and N) followed by at most maxRest characters that are letters, digits
// or in extra. Invalid UTF-8 is never valid.
func Valid(name string, maxRest int, extra string) bool {
	n := 0
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				return false
			}
		}
		ok := unicode.IsLetter(r) || unicode.IsNumber(r)
		if n > 0 && !ok {
			ok = strings.ContainsRune(extra, r)
		}
		if !ok || n > maxRest {
			return false
		}
		n++
	}
	return n > 0
}
