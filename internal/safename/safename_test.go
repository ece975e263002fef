package safename

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestMatchesRegexp checks Valid against the regular expressions it
// replaced (Go's regexp is the reference) on names built from the
// characters that matter: ASCII letters and digits, other scripts'
// letters and digits (Han, Arabic-Indic digits, Roman numerals, a
// combining mark), every allowed punctuation character and others ("/",
// "\", ":", NUL, a newline), U+FFFD itself and invalid UTF-8, at lengths
// around the bound.
func TestMatchesRegexp(t *testing.T) {
	cases := []struct {
		re      *regexp.Regexp
		maxRest int
		extra   string
	}{
		{regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$`), 63, "_.-"},
		{regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} _.()+-]{0,127}$`), 127, " _.()+-"},
	}
	alphabet := []string{"a", "Z", "0", "9", "病", "历", "٣", "Ⅻ", "\u0301", "é", "_", ".", "-", " ", "(", ")", "+",
		"/", "\\", ":", "\x00", "\n", "\uFFFD", "\xff", "\xe7\x97", "ß", "😀"}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		check := func(name string) {
			t.Helper()
			if got, want := Valid(name, c.maxRest, c.extra), c.re.MatchString(name); got != want {
				t.Fatalf("Valid(%q, %d, %q) = %v, the regexp %v", name, c.maxRest, c.extra, got, want)
			}
		}
		for _, name := range []string{"", "a", ".a", "-a", " a", "a.", "a..b", "知识库", strings.Repeat("a", c.maxRest+1),
			strings.Repeat("a", c.maxRest+2), strings.Repeat("病", c.maxRest+1), strings.Repeat("病", c.maxRest+2),
			"a" + strings.Repeat("_", c.maxRest), "\u0301a", "a\u0301"} {
			check(name)
		}
		for i := 0; i < 20000; i++ {
			var b strings.Builder
			n := rng.IntN(8)
			if rng.IntN(4) == 0 {
				n = c.maxRest - 2 + rng.IntN(5)
			}
			for j := 0; j < n; j++ {
				if j > 0 && rng.IntN(3) > 0 {
					b.WriteString("a") // mostly valid, so the length bound is reached
					continue
				}
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			check(b.String())
		}
	}
}
