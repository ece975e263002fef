package sample

import "math"

// Speculative decoding (engine/speculative.go) needs the distribution a Sample call draws from as a vector, to
// judge a proposed token against it instead of drawing a fresh one. The rule is Leviathan, Kalman and Matias,
// "Fast Inference from Transformers via Speculative Decoding" (ICML 2023), Algorithm 1, and Chen et al.,
// "Accelerating Large Language Model Decoding with Speculative Sampling" (2023), Algorithm 2: with target
// distribution p and the proposal's distribution q, accept the proposed x with probability min(1, p(x)/q(x)),
// else draw from norm(max(0, p − q)). Every emitted token is then distributed exactly as Sample would draw it.

// Probs fills dst (one entry per vocabulary id, len(dst) >= len(logits)) with the distribution Sample draws from
// for these logits and mask: bias, penalties, mask, truncation and temperature applied, zero for every id the
// chain removed; greedy (Temperature <= 0) gives 1 at the argmax. It returns dst[:len(logits)] and the largest
// probability; both are zero when no candidate is left. It consumes no randomness.
func (s *Sampler) Probs(logits []float32, mask []bool, dst []float32) ([]float32, float32) {
	dst = dst[:len(logits)]
	clear(dst)
	lg := s.adjusted(logits, mask)
	if len(lg) == 0 {
		return dst, 0
	}
	if s.opt.Temperature <= 0 {
		id := greedy(lg, mask)
		if id == NoToken {
			return dst, 0
		}
		dst[id] = 1
		return dst, 1
	}
	c := s.chain(lg, mask)
	if len(c) == 0 {
		return dst, 0
	}
	maxL := c[0].logit
	for _, x := range c[1:] {
		maxL = max(maxL, x.logit)
	}
	var sum float64
	for i := range c {
		sum += math.Exp(float64(c[i].logit - maxL))
	}
	var top float32
	for _, x := range c {
		p := float32(math.Exp(float64(x.logit-maxL)) / sum)
		dst[x.id] = p
		top = max(top, p)
	}
	return dst, top
}

// DrawFrom draws an id with probability proportional to p[id] (p need not be normalised) from the sampler's
// random stream; NoToken when p has no mass.
func (s *Sampler) DrawFrom(p []float32) int32 {
	var sum float64
	for _, x := range p {
		sum += float64(x)
	}
	if !(sum > 0) {
		return NoToken
	}
	u := s.rng.Float64() * sum
	var acc float64
	last := NoToken
	for i, x := range p {
		if x <= 0 {
			continue
		}
		acc += float64(x)
		last = int32(i)
		if u < acc {
			return last
		}
	}
	return last // rounding left u at the very top
}

// Verify decides the token at one position of a speculative step: draft is the proposed id and q the
// distribution it was drawn from (one entry per id, as Probs fills it), or nil for a deterministic proposal
// (n-gram lookup: q is 1 at draft). It returns draft when the proposal is accepted, else the token drawn from the
// residual distribution; NoToken when nothing is allowed. Greedy sampling returns Sample's argmax (accepted
// exactly when it equals draft). p is scratch of at least len(logits) entries.
//
// For a deterministic proposal the rule of Leviathan et al. (Algorithm 1) with q = one-hot(draft) reads: accept
// with probability p(draft), else draw from p with draft's mass removed; the token emitted is distributed as p.
func (s *Sampler) Verify(logits []float32, mask []bool, draft int32, q, p []float32) int32 {
	if s.opt.Temperature <= 0 {
		return s.Sample(logits, mask)
	}
	p, _ = s.Probs(logits, mask, p)
	in := draft >= 0 && int(draft) < len(p)
	if q == nil {
		if in && s.rng.Float64() < float64(p[draft]) {
			return draft
		}
		if in {
			p[draft] = 0
		}
		return s.DrawFrom(p)
	}
	if in && q[draft] > 0 && s.rng.Float64()*float64(q[draft]) < float64(p[draft]) {
		return draft
	}
	// Residual norm(max(0, p − q)), written over p. Its mass is zero only when p ≤ q everywhere, i.e. p == q,
	// where the proposal is always accepted; rounding could still get here, and p itself is then the answer.
	var mass float64
	for i := range p {
		r := p[i] - q[i]
		if r < 0 {
			r = 0
		}
		mass += float64(r)
		q[i] = r // q is the caller's scratch for this position and not read again
	}
	if mass > 0 {
		return s.DrawFrom(q[:len(p)])
	}
	return s.DrawFrom(p)
}
