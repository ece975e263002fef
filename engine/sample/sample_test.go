package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// softmax64 is the textbook softmax in float64, the analytic reference the tests compare against.
func softmax64(l []float64) []float64 {
	m := math.Inf(-1)
	for _, x := range l {
		m = math.Max(m, x)
	}
	out := make([]float64, len(l))
	var s float64
	for i, x := range l {
		out[i] = math.Exp(x - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// finalProbs runs the chain without drawing and returns id → probability of being drawn.
func finalProbs(s *Sampler, logits []float32, mask []bool) map[int32]float64 {
	c := s.chain(s.adjusted(logits, mask), mask)
	l := make([]float64, len(c))
	for i, x := range c {
		l[i] = float64(x.logit)
	}
	p := softmax64(l)
	out := map[int32]float64{}
	for i, x := range c {
		out[x.id] = p[i]
	}
	return out
}

func randLogits(r *rand.Rand, n int, scale float64) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * scale)
	}
	return l
}

func noTrunc(temp float32) Options { return Options{Temperature: temp, TopP: 1, Seed: 1} }

func TestGreedyLowestIDOnTies(t *testing.T) {
	s := New(Options{Temperature: 0})
	logits := []float32{1, 3, 2, 3, 3}
	if got := s.Sample(logits, nil); got != 1 {
		t.Fatalf("greedy = %d, want 1 (first of the tied maxima)", got)
	}
	if got := s.Sample(logits, []bool{true, false, true, true, true}); got != 3 {
		t.Fatalf("greedy with id 1 masked = %d, want 3", got)
	}
	if got := s.Sample(logits, make([]bool, 5)); got != NoToken {
		t.Fatalf("all masked = %d, want NoToken", got)
	}
	if got := s.Sample(nil, nil); got != NoToken {
		t.Fatalf("empty logits = %d, want NoToken", got)
	}
	// negative temperature is greedy too
	if got := New(Options{Temperature: -1}).Sample([]float32{-5, -2, -2}, nil); got != 1 {
		t.Fatalf("greedy negative logits = %d, want 1", got)
	}
}

func TestTemperatureScaling(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, temp := range []float32{0.25, 0.7, 1, 1.8} {
		logits := randLogits(r, 50, 2)
		got := finalProbs(New(noTrunc(temp)), logits, nil)
		l := make([]float64, len(logits))
		for i, x := range logits {
			l[i] = float64(x) / float64(temp)
		}
		want := softmax64(l)
		if len(got) != len(want) {
			t.Fatalf("temp %v: %d candidates, want all %d", temp, len(got), len(want))
		}
		for i, w := range want {
			if d := math.Abs(got[int32(i)] - w); d > 1e-6 {
				t.Fatalf("temp %v id %d: p = %v, want %v", temp, i, got[int32(i)], w)
			}
		}
	}
}

func TestTopK(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		logits := randLogits(r, 2000, 3)
		k := 1 + r.IntN(60)
		got := finalProbs(New(Options{Temperature: 1, TopK: k, TopP: 1}), logits, nil)
		idx := make([]int, len(logits))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
		if len(got) != k {
			t.Fatalf("top-k %d kept %d", k, len(got))
		}
		var l []float64
		for _, i := range idx[:k] {
			l = append(l, float64(logits[i]))
		}
		want := softmax64(l)
		for j, i := range idx[:k] {
			if math.Abs(got[int32(i)]-want[j]) > 1e-6 {
				t.Fatalf("top-k %d id %d: p %v want %v", k, i, got[int32(i)], want[j])
			}
		}
	}
}

// topPSet is the analytic nucleus: the smallest most-probable prefix whose mass reaches p.
func topPSet(logits []float32, p float64) (set map[int]bool, margin float64) {
	l := make([]float64, len(logits))
	for i, x := range logits {
		l[i] = float64(x)
	}
	pr := softmax64(l)
	idx := make([]int, len(l))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return pr[idx[a]] > pr[idx[b]] })
	set = map[int]bool{}
	cum := 0.0
	margin = math.Inf(1)
	for _, i := range idx {
		prev := cum
		cum += pr[i]
		set[i] = true
		margin = math.Min(margin, math.Abs(prev-p))
		if cum >= p {
			margin = math.Min(margin, cum-p)
			break
		}
	}
	return set, margin
}

