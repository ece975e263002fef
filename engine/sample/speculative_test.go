package sample

import (
	"math"
	"testing"
)

// chi2 is Pearson's statistic of counts against probabilities p over n
// draws (ids with p = 0 must not be drawn: they make it infinite).
func chi2(counts []int, p []float32, n int) float64 {
	s := 0.0
	for i, c := range counts {
		e := float64(p[i]) * float64(n)
		if e == 0 {
			if c > 0 {
				return math.Inf(1)
			}
			continue
		}
		s += (float64(c) - e) * (float64(c) - e) / e
	}
	return s
}

// The 1e-3 upper quantiles of chi-square for the degrees of freedom used
// below (tables; df = support size − 1).
var chi2Crit = map[int]float64{3: 16.27, 4: 18.47, 5: 20.52}

func support(p []float32) int {
	n := 0
	for _, x := range p {
		if x > 0 {
			n++
		}
	}
	return n
}

// Probs is the distribution Sample draws from, chain included (top-k
// removes ids, temperature reshapes the rest).
func TestProbsIsSampleDistribution(t *testing.T) {
	logits := []float32{1.0, 2.5, -0.5, 2.0, 0.3, 1.7, -3}
	opt := Options{Temperature: 0.9, TopK: 5, TopP: 1, Seed: 3}
	s := New(opt)
	p, top := s.Probs(logits, nil, make([]float32, len(logits)))
	if support(p) != 5 || p[6] != 0 || p[2] != 0 {
		t.Fatalf("top-k 5 kept %v", p)
	}
	if top != p[1] {
		t.Fatalf("top %g, p %v", top, p)
	}
	const n = 40000
	counts := make([]int, len(logits))
	for range n {
		counts[s.Sample(logits, nil)]++
	}
	if c := chi2(counts, p, n); c > chi2Crit[support(p)-1] {
		t.Fatalf("Sample's draws differ from Probs: chi-square %.1f, counts %v, p %v", c, counts, p)
	}
	g, _ := New(Options{}).Probs(logits, nil, make([]float32, len(logits)))
	if g[1] != 1 || support(g) != 1 {
		t.Fatalf("greedy Probs %v", g)
	}
}

// The speculative acceptance rule (Verify) emits tokens distributed as the
// target's p whatever the proposal: drafts drawn from another distribution
// q, and a fixed (n-gram) proposal. Accepting every proposal, the naive
// rule, fails the same test by far, so the test has the power to see a
// biased rule.
func TestVerifyKeepsDistribution(t *testing.T) {
	target := []float32{1.0, 2.5, -0.5, 2.0, 0.3, 1.7}
	draft := []float32{2.0, 1.0, 1.5, 0.5, 0.3, 2.2}
	opt := Options{Temperature: 1, TopK: 5, TopP: 1}
	tgt := New(Options{Temperature: 1, TopK: 5, TopP: 1, Seed: 11})
	drf := New(Options{Temperature: 1, TopP: 1, Seed: 12})
	V := len(target)
	p, _ := New(opt).Probs(target, nil, make([]float32, V))
	q, _ := drf.Probs(draft, nil, make([]float32, V))
	df := support(p) - 1
	const n = 40000
	qs, ps := make([]float32, V), make([]float32, V)
	got, naive, fixed := make([]int, V), make([]int, V), make([]int, V)
	accepted := 0
	for range n {
		d := drf.DrawFrom(q)
		copy(qs, q)
		x := tgt.Verify(target, nil, d, qs, ps)
		got[x]++
		if x == d {
			accepted++
		}
		naive[d]++
		fixed[tgt.Verify(target, nil, 2, nil, ps)]++ // p(2) = 0 after top-k: always rejected
	}
	c, cn, cf := chi2(got, p, n), chi2(naive, p, n), chi2(fixed, p, n)
	t.Logf("chi-square (df %d, 1e-3 critical %.2f): draft %.1f, n-gram %.1f, naive %.1f; accepted %d of %d", df, chi2Crit[df], c, cf, cn, accepted, n)
	if c > chi2Crit[df] || cf > chi2Crit[df] {
		t.Fatalf("Verify changed the distribution: draft %v, n-gram %v, p %v", got, fixed, p)
	}
	if cn < 10*chi2Crit[df] {
		t.Fatalf("the naive rule passes (%.1f): the test cannot tell", cn)
	}
	if accepted == 0 || accepted == n {
		t.Fatalf("accepted %d of %d", accepted, n)
	}
	// A fixed proposal with mass is accepted with probability p(draft).
	acc := 0
	for range n {
		if tgt.Verify(target, nil, 1, nil, ps) == 1 {
			acc++
		}
	}
	if f := float64(acc) / n; math.Abs(f-float64(p[1])) > 4*math.Sqrt(float64(p[1]*(1-p[1]))/n) {
		t.Fatalf("fixed proposal accepted %.4f of the time, p = %.4f", f, p[1])
	}
	// Greedy: Verify is Sample's argmax.
	g := New(Options{})
	if g.Verify(target, nil, 3, q, ps) != 1 || g.Verify(target, nil, 1, q, ps) != 1 {
		t.Fatal("greedy Verify is not the argmax")
	}
}
