// Package sample turns one position's logits into one token id, the way llama.cpp's default sampler chain
// does, and matches stop strings on the streamed text.
//
// It is the engine's only sampler: the engine calls it per generated token, the server only fills Options from
// Ollama / OpenAI request fields. It must never look at model internals or allocate per token.
//
// The chain follows llama.cpp common/sampling.cpp (common_sampler_init, default order) with the formulas of
// src/llama-sampling.cpp:
//
//	logit bias → mask (grammar) → penalties → top-k → typical → top-p → min-p → temperature → dist
//
// With Temperature <= 0 the result is the greedy argmax of the biased, masked, penalised logits; ties go to the
// lowest id, as llama_sampler_greedy_apply does (the truncation samplers always keep the maximum, so they cannot
// change the argmax). The final draw uses math/rand/v2 PCG seeded from Options.Seed, so equal seeds give equal
// tokens here, but not the same tokens as llama.cpp's std::mt19937.
package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// NoToken is what Sample returns when no candidate is left (every id masked out, or empty logits).
const NoToken int32 = -1

// Options are the sampling parameters, named as in Ollama / llama.cpp. The zero value is greedy decoding with no
// penalties; DefaultOptions gives llama.cpp's defaults.
type Options struct {
	Temperature float32 // <= 0: greedy
	TopK        int     // <= 0: disabled
	TopP        float32 // >= 1: disabled
	MinP        float32 // <= 0: disabled
	TypicalP    float32 // >= 1 or <= 0: disabled (llama.cpp typ_p)
	MinKeep     int     // least candidates top-p/min-p/typical keep (llama.cpp min_keep, default 0)

	RepeatPenalty    float32 // 1 (or 0): disabled; > 1 discourages repeats
	PresencePenalty  float32 // subtracted once from every token present in the window
	FrequencyPenalty float32 // subtracted per occurrence in the window
	// RepeatLastN is the penalty window in accepted tokens: 0 disables penalties, < 0 means the whole history
	// (Ollama's -1 means num_ctx; the caller may pass num_ctx instead).
	RepeatLastN int

	LogitBias map[int32]float32 // added to the logit of the id before anything else

	// Seed seeds the random draw. Negative means a fresh random seed per Sampler.
	Seed int64
}

// DefaultOptions are llama.cpp's common_params_sampling defaults (common/common.h).
func DefaultOptions() Options {
	return Options{
		Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, TypicalP: 1,
		RepeatPenalty: 1, RepeatLastN: 64, Seed: -1,
	}
}

// cand is one candidate token (llama_token_data).
type cand struct {
	id    int32
	logit float32
	p     float32
}

// Sampler draws tokens for one request. It is not safe for concurrent use; create one per request.
type Sampler struct {
	opt Options
	rng *rand.Rand

	scratch []float32 // copy of the logits after bias and penalties
	cands   []cand    // candidate buffer, reused
	tmp     []cand    // typical sampling gather buffer, reused
	idx     []int     // typical sampling index buffer, reused
	shift   []float32 // typical sampling scores, reused

	// penalty window: ring of the last RepeatLastN accepted ids and their counts
	ring   []int32
	head   int // index of the oldest entry when full
	counts map[int32]int32
}

// New returns a Sampler with its own random source.
func New(opt Options) *Sampler {
	seed := uint64(opt.Seed)
	if opt.Seed < 0 {
		seed = rand.Uint64()
	}
	s := &Sampler{
		opt: opt,
		// The second PCG word is a fixed odd constant so that every 64-bit seed maps to its own stream.
		rng:    rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		counts: make(map[int32]int32),
	}
	if opt.RepeatLastN > 0 {
		// The window size comes from a request: allocate for at most ringPrealloc ids and let Accept grow the
		// ring one accepted token at a time, so memory follows the tokens actually seen (at most the context),
		// never the size asked for (issue 15: repeat_last_n 10^13 made this make() kill the server).
		s.ring = make([]int32, 0, min(opt.RepeatLastN, ringPrealloc))
	}
	return s
}

// ringPrealloc is the most penalty-window entries New allocates up front (Ollama's default window is 64).
const ringPrealloc = 1024

// Options returns the options the sampler was made with.
func (s *Sampler) Options() Options { return s.opt }