func TestTopPSetMembership(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	checked := 0
	for trial := 0; trial < 200; trial++ {
		n := []int{20, 300, 5000}[trial%3] // 5000 exercises the partial-sort path
		logits := randLogits(r, n, 1+r.Float64()*3)
		p := 0.3 + 0.65*r.Float64()
		want, margin := topPSet(logits, p)
		if margin < 1e-4 {
			continue // float32 accumulation could legitimately flip a borderline token
		}
		checked++
		got := finalProbs(New(Options{Temperature: 1, TopP: float32(p)}), logits, nil)
		if len(got) != len(want) {
			t.Fatalf("trial %d n=%d p=%v: kept %d, want %d", trial, n, p, len(got), len(want))
		}
		var mass float64
		l := make([]float64, n)
		for i, x := range logits {
			l[i] = float64(x)
		}
		pr := softmax64(l)
		for id := range got {
			if !want[int(id)] {
				t.Fatalf("trial %d: id %d kept but not in the nucleus", trial, id)
			}
			mass += pr[id]
		}
		for id := range got {
			if math.Abs(got[id]-pr[id]/mass) > 1e-5 {
				t.Fatalf("trial %d id %d: renormalised p %v want %v", trial, id, got[id], pr[id]/mass)
			}
		}
	}
	if checked < 150 {
		t.Fatalf("only %d trials away from the borderline", checked)
	}
}

func TestTopPMinKeep(t *testing.T) {
	logits := []float32{10, 0, 0, 0}
	got := finalProbs(New(Options{Temperature: 1, TopP: 0.5, MinKeep: 3}), logits, nil)
	if len(got) != 3 {
		t.Fatalf("min_keep 3 kept %d", len(got))
	}
}

func TestMinPThreshold(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		logits := randLogits(r, 500, 2)
		mp := 0.01 + 0.5*r.Float64()
		l := make([]float64, len(logits))
		for i, x := range logits {
			l[i] = float64(x)
		}
		pr := softmax64(l)
		pmax := slices.Max(pr)
		want := map[int]bool{}
		border := false
		for i, p := range pr {
			if p >= mp*pmax {
				want[i] = true
			}
			if math.Abs(p/pmax-mp) < 1e-5 {
				border = true
			}
		}
		if border {
			continue
		}
		got := finalProbs(New(Options{Temperature: 1, TopP: 1, MinP: float32(mp)}), logits, nil)
		if len(got) != len(want) {
			t.Fatalf("min-p %v kept %d want %d", mp, len(got), len(want))
		}
		for id := range got {
			if !want[int(id)] {
				t.Fatalf("min-p %v kept id %d with p/pmax %v", mp, id, pr[id]/pmax)
			}
		}
	}
}

// Temperature comes after the truncation samplers (llama.cpp's order): the set is decided on the untempered
// distribution, the probabilities inside it are tempered.
func TestChainOrder(t *testing.T) {
	logits := []float32{3, 2, 1, 0, -1}
	// untempered softmax mass of {0,1} = 0.6364+0.2341 = 0.8705 >= 0.85; tempered by T=2 first, it would need
	// 4 tokens (0.4287+0.2600+0.1578 = 0.8465 < 0.85).
	got := finalProbs(New(Options{Temperature: 2, TopP: 0.85}), logits, nil)
	if len(got) != 2 {
		t.Fatalf("kept %d, want 2 (top-p before temperature)", len(got))
	}
	want := softmax64([]float64{1.5, 1})
	if math.Abs(got[0]-want[0]) > 1e-6 || math.Abs(got[1]-want[1]) > 1e-6 {
		t.Fatalf("tempered p = %v, want %v", got, want)
	}
}

