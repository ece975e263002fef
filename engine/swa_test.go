package engine

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// swaTestRows is the compact cache length the tests force on tiny-gemma3
// (window 4, prefill buckets 4 and 16): each move keeps 28-16 = 12 rows, so
// a session moves its sliding-window rows every 16 or so positions and a
// rewind of up to 12-3 = 9 tokens always succeeds.
const swaTestRows = 28

// swaPair loads tiny-gemma3 (layers 0-4 sliding with window 4, layer 5
// global) twice: with compact sliding-window caches of swaTestRows rows and
// with the full layout.
func swaPair(t *testing.T, backend, kv string) (compact, full *Model) {
	t.Helper()
	f := synthModel(t, "tiny-gemma3")
	opt := Options{Backend: backend, KVType: kv, Buckets: []int{4, 16}, swaRows: swaTestRows}
	compact, err := Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.NoCompactSWA = true
	if full, err = Load(f, opt); err != nil {
		t.Fatal(err)
	}
	if compact.Ctx != 256 {
		t.Fatalf("context %d, want tiny-gemma3's 256", compact.Ctx)
	}
	n := 0
	for v, sw := range compact.swa {
		if sw > 0 {
			n++
			if w := compact.Hyper.Caches[v].Window; w != 4 || sw != swaTestRows {
				t.Fatalf("view %d: window %d, %d rows; want 4 and %d", v, w, sw, swaTestRows)
			}
		}
		if full.swa[v] != 0 {
			t.Fatalf("NoCompactSWA left view %d compact", v)
		}
	}
	if n != 1 {
		t.Fatalf("%d compact views (caches %+v), want 1", n, compact.Hyper.Caches)
	}
	return compact, full
}

// swaTokens is a deterministic token sequence (ordinary ids of the gemma
// vocabulary).
func swaTokens(n, seed int) []int32 {
	out := make([]int32, n)
	x := uint32(seed*7919 + 1)
	for i := range out {
		x = x*1664525 + 1013904223
		out[i] = int32(300 + x>>16%4000)
	}
	return out
}

// sameLogits fails unless a and b agree: bit for bit when tol is 0, else
// within tol. It returns the largest difference.
func sameLogits(t *testing.T, what string, a, b []float32, tol float64) float64 {
	t.Helper()
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if tol == 0 && math.Float32bits(a[i]) != math.Float32bits(b[i]) || d > tol || math.IsNaN(d) {
			t.Fatalf("%s: logit %d: compact %v, full %v (tolerance %g)", what, i, a[i], b[i], tol)
		}
		worst = max(worst, d)
	}
	return worst
}

// swaBase is the compact view's base of s.
func swaBase(s *Session) int {
	for v, sw := range s.m.swa {
		if sw > 0 {
			return s.base[v]
		}
	}
	return 0
}