// Reset forgets the penalty history (the random stream continues).
func (s *Sampler) Reset() {
	s.ring = s.ring[:0]
	s.head = 0
	clear(s.counts)
}

// Accept records a token as generated (or as part of the prompt, when the caller wants prompt tokens to count
// for penalties, as llama-server does). It mirrors llama_sampler_penalties_accept.
func (s *Sampler) Accept(id int32) {
	n := s.opt.RepeatLastN
	if n == 0 {
		return
	}
	s.counts[id]++
	if n < 0 {
		s.ring = append(s.ring, id)
		return
	}
	if len(s.ring) < n {
		s.ring = append(s.ring, id)
		return
	}
	old := s.ring[s.head]
	if c := s.counts[old] - 1; c <= 0 {
		delete(s.counts, old)
	} else {
		s.counts[old] = c
	}
	s.ring[s.head] = id
	s.head = (s.head + 1) % n
}

func (s *Sampler) penaltiesActive() bool {
	o := &s.opt
	return o.RepeatLastN != 0 && !((o.RepeatPenalty == 1 || o.RepeatPenalty == 0) &&
		o.FrequencyPenalty == 0 && o.PresencePenalty == 0)
}

// Sample picks the next token from logits (one per vocabulary id). mask, when not nil, must have the same
// length; ids with mask[id] == false are never chosen (grammar-constrained decoding). It returns NoToken when
// nothing is allowed. It does not call Accept.
func (s *Sampler) Sample(logits []float32, mask []bool) int32 {
	lg := s.adjusted(logits, mask)
	if len(lg) == 0 {
		return NoToken
	}
	if s.opt.Temperature <= 0 {
		return greedy(lg, mask)
	}
	c := s.chain(lg, mask)
	if len(c) == 0 {
		return NoToken
	}
	return s.dist(c)
}

// adjusted returns the logits (cut to the mask length) after logit bias and penalties, copied into the
// sampler's scratch buffer only when something changes them.
func (s *Sampler) adjusted(logits []float32, mask []bool) []float32 {
	n := len(logits)
	if mask != nil && len(mask) < n {
		n = len(mask)
	}
	lg := logits[:n]
	if len(s.opt.LogitBias) > 0 || s.penaltiesActive() {
		s.scratch = append(s.scratch[:0], lg...)
		lg = s.scratch
		for id, b := range s.opt.LogitBias {
			if id >= 0 && int(id) < n {
				lg[id] += b
			}
		}
		if s.penaltiesActive() {
			s.applyPenalties(lg)
		}
	}
	return lg
}

// chain runs the truncation samplers and the temperature over the allowed candidates and returns the
// survivors with their tempered logits (the draw takes the softmax of those).
func (s *Sampler) chain(lg []float32, mask []bool) []cand {
	var c []cand
	sorted := false
	if k := s.opt.TopK; k > 0 && k < len(lg) {
		// Top-k straight from the logits with a size-k min-heap: most logits lose one comparison against the
		// heap's minimum, which is far cheaper than gathering and selecting all candidates.
		c = s.heapTopK(lg, mask, k)
		slices.SortFunc(c, byLogit)
		sorted = true
	} else {
		c = s.cands[:0]
		for i, l := range lg {
			if (mask == nil || mask[i]) && !math.IsNaN(float64(l)) && !math.IsInf(float64(l), -1) {
				c = append(c, cand{id: int32(i), logit: l})
			}
		}
		s.cands = c
	}
	if len(c) == 0 {
		return c
	}
	if s.opt.TypicalP > 0 && s.opt.TypicalP < 1 {
		c = s.typical(c, s.opt.TypicalP, s.opt.MinKeep)
		sorted = false
	}
	c, sorted = topP(c, s.opt.TopP, s.opt.MinKeep, sorted)
	c, _ = minP(c, s.opt.MinP, s.opt.MinKeep, sorted)
	t := s.opt.Temperature
	for i := range c {
		c[i].logit /= t
	}
	return c
}

// applyPenalties is llama_sampler_penalties_apply: the repeat penalty divides a positive logit and multiplies a
// non-positive one (so it always lowers it), then count*frequency + presence is subtracted.
func (s *Sampler) applyPenalties(lg []float32) {
	o := &s.opt
	rep := o.RepeatPenalty
	if rep == 0 {
		rep = 1
	}
	for id, cnt := range s.counts {
		if id < 0 || int(id) >= len(lg) || cnt <= 0 {
			continue
		}
		l := lg[id]
		if l <= 0 {
			l *= rep
		} else {
			l /= rep
		}
		l -= float32(cnt)*o.FrequencyPenalty + o.PresencePenalty
		lg[id] = l
	}
}