func TestTypical(t *testing.T) {
	logits := []float32{2, 1.5, 1, 0, -2, -3}
	tp := 0.6
	l := make([]float64, len(logits))
	for i, x := range logits {
		l[i] = float64(x)
	}
	pr := softmax64(l)
	var h float64
	for _, p := range pr {
		h -= p * math.Log(p)
	}
	idx := []int{0, 1, 2, 3, 4, 5}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(-math.Log(pr[idx[a]])-h) < math.Abs(-math.Log(pr[idx[b]])-h) })
	want := map[int]bool{}
	cum := 0.0
	for _, i := range idx {
		cum += pr[i]
		want[i] = true
		if cum > tp {
			break
		}
	}
	got := finalProbs(New(Options{Temperature: 1, TopP: 1, TypicalP: float32(tp)}), logits, nil)
	if len(got) != len(want) {
		t.Fatalf("typical kept %v, want %v", got, want)
	}
	for id := range got {
		if !want[int(id)] {
			t.Fatalf("typical kept %d, want set %v", id, want)
		}
	}
}

func TestPenaltiesExactValues(t *testing.T) {
	opt := Options{Temperature: 1, TopP: 1, RepeatPenalty: 1.5, FrequencyPenalty: 0.1, PresencePenalty: 0.2,
		RepeatLastN: 64, LogitBias: map[int32]float32{4: -0.5}}
	s := New(opt)
	for _, id := range []int32{0, 1, 1, 3, 3, 3} {
		s.Accept(id)
	}
	logits := []float32{2, -1, 0.5, 3, 1}
	got := s.adjusted(logits, nil)
	// llama_sampler_penalties_apply: positive logits are divided, non-positive multiplied, then
	// count*freq + presence is subtracted.
	want := []float64{2/1.5 - (1*0.1 + 0.2), -1*1.5 - (2*0.1 + 0.2), 0.5, 3/1.5 - (3*0.1 + 0.2), 1 - 0.5}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Fatalf("id %d: %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
	if logits[0] != 2 || logits[4] != 1 {
		t.Fatalf("caller's logits were modified: %v", logits)
	}

	// window of 2: only the last two accepted tokens (3, 3) count
	s = New(Options{Temperature: 1, RepeatPenalty: 2, RepeatLastN: 2})
	for _, id := range []int32{0, 1, 1, 3, 3} {
		s.Accept(id)
	}
	got = s.adjusted([]float32{2, 2, 2, 2}, nil)
	if !slices.Equal(got, []float32{2, 2, 2, 1}) {
		t.Fatalf("window 2: %v, want [2 2 2 1]", got)
	}
	s.Accept(2) // window is now (3, 2)
	got = s.adjusted([]float32{2, 2, 2, 2}, nil)
	if !slices.Equal(got, []float32{2, 2, 1, 1}) {
		t.Fatalf("window slide: %v, want [2 2 1 1]", got)
	}
	s.Reset()
	got = s.adjusted([]float32{2, 2, 2, 2}, nil)
	if !slices.Equal(got, []float32{2, 2, 2, 2}) {
		t.Fatalf("after reset: %v", got)
	}
}

func TestPenaltyChangesGreedy(t *testing.T) {
	s := New(Options{RepeatPenalty: 2, RepeatLastN: 8})
	s.Accept(0)
	if got := s.Sample([]float32{3, 2}, nil); got != 1 {
		t.Fatalf("greedy with repeat penalty = %d, want 1", got)
	}
	s = New(Options{LogitBias: map[int32]float32{1: 5}})
	if got := s.Sample([]float32{3, 2}, nil); got != 1 {
		t.Fatalf("greedy with logit bias = %d, want 1", got)
	}
}

func TestDeterminismPerSeed(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	steps := make([][]float32, 200)
	for i := range steps {
		steps[i] = randLogits(r, 1000, 1.5)
	}
	run := func(seed int64) []int32 {
		opt := DefaultOptions()
		opt.Seed = seed
		opt.RepeatPenalty = 1.1
		s := New(opt)
		var out []int32
		for _, l := range steps {
			id := s.Sample(l, nil)
			s.Accept(id)
			out = append(out, id)
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different tokens")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same 200 tokens")
	}
}

// The draw follows the final distribution: frequencies within 5 standard errors of softmax(l/T).
func TestDistFrequencies(t *testing.T) {
	logits := []float32{1, 0.5, 0, -1, -3}
	temp := float32(0.9)
	s := New(Options{Temperature: temp, TopP: 1, Seed: 11})
	const n = 50000
	counts := make([]int, len(logits))
	for i := 0; i < n; i++ {
		counts[s.Sample(logits, nil)]++
	}
	l := make([]float64, len(logits))
	for i, x := range logits {
		l[i] = float64(x) / float64(temp)
	}
	for i, p := range softmax64(l) {
		se := math.Sqrt(p * (1 - p) / n)
		if f := float64(counts[i]) / n; math.Abs(f-p) > 5*se {
			t.Fatalf("id %d: frequency %v, want %v ± %v", i, f, p, 5*se)
		}
	}
}

func TestMaskNeverChosen(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	logits := randLogits(r, 100, 1)
	mask := make([]bool, 100)
	for i := range mask {
		mask[i] = i%7 == 3
	}
	s := New(Options{Temperature: 1.5, TopP: 1, Seed: 3})
	for i := 0; i < 2000; i++ {
		if id := s.Sample(logits, mask); !mask[id] {
			t.Fatalf("masked id %d chosen", id)
		}
	}
}

func TestNoAllocPerToken(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	logits := randLogits(r, 32000, 2)
	mask := make([]bool, len(logits))
	for i := range mask {
		mask[i] = i%3 != 0
	}
	for name, opt := range map[string]Options{
		"default":   func() Options { o := DefaultOptions(); o.Seed = 1; o.RepeatPenalty = 1.1; return o }(),
		"top-p":     {Temperature: 0.7, TopP: 0.9, Seed: 1},
		"typical":   {Temperature: 0.7, TopK: 100, TypicalP: 0.9, TopP: 1, Seed: 1},
		"greedy":    {RepeatPenalty: 1.2, RepeatLastN: 64, LogitBias: map[int32]float32{5: 1}},
		"min-p+pen": {Temperature: 1, TopP: 1, MinP: 0.1, FrequencyPenalty: 0.2, RepeatLastN: 16, Seed: 1},
	} {
		s := New(opt)
		for i := 0; i < 100; i++ { // warm up buffers and the penalty map
			s.Accept(int32(i % 50))
			s.Sample(logits, mask)
		}
		id := int32(0)
		allocs := testing.AllocsPerRun(50, func() {
			id = (id + 7) % 50
			s.Accept(id)
			s.Sample(logits, mask)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per token", name, allocs)
		}
	}
}

func BenchmarkSample32k(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	logits := randLogits(r, 32000, 2)
	opt := DefaultOptions()
	opt.Seed = 1
	s := New(opt)
	b.ReportAllocs()
	for b.Loop() {
		s.Sample(logits, nil)
	}
}

// TestHugeRepeatWindowAllocatesByUse is the sampler half of issue 15's finding 1: a request's repeat_last_n of
// 10^13 made New allocate the whole window up front and killed the server. The window must cost memory only
// for the tokens accepted, and still penalise exactly those tokens.
func TestHugeRepeatWindowAllocatesByUse(t *testing.T) {
	s := New(Options{RepeatPenalty: 2, RepeatLastN: 10_000_000_000_000})
	if c := cap(s.ring); c > ringPrealloc {
		t.Fatalf("New allocated a window of %d ids for RepeatLastN 1e13", c)
	}
	for _, id := range []int32{1, 1, 3} {
		s.Accept(id)
	}
	got := s.adjusted([]float32{2, 2, 2, 2}, nil)
	if !slices.Equal(got, []float32{2, 1, 2, 1}) {
		t.Fatalf("penalised logits %v, want [2 1 2 1]", got)
	}
	if len(s.ring) != 3 {
		t.Fatalf("window holds %d ids after 3 accepted", len(s.ring))
	}
	// A window larger than the preallocation still slides correctly once full.
	s = New(Options{RepeatPenalty: 2, RepeatLastN: ringPrealloc + 2})
	for i := 0; i < ringPrealloc+2; i++ {
		s.Accept(0)
	}
	s.Accept(1) // evicts one 0; 0 stays in the window, 1 joins it
	if s.counts[0] != ringPrealloc+1 || s.counts[1] != 1 || len(s.ring) != ringPrealloc+2 {
		t.Fatalf("after sliding: counts[0]=%d counts[1]=%d len=%d", s.counts[0], s.counts[1], len(s.ring))
	}
}