// The compact layout computes what the full one does: a 150-token prompt
// fed in steps of several sizes (prefill buckets 16 and 4, single tokens)
// and 90 greedy decode steps, past many moves of the sliding-window rows,
// give the full layout's logits bit for bit with an f32 cache on dayi's
// backend and on simplego, and with q8_0 and q4_0 caches (their attention
// adds in key order, whatever the rows). With the default f16 cache they
// agree within 5e-3, not bit for bit (seen: 1.6e-3 after 240 positions,
// 5e-5 after the first 48, on logits of a few units): dayi's f16 attention
// follows ggml's f16 dot orders, which depend on a key's row in the buffer
// and on the buffer length (lanes j%16 or j%64, ggmlNKV's padding;
// kernels/attention.go), so scores differ in the last bits; the
// probabilities are rounded to f16, which turns such a difference into an
// f16 ulp now and then, and gemma's GELU reads an f16-indexed table, which
// does the same downstream (the reason TestSynthGemma2 allows 1e-3 against
// llama.cpp, whose own SWA cache places rows by ring position too).
func TestCompactSWAMatchesFull(t *testing.T) {
	long := []int{37, 1, 22, 3, 16, 50, 2, 19}
	for _, c := range []struct {
		backend, kv string
		tol         float64
		steps       []int // prompt steps
		decode      int   // then greedy decode steps
	}{
		{"dayi", "f32", 0, long, 90},
		{"go", "f32", 0, long[:3], 20}, // simplego is slow: 80 positions
		{"dayi", "f16", 5e-3, long, 90},
		{"dayi", "q8_0", 0, long, 90}, // flash-attention numerics: in key order
		{"dayi", "q4_0", 0, long[:4], 30},
	} {
		t.Run(c.backend+"/"+c.kv, func(t *testing.T) {
			compact, full := swaPair(t, c.backend, c.kv)
			ctx := context.Background()
			sc, err := compact.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			sf, err := full.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sf.Close()
			prompt := swaTokens(256, 1)
			moves, base := 0, 0
			worst := 0.0
			eval := func(what string, ids []int32) []float32 {
				t.Helper()
				a, err := sc.Eval(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				b, err := sf.Eval(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				worst = max(worst, sameLogits(t, what, a, b, c.tol))
				if b := swaBase(sc); b != base {
					moves, base = moves+1, b
				}
				return a
			}
			var logits []float32
			off := 0
			for _, n := range c.steps {
				logits = eval("prompt step", prompt[off:off+n])
				off += n
			}
			for range c.decode {
				logits = eval("decode step", []int32{argmaxF32(logits)})
			}
			end := off + c.decode
			if sc.Pos() != end || sf.Pos() != end {
				t.Fatalf("positions %d and %d, want %d", sc.Pos(), sf.Pos(), end)
			}
			if moves < end/25 || base < end-swaTestRows {
				t.Fatalf("the compact cache moved %d times (base %d): the test did not exercise it", moves, base)
			}
			t.Logf("%d moves, largest logit difference %.3g", moves, worst)
		})
	}
}

// Batched decode over sessions at different positions, each moving its own
// compact rows at its own times, matches the full layout bit for bit.
func TestCompactSWADecodeBatch(t *testing.T) {
	compact, full := swaPair(t, "dayi", "f32")
	ctx := context.Background()
	lens := []int{20, 61, 150}
	var sc, sf []*Session
	var next []int32
	for i, n := range lens {
		a, err := compact.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := full.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ids := swaTokens(n, 10+i)
		la, err := a.Eval(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := b.Eval(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		sameLogits(t, "prefill", la, lb, 0)
		sc, sf, next = append(sc, a), append(sf, b), append(next, argmaxF32(la))
	}
	var scA, scB StepScratch
	moved := make([]bool, len(lens))
	for step := range 40 {
		b0 := make([]int, len(sc))
		for i, s := range sc {
			b0[i] = swaBase(s)
		}
		if err := compact.DecodeBatch(ctx, sc, next, &scA); err != nil {
			t.Fatal(err)
		}
		if err := full.DecodeBatch(ctx, sf, next, &scB); err != nil {
			t.Fatal(err)
		}
		for i := range sc {
			sameLogits(t, "batched decode", sc[i].Logits(), sf[i].Logits(), 0)
			next[i] = argmaxF32(sc[i].Logits())
			moved[i] = moved[i] || swaBase(sc[i]) != b0[i]
		}
		_ = step
	}
	for i, m := range moved {
		if !m {
			t.Fatalf("session %d never moved its compact rows", i)
		}
	}
}

// Truncate after moves: a rewind within the kept rows continues exactly as
// the full layout does; one past them fails with ErrRewind and changes
// nothing.
func TestCompactSWATruncate(t *testing.T) {
	compact, full := swaPair(t, "dayi", "f32")
	ctx := context.Background()
	sc, _ := compact.NewSession()
	defer sc.Close()
	sf, _ := full.NewSession()
	defer sf.Close()
	ids := swaTokens(130, 3)
	if _, err := sc.Eval(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.Eval(ctx, ids); err != nil {
		t.Fatal(err)
	}
	// Decode a few tokens one at a time: a move kept 12 rows.
	la, _ := sc.Logits(), sf.Logits()
	for range 5 {
		id := argmaxF32(la)
		var err error
		if la, err = sc.Eval(ctx, []int32{id}); err != nil {
			t.Fatal(err)
		}
		if _, err := sf.Eval(ctx, []int32{id}); err != nil {
			t.Fatal(err)
		}
	}
	if swaBase(sc) == 0 {
		t.Fatal("no move before the rewind")
	}
	pos := sc.Pos()
	// Every rewind of up to Sw - Tmax - (W-1) = 9 tokens succeeds.
	for n := pos - 9; n <= pos; n++ {
		if !sc.canRewind(n) {
			t.Fatalf("cannot rewind %d to %d (base %d)", pos, n, swaBase(sc))
		}
	}
	far := swaBase(sc) + 3 - 1 // a query there would need the row before base
	err := sc.Truncate(far)
	if !errors.Is(err, ErrRewind) {
		t.Fatalf("Truncate(%d) with base %d: %v, want ErrRewind", far, swaBase(sc), err)
	}
	if sc.Pos() != pos {
		t.Fatalf("a failed Truncate moved the session from %d to %d", pos, sc.Pos())
	}
	n := pos - 7
	if err := sc.Truncate(n); err != nil {
		t.Fatal(err)
	}
	if err := sf.Truncate(n); err != nil {
		t.Fatal(err)
	}
	next := swaTokens(30, 4)
	for i, id := range next {
		a, err := sc.Eval(ctx, []int32{id})
		if err != nil {
			t.Fatal(err)
		}
		b, err := sf.Eval(ctx, []int32{id})
		if err != nil {
			t.Fatal(err)
		}
		sameLogits(t, "after the rewind", a, b, 0)
		_ = i
	}
	// A rewind to the start always works: nothing before it is needed.
	if err := sc.Truncate(0); err != nil {
		t.Fatal(err)
	}
}

// The prefix cache stores a compact view's rows with their base: a prefix
// they cover restores and continues bit for bit as with the full layout; a
// shorter one, whose window the entry no longer holds, is not restored.
func TestCompactSWAPrefixCache(t *testing.T) {
	compact, full := swaPair(t, "dayi", "f32")
	ctx := context.Background()
	toks := swaTokens(150, 5)
	for _, m := range []*Model{compact, full} {
		s, _ := m.NewSession()
		if _, err := s.Eval(ctx, toks); err != nil {
			t.Fatal(err)
		}
		if err := m.prefix.store(s, "", toks); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	e := compact.prefix.entries[0]
	base := 0
	for v, sw := range compact.swa {
		if sw > 0 {
			base = e.base[v]
		}
	}
	if base == 0 {
		t.Fatal("the stored session never moved its compact rows")
	}
	if cb, fb := compact.PrefixCacheStats().Bytes, full.PrefixCacheStats().Bytes; cb >= fb {
		t.Fatalf("compact entry %d bytes, full %d: want smaller", cb, fb)
	}
	tail := swaTokens(40, 6)
	k := base + 3 + 2 // the entry holds the window of a query at k
	ids := append(append([]int32(nil), toks[:k]...), tail...)
	sc, _ := compact.NewSession()
	defer sc.Close()
	sf, _ := full.NewSession()
	defer sf.Close()
	for _, s := range []*Session{sc, sf} {
		n, err := s.m.prefix.restore(s, "", ids)
		if err != nil {
			t.Fatal(err)
		}
		if n != k {
			t.Fatalf("restored %d tokens, want %d", n, k)
		}
	}
	a, err := compact.evalTailLogits(ctx, sc, ids[k:])
	if err != nil {
		t.Fatal(err)
	}
	b, err := full.evalTailLogits(ctx, sf, ids[k:])
	if err != nil {
		t.Fatal(err)
	}
	sameLogits(t, "after a prefix cache hit", a, b, 0)

	// A prefix ending before the entry's base + W - 1 is not served.
	short := append(append([]int32(nil), toks[:base+1]...), tail...)
	s3, _ := compact.NewSession()
	defer s3.Close()
	if n, err := compact.prefix.restore(s3, "", short); err != nil || n != 0 {
		t.Fatalf("restored %d tokens (%v) of a prefix the entry does not cover", n, err)
	}
	s4, _ := full.NewSession()
	defer s4.Close()
	if n, err := full.prefix.restore(s4, "", short); err != nil || n != base+1 {
		t.Fatalf("full layout restored %d tokens (%v), want %d", n, err, base+1)
	}
}

// evalTailLogits evaluates ids in s as a request after a cache hit does and
// returns a copy of the last logits.
func (m *Model) evalTailLogits(ctx context.Context, s *Session, ids []int32) ([]float32, error) {
	if err := m.evalTail(ctx, s, ids, true); err != nil {
		return nil, err
	}
	return append([]float32(nil), s.Logits()...), nil
}

// A context shift keeps the compact rows the shifted window needs: the
// decode after it matches the full layout's shift bit for bit with an f32
// cache (both re-rotate the same rows the same way; f16: within
// TestCompactSWAMatchesFull's tolerance). A shift that would need
// rows the compact cache dropped fails and changes nothing.
func TestCompactSWAShift(t *testing.T) {
	for _, c := range []struct {
		kv  string
		tol float64
	}{{"f32", 0}, {"f16", 5e-3}} {
		t.Run(c.kv, func(t *testing.T) {
			compact, full := swaPair(t, "dayi", c.kv)
			ctx := context.Background()
			sc, _ := compact.NewSession()
			defer sc.Close()
			sf, _ := full.NewSession()
			defer sf.Close()
			ids := swaTokens(250, 7)
			if _, err := sc.Eval(ctx, ids); err != nil {
				t.Fatal(err)
			}
			if _, err := sf.Eval(ctx, ids); err != nil {
				t.Fatal(err)
			}
			base := swaBase(sc)
			// Would need the rows of positions 4..5, long dropped.
			if err := sc.Shift(4, 244); err == nil {
				t.Fatal("a shift past the compact rows succeeded")
			}
			if sc.Pos() != 250 || swaBase(sc) != base {
				t.Fatalf("a failed shift changed the session: pos %d base %d", sc.Pos(), swaBase(sc))
			}
			// A generation's shift: keep 4, drop half of the rest.
			for _, s := range []*Session{sc, sf} {
				if err := s.Shift(4, 123); err != nil {
					t.Fatal(err)
				}
			}
			if sc.Pos() != 127 || swaBase(sc) != base-123 {
				t.Fatalf("after the shift: pos %d base %d, want 127 and %d", sc.Pos(), swaBase(sc), base-123)
			}
			id := ids[len(ids)-1]
			worst := 0.0
			defer func() { t.Logf("largest logit difference %.3g", worst) }()
			for range 60 {
				a, err := sc.Eval(ctx, []int32{id})
				if err != nil {
					t.Fatal(err)
				}
				b, err := sf.Eval(ctx, []int32{id})
				if err != nil {
					t.Fatal(err)
				}
				worst = max(worst, sameLogits(t, "after a context shift", a, b, c.tol))
				id = argmaxF32(a)
			}
		})
	}
}

// KVBytes, and EstimateFootprint with it, count the compact caches: five
// sliding layers of tiny-gemma3 hold 28 rows instead of 256.
func TestCompactSWAKVBytes(t *testing.T) {
	compact, full := swaPair(t, "dayi", "f32")
	h := compact.Hyper
	var want int64
	sliding := 0
	for l := range h.Layers {
		if compact.swa[h.Kinds[l].Cache] > 0 {
			sliding++
			want += 2 * int64(compact.kvRowBytes(l)) * int64(compact.Ctx-swaTestRows)
		}
	}
	if sliding != 5 {
		t.Fatalf("%d sliding layers, want 5", sliding)
	}
	if d := full.KVBytes() - compact.KVBytes(); d != want || d <= 0 {
		t.Fatalf("KVBytes: full %d, compact %d: saved %d, want %d", full.KVBytes(), compact.KVBytes(), d, want)
	}
	f := synthModel(t, "tiny-gemma3")
	for _, m := range []*Model{compact, full} {
		opt := Options{Backend: "dayi", KVType: "f32", Buckets: []int{4, 16}, swaRows: swaTestRows, NoCompactSWA: m == full}
		fp, err := EstimateFootprint(f, opt)
		if err != nil {
			t.Fatal(err)
		}
		if fp.KV != m.KVBytes() {
			t.Fatalf("EstimateFootprint KV %d, KVBytes %d", fp.KV, m.KVBytes())
		}
	}
}

// When the layout is compact, and how long: Gemma 3's window of 1024 with
// the default buckets gets 1344 rows; a context under 4 windows, or one the
// compact cache would not be shorter than, keeps the full layout.
func TestCompactSWARows(t *testing.T) {
	if n := compactRows(1024, 256); n != 1344 {
		t.Fatalf("compactRows(1024, 256) = %d, want 1344", n)
	}
	f := synthModel(t, "tiny-gemma3")
	m, err := Load(f, Options{Backend: "dayi", Buckets: []int{4, 16}, ContextLength: 15})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ctx     int
		buckets []int
		shared  bool
		want    int
	}{
		{256, []int{4, 16}, true, 192},        // 3 + 64 + 65 rounded to 64
		{256, []int{4, 16, 64, 256}, true, 0}, // 3 + 64 + 256 → 384 ≥ 256
		{512, []int{4, 16, 64, 256}, true, 384},
		{15, []int{4}, true, 0}, // under 4 windows
		{256, []int{4, 16}, false, 0},
	} {
		rows, _ := compactSWA(m.Hyper, c.ctx, c.buckets, c.shared, Options{})
		got := 0
		for _, r := range rows {
			got = max(got, r)
		}
		if got != c.want {
			t.Errorf("ctx %d buckets %v shared %v: %d rows, want %d", c.ctx, c.buckets, c.shared, got, c.want)
		}
	}
}

// Generations with context shifts, plain and speculative (a draft model
// with compact caches of its own, whose session must start over when a
// shift changes the history it holds: Truncate's ErrRewind), give the
// greedy tokens of plain decoding with the full layout.
func TestCompactSWAGenerate(t *testing.T) {
	mk := func(compact bool) *LM {
		opt := Options{Backend: "dayi", KVType: "f32", ContextLength: 64, Buckets: []int{4, 16},
			PrefixCacheBytes: -1, swaRows: swaTestRows, NoCompactSWA: !compact}
		m, err := Load(synthModel(t, "tiny-gemma3"), opt)
		if err != nil {
			t.Fatal(err)
		}
		if compact != (m.KVBytes() < int64(m.Ctx)*int64(2*m.Hyper.Layers*m.kvRowBytes(0))) {
			t.Fatalf("compact %v: KVBytes %d", compact, m.KVBytes())
		}
		lm, err := NewLM(m)
		if err != nil {
			t.Fatal(err)
		}
		return lm
	}
	req := func() *Request {
		return &Request{Prompt: "Once upon a time", MaxTokens: 150, Shift: true, NumKeep: 4}
	}
	want := generate(t, mk(false), req())
	if want.Shifts < 2 {
		t.Fatalf("%d context shifts: the test needs several", want.Shifts)
	}
	for _, sp := range []*Speculation{nil, {NGram: true}, {Draft: mk(true), DraftMax: 4, PMin: -1}} {
		lm := mk(true)
		if sp != nil {
			if err := lm.SetSpeculation(*sp); err != nil {
				t.Fatal(err)
			}
		}
		got := generate(t, lm, req())
		if got.Shifts != want.Shifts || !slices.Equal(got.Tokens, want.Tokens) {
			t.Fatalf("speculation %+v: %d shifts, tokens %v\nfull layout: %d shifts, tokens %v", sp, got.Shifts, got.Tokens, want.Shifts, want.Tokens)
		}
		if sp != nil && sp.Draft != nil && got.DraftAccepted == 0 {
			t.Fatalf("draft: drafted %d accepted %d", got.Drafted, got.DraftAccepted)
		}
	}
}

// Embedding steps (an image's soft tokens, seeing each other both ways
// within the window) in a compact cache match the full layout bit for bit,
// also one longer than the largest bucket (20 rows: the move keeps 28-20
// rows); one longer than Sw - (W-1) = 25 rows is refused.
func TestCompactSWAEmbeddings(t *testing.T) {
	compact, full := swaPair(t, "dayi", "f32")
	ctx := context.Background()
	dim := compact.Hyper.Dim
	embd := func(n int) []float32 {
		out := make([]float32, n*dim)
		for i := range out {
			out[i] = float32(math.Sin(float64(i)*0.37)) * 0.5
		}
		return out
	}
	sc, _ := compact.NewSession()
	defer sc.Close()
	sf, _ := full.NewSession()
	defer sf.Close()
	ids := swaTokens(40, 9)
	for _, s := range []*Session{sc, sf} {
		if _, err := s.Eval(ctx, ids); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{12, 20} {
		base := swaBase(sc)
		a, err := sc.EvalEmbeddings(ctx, embd(n), true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sf.EvalEmbeddings(ctx, embd(n), true)
		if err != nil {
			t.Fatal(err)
		}
		sameLogits(t, "embeddings step", a, b, 0)
		if swaBase(sc) == base {
			t.Fatalf("%d embeddings: no move", n)
		}
		id := argmaxF32(a)
		for range 10 {
			a, err := sc.Eval(ctx, []int32{id})
			if err != nil {
				t.Fatal(err)
			}
			b, err := sf.Eval(ctx, []int32{id})
			if err != nil {
				t.Fatal(err)
			}
			sameLogits(t, "after embeddings", a, b, 0)
			id = argmaxF32(a)
		}
	}
	if _, err := sc.EvalEmbeddings(ctx, embd(26), true); err == nil {
		t.Fatal("a 26-row step ran in a 28-row cache with window 4")
	}
	if _, err := sf.EvalEmbeddings(ctx, embd(26), true); err != nil {
		t.Fatal(err)
	}
}
