package sample

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

type step struct{ piece, emit string }

func runStops(t *testing.T, stops []string, steps []step, wantStopped bool, wantStop, wantCut, wantFlush string) {
	t.Helper()
	m := NewStopMatcher(stops)
	stopped := false
	for i, s := range steps {
		e, st := m.Push(s.piece)
		if e != s.emit {
			t.Fatalf("step %d push %q: emitted %q, want %q (held %q)", i, s.piece, e, s.emit, m.Held())
		}
		stopped = st
	}
	if stopped != wantStopped {
		t.Fatalf("stopped = %v, want %v", stopped, wantStopped)
	}
	stop, cut := m.Matched()
	if stop != wantStop || cut != wantCut {
		t.Fatalf("matched (%q, %q), want (%q, %q)", stop, cut, wantStop, wantCut)
	}
	if f := m.Flush(); f != wantFlush {
		t.Fatalf("flush %q, want %q", f, wantFlush)
	}
}

func TestStopSplitAcrossPieces(t *testing.T) {
	runStops(t, []string{"</s>"}, []step{{"Hel", "Hel"}, {"lo<", "lo"}, {"/", ""}, {"s>world", ""}},
		true, "</s>", "</s>world", "")
}

func TestStopFalsePrefixReleased(t *testing.T) {
	runStops(t, []string{"abc"}, []step{{"xa", "x"}, {"b", ""}, {"d", "abd"}, {"ab", ""}}, false, "", "", "ab")
}

func TestStopEarliestOfMany(t *testing.T) {
	// "o w" starts before "world": the earliest position wins.
	runStops(t, []string{"world", "o w"}, []step{{"hello world", "hell"}}, true, "o w", "o world", "")
	// at equal positions the longest stop is reported
	runStops(t, []string{"<|im", "<|im_end|>"}, []step{{"ok<|im_end|>", "ok"}}, true, "<|im_end|>", "<|im_end|>", "")
	// a later piece completes the second stop while a prefix of the first is held
	runStops(t, []string{"\n\nUser:", "###"}, []step{{"a\n", "a"}, {"\nU", ""}, {"#", "\n\nU"}, {"##x", ""}}, true, "###", "###x", "")
}

func TestStopUnicode(t *testing.T) {
	stop := "停止"
	b := []byte("好的停止了")
	// split inside the multi-byte runes: "好" = 3 bytes, "的" = 3, "停" = 3, "止" = 3
	pieces := []string{string(b[:2]), string(b[2:7]), string(b[7:10]), string(b[10:])}
	m := NewStopMatcher([]string{stop})
	var out strings.Builder
	stopped := false
	for _, p := range pieces {
		e, st := m.Push(p)
		if !utf8.ValidString(e) {
			t.Fatalf("emitted invalid UTF-8 %q", e)
		}
		out.WriteString(e)
		stopped = st
	}
	if !stopped || out.String() != "好的" {
		t.Fatalf("got %q stopped=%v, want 好的 stopped", out.String(), stopped)
	}
	if _, cut := m.Matched(); cut != "停止了" {
		t.Fatalf("cut %q", cut)
	}
	// half a rune is held even with no stop strings
	runStops(t, nil, []step{{"caf\xc3", "caf"}, {"\xa9!", "é!"}}, false, "", "", "")
}

// Property: for random texts and random piece boundaries, the emitted text is exactly the text before the
// earliest stop, and nothing is emitted that later turns out to be part of a stop.
func TestStopRandomSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	alphabet := []string{"a", "b", "<", "/", "s", ">", "é", "停", "\n"}
	stops := []string{"</s>", "ab<", "停\n", "ss"}
	for trial := 0; trial < 3000; trial++ {
		var sb strings.Builder
		for i := 0; i < r.IntN(30); i++ {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		text := sb.String()
		want, wantStopped := text, false
		best := -1
		for _, s := range stops {
			if i := strings.Index(text, s); i >= 0 && (best < 0 || i < best) {
				best = i
			}
		}
		if best >= 0 {
			want, wantStopped = text[:best], true
		}
		m := NewStopMatcher(stops)
		var out strings.Builder
		stopped := false
		for pos := 0; pos < len(text) && !stopped; {
			n := 1 + r.IntN(4)
			end := min(pos+n, len(text))
			e, st := m.Push(text[pos:end])
			out.WriteString(e)
			if !strings.HasPrefix(want, out.String()) {
				t.Fatalf("text %q: emitted %q beyond %q", text, out.String(), want)
			}
			stopped = st
			pos = end
		}
		out.WriteString(m.Flush())
		if out.String() != want || stopped != wantStopped {
			t.Fatalf("text %q: got %q stopped=%v, want %q stopped=%v", text, out.String(), stopped, want, wantStopped)
		}
	}
}
