package tokenizer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf8"
)

// TestStreamHoldsBackPartialUTF8 streams byte-fallback tokens: stories260K
// has no Chinese or emoji tokens, so each character arrives as 3-4 <0xNN>
// tokens and must come out whole.
func TestStreamHoldsBackPartialUTF8(t *testing.T) {
	tok := embeddedTokenizer(t)
	text := "头痛 🦙!"
	ids := tok.Encode(text, true, false)
	st := tok.NewStream()
	var got string
	held := 0
	for _, id := range ids {
		out := st.Add(id)
		if !utf8.ValidString(out) {
			t.Fatalf("Add(%d) = %q: invalid UTF-8", id, out)
		}
		if out == "" && tok.Type(id) == TypeByte {
			held++
		}
		got += out
	}
	got += st.Flush()
	if got != " "+text {
		t.Errorf("stream = %q, want %q", got, " "+text)
	}
	if held < 6 {
		t.Errorf("only %d byte tokens were held back; the text needs at least 6", held)
	}
	// A character cut off at the end becomes U+FFFD on Flush.
	st = tok.NewStream()
	cut := st.Add(tok.byteTok[0xE5]) + st.Add(tok.byteTok[0xA4])
	if cut != "" {
		t.Errorf("partial character emitted early: %q", cut)
	}
	if f := st.Flush(); f != "\uFFFD" {
		t.Errorf("Flush of a partial character = %q, want U+FFFD", f)
	}
	// An invalid byte does not block what follows.
	st = tok.NewStream()
	if out := st.Add(tok.byteTok[0xFF]) + st.Add(tok.byteTok['a']); out != "\uFFFDa" {
		t.Errorf("stream of 0xFF, 'a' = %q", out)
	}
}

// TestMergeQueueOrder checks the heap against sorting.
func TestMergeQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 5, 17, 1000} {
		var q mergeQueue
		var want []uint64
		for i := 0; i < n; i++ {
			k := uint64(r.IntN(50))<<32 | uint64(r.IntN(1000))
			want = append(want, k)
			if i%2 == 0 {
				q.push(k)
			} else {
				q = append(q, k)
				q.init()
			}
		}
		slices.Sort(want)
		for i, w := range want {
			if got := q.pop(); got != w {
				t.Fatalf("n=%d: pop %d = %x, want %x", n, i, got, w)
			}
		}
		if len(q) != 0 {
			t.Fatalf("n=%d: %d left", n, len(q))
		}
	}
}

// TestSPMPriorityOrder checks that higher scores sort first.
func TestSPMPriorityOrder(t *testing.T) {
	scores := []float32{-1e9, -3.5, -1, -0.0, 0, 1e-6, 2, 1e9}
	for i := 1; i < len(scores); i++ {
		if spmPriority(scores[i]) > spmPriority(scores[i-1]) {
			t.Errorf("score %g sorts after %g", scores[i], scores[i-1])
		}
	}
	if negZero := float32(math.Copysign(0, -1)); spmPriority(negZero) != spmPriority(0) {
		t.Errorf("-0 and +0 must tie")
	}
}

// TestTokenBytes checks TokenBytes against Piece and the control rule.
func TestTokenBytes(t *testing.T) {
	tok := embeddedTokenizer(t)
	for id := int32(0); id < int32(tok.NumTokens()); id++ {
		want := tok.Piece(id)
		if tok.IsControl(id) {
			want = ""
		}
		if got := string(tok.TokenBytes(id)); got != want {
			t.Fatalf("TokenBytes(%d) = %q, want %q", id, got, want)
		}
	}
	if b := tok.TokenBytes(1); len(b) != 0 {
		t.Errorf("BOS adds %q to the text", b)
	}
	if got := string(tok.TokenBytes(403)); got != " Once" {
		t.Errorf("TokenBytes(403) = %q, want \" Once\"", got)
	}
	if tok.TokenBytes(-1) != nil || tok.TokenBytes(int32(tok.NumTokens())) != nil {
		t.Errorf("out-of-range ids must give nil")
	}
}