// greedy returns the first id with the highest logit among the allowed ones (llama_sampler_greedy_apply).
func greedy(lg []float32, mask []bool) int32 {
	best := NoToken
	var bl float32
	for i, l := range lg {
		if mask != nil && !mask[i] || math.IsNaN(float64(l)) {
			continue
		}
		if best == NoToken || l > bl {
			best, bl = int32(i), l
		}
	}
	return best
}

// byLogit orders candidates by descending logit and, on ties, ascending id, so the order is total and the
// result never depends on sort stability.
func byLogit(a, b cand) int {
	if a.logit != b.logit {
		if a.logit > b.logit {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.id, b.id)
}

// heapTopK returns the k best allowed candidates (llama_sampler_top_k_impl's set; the caller sorts them).
// The heap root is the worst kept candidate by byLogit, so ties keep the lowest ids.
func (s *Sampler) heapTopK(lg []float32, mask []bool, k int) []cand {
	h := s.cands[:0]
	for i, l := range lg {
		if mask != nil && !mask[i] || math.IsNaN(float64(l)) || math.IsInf(float64(l), -1) {
			continue
		}
		x := cand{id: int32(i), logit: l}
		if len(h) < k {
			h = append(h, x)
			// sift up: parent must be worse (greater by byLogit) than child
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if byLogit(h[p], h[j]) >= 0 {
					break
				}
				h[p], h[j] = h[j], h[p]
				j = p
			}
			continue
		}
		if l < h[0].logit || l == h[0].logit { // not better than the worst kept (equal logit: higher id loses)
			continue
		}
		h[0] = x
		for j := 0; ; {
			w := j
			if a := 2*j + 1; a < len(h) && byLogit(h[a], h[w]) > 0 {
				w = a
			}
			if b := 2*j + 2; b < len(h) && byLogit(h[b], h[w]) > 0 {
				w = b
			}
			if w == j {
				break
			}
			h[j], h[w] = h[w], h[j]
			j = w
		}
	}
	s.cands = h
	return h
}

// selectTop moves the k best candidates (by byLogit) to c[:k] in linear expected time (quickselect with a
// median-of-three pivot).
func selectTop(c []cand, k int) {
	lo, hi := 0, len(c)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three as pivot, moved to hi
		if byLogit(c[mid], c[lo]) < 0 {
			c[mid], c[lo] = c[lo], c[mid]
		}
		if byLogit(c[hi], c[lo]) < 0 {
			c[hi], c[lo] = c[lo], c[hi]
		}
		if byLogit(c[mid], c[hi]) < 0 {
			c[mid], c[hi] = c[hi], c[mid]
		}
		pivot := c[hi]
		store := lo
		for i := lo; i < hi; i++ {
			if byLogit(c[i], pivot) < 0 {
				c[i], c[store] = c[store], c[i]
				store++
			}
		}
		c[store], c[hi] = c[hi], c[store]
		switch {
		case store == k || store == k-1:
			return
		case store < k:
			lo = store + 1
		default:
			hi = store - 1
		}
	}
}

// softmax sorts the candidates (if needed) and fills p (llama_sampler_softmax_impl).
func softmax(c []cand, sorted bool) {
	if !sorted {
		slices.SortFunc(c, byLogit)
	}
	maxL := c[0].logit
	var sum float32
	for i := range c {
		p := float32(math.Exp(float64(c[i].logit - maxL)))
		c[i].p = p
		sum += p
	}
	for i := range c {
		c[i].p /= sum
	}
}

