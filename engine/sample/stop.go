package sample

import (
	"strings"
	"unicode/utf8"
)

// StopMatcher finds stop strings in streamed text whose pieces (detokenized tokens) may split a stop string
// anywhere. It holds back the tail of the stream that could still become a stop string, releases it as soon as
// it cannot, and on a match returns only the text before the earliest stop, as llama-server's
// find_stopping_strings does (earliest position over all stops; at equal positions the longest stop).
//
// It also holds back an incomplete UTF-8 sequence at the end of the stream, so every emitted chunk ends on a
// rune boundary even when a token carries half a character. A StopMatcher serves one request.
type StopMatcher struct {
	stops   []string
	pending string
	done    bool
	stop    string
	cut     string
}

// NewStopMatcher returns a matcher for the given stop strings; empty ones are ignored.
func NewStopMatcher(stops []string) *StopMatcher {
	m := &StopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
		}
	}
	return m
}

// Push adds the next piece of text. It returns the text that is now safe to show and whether a stop string was
// found; after a match the stream is over and further pushes return nothing.
func (m *StopMatcher) Push(piece string) (emit string, stopped bool) {
	if m.done {
		return "", true
	}
	m.pending += piece
	if pos, s := m.earliest(); pos >= 0 {
		emit = m.pending[:pos]
		m.stop, m.cut = s, m.pending[pos:]
		m.pending = ""
		m.done = true
		return emit, true
	}
	hold := m.holdBack()
	emit = m.pending[:len(m.pending)-hold]
	m.pending = m.pending[len(m.pending)-hold:]
	return emit, false
}

// Flush ends the stream and returns the text still held back (a stop-string prefix that never completed).
func (m *StopMatcher) Flush() string {
	if m.done {
		return ""
	}
	m.done = true
	out := m.pending
	m.pending = ""
	return out
}

// Matched reports the stop string that ended the stream and the text that was cut: the stop string itself and
// whatever followed it in the same pieces. Both are empty when no stop matched.
func (m *StopMatcher) Matched() (stop, cut string) { return m.stop, m.cut }

// Held is the text currently held back.
func (m *StopMatcher) Held() string { return m.pending }

func (m *StopMatcher) earliest() (int, string) {
	best, bs := -1, ""
	for _, s := range m.stops {
		i := strings.Index(m.pending, s)
		if i < 0 {
			continue
		}
		if best < 0 || i < best || i == best && len(s) > len(bs) {
			best, bs = i, s
		}
	}
	return best, bs
}

// holdBack is how many trailing bytes of pending must wait: the longest suffix that is a proper prefix of some
// stop string, or an incomplete UTF-8 sequence, whichever is longer.
func (m *StopMatcher) holdBack() int {
	p := m.pending
	hold := 0
	for _, s := range m.stops {
		n := min(len(s)-1, len(p))
		for k := n; k > hold; k-- {
			if strings.HasPrefix(s, p[len(p)-k:]) {
				hold = k
				break
			}
		}
	}
	return max(hold, incompleteUTF8(p))
}

// incompleteUTF8 is the length of a trailing UTF-8 sequence that is cut short (0 if the text ends cleanly).
func incompleteUTF8(p string) int {
	for k := 1; k <= 3 && k <= len(p); k++ {
		b := p[len(p)-k]
		if b < 0x80 {
			return 0 // ASCII: complete
		}
		if utf8.RuneStart(b) {
			need := 0
			switch {
			case b&0xE0 == 0xC0:
				need = 2
			case b&0xF0 == 0xE0:
				need = 3
			case b&0xF8 == 0xF0:
				need = 4
			default:
				return 0 // invalid lead byte: nothing to wait for
			}
			if k < need {
				return k
			}
			return 0
		}
	}
	return 0
}