// topP keeps the smallest prefix (by probability) whose cumulative probability reaches p, including the token
// that crosses it, and at least minKeep tokens (llama_sampler_top_p_apply).
func topP(c []cand, p float32, minKeep int, sorted bool) ([]cand, bool) {
	if p >= 1 || len(c) == 0 {
		return c, sorted
	}
	if !sorted && len(c) > 1024 {
		// Most of the mass usually sits in few tokens: find the prefix among the top 256 first, as llama.cpp's
		// adaptive partial sort does, and sort everything only when that is not enough.
		k := 256
		selectTop(c, k)
		slices.SortFunc(c[:k], byLogit)
		maxL := c[0].logit
		var sum float32
		for i := range c {
			sum += float32(math.Exp(float64(c[i].logit - maxL)))
		}
		var cum float32
		for i := 0; i < k; i++ {
			c[i].p = float32(math.Exp(float64(c[i].logit-maxL))) / sum
			cum += c[i].p
			if cum >= p && i+1 >= minKeep {
				return c[:i+1], true
			}
		}
	}
	softmax(c, sorted)
	var cum float32
	for i := range c {
		cum += c[i].p
		if cum >= p && i+1 >= minKeep {
			return c[:i+1], true
		}
	}
	return c, true
}

// minP keeps the tokens whose probability is at least p times the highest one, i.e. whose logit is at least
// max + ln(p) (llama_sampler_min_p_apply).
func minP(c []cand, p float32, minKeep int, sorted bool) ([]cand, bool) {
	if p <= 0 || len(c) == 0 {
		return c, sorted
	}
	if !sorted {
		maxL := c[0].logit
		for _, x := range c[1:] {
			maxL = max(maxL, x.logit)
		}
		minL := maxL + float32(math.Log(float64(p)))
		kept := 0
		for _, x := range c {
			if x.logit >= minL {
				kept++
			}
		}
		if kept >= minKeep {
			j := 0
			for _, x := range c {
				if x.logit >= minL {
					c[j] = x
					j++
				}
			}
			return c[:j], false
		}
		slices.SortFunc(c, byLogit)
	}
	minL := c[0].logit + float32(math.Log(float64(p)))
	i := 1
	for ; i < len(c); i++ {
		if c[i].logit < minL && i >= minKeep {
			break
		}
	}
	return c[:i], true
}

// typical is locally typical sampling (llama_sampler_typical_apply): keep the tokens whose surprisal is closest
// to the entropy until their mass exceeds p. llama.cpp compares i >= min_keep-1 in size_t, so min_keep == 0
// there disables the cut entirely; we treat min_keep 0 as 1, which is what the algorithm means.
func (s *Sampler) typical(c []cand, p float32, minKeep int) []cand {
	softmax(c, false)
	var ent float32
	for _, x := range c {
		if x.p > 0 {
			ent += -x.p * float32(math.Log(float64(x.p)))
		}
	}
	s.idx = s.idx[:0]
	s.shift = s.shift[:0]
	for i, x := range c {
		s.idx = append(s.idx, i)
		s.shift = append(s.shift, float32(math.Abs(float64(-float32(math.Log(float64(x.p)))-ent))))
	}
	shift := s.shift
	slices.SortFunc(s.idx, func(a, b int) int {
		if shift[a] != shift[b] {
			return cmp.Compare(shift[a], shift[b])
		}
		return cmp.Compare(a, b)
	})
	minKeep = max(minKeep, 1)
	last := len(s.idx)
	var cum float32
	for i, j := range s.idx {
		cum += c[j].p
		if cum > p && i >= minKeep-1 {
			last = i + 1
			break
		}
	}
	// Gather the kept candidates in typicality order through a reused buffer (the kept indices refer to the
	// old positions, so c cannot be rewritten in place directly).
	s.tmp = s.tmp[:0]
	for _, j := range s.idx[:last] {
		s.tmp = append(s.tmp, c[j])
	}
	return append(c[:0], s.tmp...)
}

// dist draws one candidate with probability softmax(logit) (llama_sampler_dist_apply).
func (s *Sampler) dist(c []cand) int32 {
	if len(c) == 1 {
		return c[0].id
	}
	maxL := c[0].logit
	for _, x := range c[1:] {
		maxL = max(maxL, x.logit)
	}
	var sum float64
	for i := range c {
		p := math.Exp(float64(c[i].logit - maxL))
		c[i].p = float32(p)
		sum += p
	}
	u := s.rng.Float64() * sum
	var acc float64
	for _, x := range c {
		acc += float64(x.p)
		if u < acc {
			return x.id
		}
	}
	// rounding left u at the very top: return the last candidate with mass
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].p > 0 {
			return c[i].id
		}
	}
	return c[len(c)-1].id
}
