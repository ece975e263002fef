package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"dayi/engine/sample"
)

// Speculative decoding: a cheap proposer guesses the next few tokens, the
// target model evaluates the last sampled token and all the guesses in one
// step (EvalRows: logits for every row), and the longest acceptable prefix
// of the guesses is kept, plus one token drawn from the target at the first
// rejection (or after the last guess). On a CPU a step's cost grows slowly
// with its rows while the weights are read once, so every accepted guess is
// a decode step saved.
//
// Proposers: a draft model with the same vocabulary (llama.cpp's
// common/speculative.cpp: the draft decodes n_max tokens one by one and
// stops early when its top probability drops below p_min = 0.75), or
// draft-free n-gram lookup (prompt lookup decoding, vLLM's NgramProposer):
// the last n tokens (n from NGramMax down to NGramMin) are looked for
// earlier in the prompt and the output, and what followed is proposed. EMR
// notes copy names, drugs and doses from the transcript in their prompt, so
// long stretches of the output already appear in it.
//
// Acceptance keeps the target's distribution exactly (sample.Verify):
// greedy decoding accepts a guess when it is the target's argmax, so the
// text is the one plain decoding gives; sampling uses the rule of Leviathan
// et al. 2023 / Chen et al. 2023 (accept with min(1, p/q), else draw from
// norm(max(0, p−q))), with q one-hot for the n-gram proposer.
//
// Rejected rows are dropped with Session.Truncate (exact for every cache
// type: the rows past the position are masked and get overwritten). The
// prefix cache only ever stores rows of accepted tokens (the session's
// position is the accepted length whenever a generation finishes), and a
// round never runs into the context end: its step must fit in the context,
// so a context shift happens only at the plain position after a round.

// Speculation configures speculative decoding for an LM (SetSpeculation).
// Exactly one of Draft and NGram is set.
type Speculation struct {
	// Draft proposes tokens with a smaller model of the same vocabulary
	// (CheckDraftVocab). Its sessions live beside each request's target
	// session; the LM does not own the draft (the caller closes it).
	Draft *LM
	// NGram proposes what followed the last NGramMin..NGramMax tokens where
	// they occur earlier in the sequence (0: 1 and 3).
	NGram              bool
	NGramMin, NGramMax int
	// DraftMax is the most tokens proposed per round (0: DefaultDraftMax,
	// DefaultNGramDraftMax), DraftMin the fewest worth a verification step
	// (fewer are not verified; 0: 1).
	DraftMax, DraftMin int
	// PMin stops a draft model's proposal when its top probability falls
	// below it (0: DefaultDraftPMin; < 0: never).
	PMin float32
}

// Defaults. DraftMax bounds the adaptive draft length (speculator.adapt).
// 16 is llama.cpp's n_max for a draft model. N-gram proposals get 8: a
// copied stretch of a transcript breaks off within a few words more often
// than a draft model's run does, and on a CPU each verified row costs a
// fraction of a decode step (EvalRows).
const (
	DefaultDraftMax      = 16
	DefaultNGramDraftMax = 8
	DefaultNGramMin      = 1
	DefaultNGramMax      = 3
	DefaultDraftPMin     = 0.75 // llama.cpp common_params_speculative.p_min
	maxDraft             = 64   // verification steps of at most 65 rows
)

// specConfig is an LM's speculation and its counters.
type specConfig struct {
	Speculation
	drafted, accepted atomic.Int64
}

// SpecStats counts an LM's speculative proposals since SetSpeculation.
type SpecStats struct {
	Drafted, Accepted int64
}

// SpecStats reports the proposals verified and accepted (zero when off).
func (lm *LM) SpecStats() SpecStats {
	if lm.spec == nil {
		return SpecStats{}
	}
	return SpecStats{Drafted: lm.spec.drafted.Load(), Accepted: lm.spec.accepted.Load()}
}

// Speculating reports whether SetSpeculation turned speculation on.
func (lm *LM) Speculating() bool { return lm.spec != nil }

// SetSpeculation turns speculative decoding on for the LM's generations
// (sp with neither Draft nor NGram turns it off). Call it before the first
// generation; it is not safe concurrently with generations.
func (lm *LM) SetSpeculation(sp Speculation) error {
	if sp.Draft == nil && !sp.NGram {
		lm.spec = nil
		return nil
	}
	if sp.Draft != nil && sp.NGram {
		return fmt.Errorf("speculative decoding: choose a draft model or n-gram lookup, not both")
	}
	if lm.enc != nil {
		return fmt.Errorf("%s: speculative decoding needs a generative model", lm.File.Path)
	}
	if sp.Draft != nil {
		if err := CheckDraftVocab(lm, sp.Draft); err != nil {
			return err
		}
	}
	if sp.DraftMax == 0 {
		sp.DraftMax = DefaultDraftMax
		if sp.NGram {
			sp.DraftMax = DefaultNGramDraftMax
		}
	}
	if sp.DraftMax < 1 || sp.DraftMax > maxDraft {
		return fmt.Errorf("speculative decoding: draft-max %d outside 1..%d", sp.DraftMax, maxDraft)
	}
	sp.DraftMin = max(sp.DraftMin, 1)
	if sp.DraftMin > sp.DraftMax {
		return fmt.Errorf("speculative decoding: draft-min %d exceeds draft-max %d", sp.DraftMin, sp.DraftMax)
	}
	if sp.NGramMin == 0 {
		sp.NGramMin = DefaultNGramMin
	}
	if sp.NGramMax == 0 {
		sp.NGramMax = max(DefaultNGramMax, sp.NGramMin)
	}
	if sp.NGramMin < 1 || sp.NGramMax < sp.NGramMin || sp.NGramMax > 64 {
		return fmt.Errorf("speculative decoding: n-gram sizes %d..%d (want 1 ≤ min ≤ max ≤ 64)", sp.NGramMin, sp.NGramMax)
	}
	if sp.PMin == 0 {
		sp.PMin = DefaultDraftPMin
	}
	// Build the verification steps now rather than in the first rounds.
	if err := lm.warmVerify(sp.DraftMax + 1); err != nil {
		return fmt.Errorf("%s: speculative decoding: %w", lm.File.Path, err)
	}
	lm.spec = &specConfig{Speculation: sp}
	return nil
}

// CheckDraftVocab refuses a draft model whose vocabulary is not the
// target's: every id must be the same token, since the target judges the
// draft's ids (and its distribution, id by id). llama.cpp's
// common_speculative_are_compatible tolerates a size difference of up to 128
// ids; the acceptance rule here compares distributions over the same ids, so
// the sizes must be equal.
func CheckDraftVocab(target, draft *LM) error {
	tt, dt := target.Tok, draft.Tok
	tf, df := target.File.Path, draft.File.Path
	if tt.NumTokens() != dt.NumTokens() || target.Hyper.Vocab != draft.Hyper.Vocab {
		return fmt.Errorf("draft model %s has a vocabulary of %d tokens, target %s one of %d: speculative decoding needs the same vocabulary",
			df, dt.NumTokens(), tf, tt.NumTokens())
	}
	if tt.Kind() != dt.Kind() || tt.BOS() != dt.BOS() || tt.EOS() != dt.EOS() || tt.AddBOS() != dt.AddBOS() {
		return fmt.Errorf("draft model %s and target %s tokenize differently (%s, BOS %d, EOS %d vs %s, BOS %d, EOS %d): speculative decoding needs the same vocabulary",
			df, tf, dt.Kind(), dt.BOS(), dt.EOS(), tt.Kind(), tt.BOS(), tt.EOS())
	}
	for id := range int32(tt.NumTokens()) {
		if tt.Text(id) != dt.Text(id) {
			return fmt.Errorf("draft model %s and target %s differ at token %d (%q vs %q): speculative decoding needs the same vocabulary",
				df, tf, id, dt.Text(id), tt.Text(id))
		}
	}
	return nil
}

// speculator is one generation's speculative state and scratch, allocated
// once per request (nothing per token).
type speculator struct {
	cfg    *specConfig
	greedy bool
	k      int       // proposals asked for in the next round (adapt)
	drafts []int32   // this round's proposals
	batch  []int32   // the token before them and the proposals
	p      []float32 // target distribution scratch [vocab]
	q      []float32 // draft distributions [DraftMax, vocab] (sampling with a draft model)
	dsess  *Session  // draft model session
	dtoks  []int32   // the tokens dsess has evaluated
	dsmp   *sample.Sampler
}

func (lm *LM) newSpeculator(so sample.Options) *speculator {
	cfg := lm.spec
	if cfg == nil {
		return nil
	}
	v := lm.Hyper.Vocab
	sp := &speculator{
		cfg: cfg, greedy: so.Temperature <= 0,
		drafts: make([]int32, 0, cfg.DraftMax), batch: make([]int32, 0, cfg.DraftMax+1),
		p: make([]float32, v), k: cfg.DraftMax,
	}
	if cfg.Draft != nil {
		// The draft draws from q, the target's chain without penalties
		// (any q keeps the rule exact; penalties would need the draft's
		// history rolled back with each rejection), on its own stream.
		do := so
		do.RepeatLastN = 0
		if do.Seed >= 0 {
			do.Seed ^= 0x5eed
		}
		sp.dsmp = sample.New(do)
		if !sp.greedy {
			sp.q = make([]float32, cfg.DraftMax*v)
		}
	}
	return sp
}

// adapt sets the next round's draft length from this one's outcome, with
// the schedule of Hugging Face transformers' assisted generation
// ("heuristic" num_assistant_tokens): two more after a round whose
// proposals were all accepted, one fewer otherwise. On a CPU every
// verified row costs a good fraction of a decode step, so a proposer that
// is often wrong must not keep paying for long proposals; a copying
// stretch grows them back within a few rounds.
func (sp *speculator) adapt(accepted, drafted int) {
	if accepted == drafted {
		sp.k = min(sp.k+2, sp.cfg.DraftMax)
	} else {
		sp.k = max(sp.k-1, sp.cfg.DraftMin)
	}
}

func (sp *speculator) close() {
	if sp.dsess != nil {
		sp.dsess.Close()
		sp.dsess = nil
	}
}

// speculate runs one round after next returned id (in g.fed, not yet
// evaluated). With nothing to propose it returns id and fed == false: the
// caller feeds id as usual. Otherwise the session has evaluated id and the
// accepted proposals, and next is the token to feed (or done/err as next
// reports them).
func (g *generation) speculate(ctx context.Context, id int32) (next int32, fed, done bool, err error) {
	sp, lm := g.spec, g.lm
	P := g.sess.Pos()          // == len(g.fed)-1: id is the last of g.fed
	k := min(sp.k, lm.Ctx-P-1) // the step of k+1 rows fits the context
	limit := g.req.MaxTokens
	if g.req.Shift && (limit == 0 || limit > MaxShiftedTokens(lm.Ctx)) {
		limit = MaxShiftedTokens(lm.Ctx)
	}
	if limit > 0 {
		k = min(k, limit-len(g.res.Tokens)) // id is counted already
	}
	if k < sp.cfg.DraftMin {
		return id, false, false, nil
	}
	drafts, err := sp.propose(ctx, g, k)
	if err != nil {
		return 0, false, false, err
	}
	if len(drafts) < sp.cfg.DraftMin {
		return id, false, false, nil
	}

	sp.batch = append(append(sp.batch[:0], id), drafts...)
	rows, err := g.sess.EvalRows(ctx, sp.batch)
	if err != nil {
		return 0, true, false, err
	}
	g.res.Drafted += len(drafts)
	sp.cfg.drafted.Add(int64(len(drafts)))
	V := lm.Hyper.Vocab
	accepted := 0
	defer func() {
		g.res.DraftAccepted += accepted
		sp.cfg.accepted.Add(int64(accepted))
		sp.adapt(accepted, len(drafts))
	}()
	for i := 0; ; i++ {
		// The rows of the step stay valid up to P+1+len(drafts); moving
		// the position back to the row being judged keeps nextFrom's
		// invariant (Pos == len(g.fed)) and, when the generation ends here,
		// leaves exactly the accepted rows for the prefix cache.
		g.sess.pos = P + 1 + i
		d, q := sample.NoToken, []float32(nil)
		if i < len(drafts) {
			d = drafts[i]
			if sp.q != nil {
				q = sp.q[i*V : (i+1)*V]
			}
		}
		t, done, err := g.nextFrom(ctx, rows[i*V:(i+1)*V], d, q)
		if err != nil || done {
			return 0, true, done, err
		}
		if i == len(drafts) || t != d {
			return t, true, false, nil
		}
		accepted++
	}
}

// propose fills sp.drafts with at most k proposals for the tokens after
// g.fed.
func (sp *speculator) propose(ctx context.Context, g *generation, k int) ([]int32, error) {
	if sp.cfg.NGram {
		return ngramLookup(g.fed, sp.cfg.NGramMin, sp.cfg.NGramMax, k, sp.drafts), nil
	}
	dm := sp.cfg.Draft
	if sp.dsess == nil {
		s, err := dm.NewSession()
		if err != nil {
			return nil, fmt.Errorf("draft model: %w", err)
		}
		sp.dsess = s
	}
	fed := g.fed
	// The draft session holds sp.dtoks; what it shares with fed (at the
	// same positions: a context shift keeps the first tokens in place) is
	// kept, at least one token is evaluated for its logits.
	k = min(k, dm.Ctx-len(fed)+1)
	if k < 1 {
		return sp.drafts[:0], nil
	}
	first := len(sp.dtoks) == 0
	if first && dm.prefix != nil {
		// The draft's prompt prefill, like the target's, starts from the
		// draft model's prefix cache (same scope).
		n, err := dm.prefix.restore(sp.dsess, g.req.CacheScope, fed)
		if err != nil {
			return nil, fmt.Errorf("draft model: %w", err)
		}
		sp.dtoks = append(sp.dtoks, fed[:n]...)
	}
	n := min(commonPrefix(sp.dtoks, fed), len(fed)-1)
	if err := sp.dsess.Truncate(n); errors.Is(err, ErrRewind) {
		// The draft's compact sliding-window cache dropped rows the
		// rewound sequence needs (after a context shift changed fed's
		// history; swa.go): evaluate it again from the start.
		sp.dsess.Reset()
		n = 0
	} else if err != nil {
		return nil, err
	}
	sp.dtoks = append(sp.dtoks[:n], fed[n:]...)
	if err := sp.catchUp(ctx, dm, fed[n:], n > 0); err != nil {
		sp.dtoks = sp.dtoks[:sp.dsess.Pos()]
		return nil, draftErr(err)
	}
	logits := sp.dsess.Logits()
	if first && dm.prefix != nil {
		if err := dm.prefix.store(sp.dsess, g.req.CacheScope, sp.dtoks); err != nil {
			return nil, fmt.Errorf("draft model: %w", err)
		}
	}
	V := dm.Hyper.Vocab
	out := sp.drafts[:0]
	for i := range k {
		// The draft's confidence is measured as llama.cpp does whatever
		// the sampling (softmaxTop); the token is its argmax when greedy,
		// else a draw from q, the distribution the acceptance rule needs.
		if softmaxTop(logits) < sp.cfg.PMin {
			break
		}
		var d int32
		if sp.greedy {
			d = sp.dsmp.Sample(logits, nil)
		} else {
			q, _ := sp.dsmp.Probs(logits, nil, sp.q[i*V:(i+1)*V])
			d = sp.dsmp.DrawFrom(q)
		}
		if d == sample.NoToken {
			break
		}
		out = append(out, d)
		if i+1 < k {
			sp.dtoks = append(sp.dtoks, d)
			var err error
			if logits, err = sp.dsess.Eval(ctx, []int32{d}); err != nil {
				sp.dtoks = sp.dtoks[:sp.dsess.Pos()]
				return nil, draftErr(err)
			}
		}
	}
	sp.drafts = out
	return out, nil
}

// catchUp feeds the draft session the tokens it has not seen: the prompt
// (through the prefill buckets, from the draft's prefix cache), or after a
// round the few tokens the target accepted beyond the draft's own, in one
// step of exactly their number of rows: Eval would pad 2 tokens to the
// smallest prefill bucket (16 rows), which costs the draft as much as
// several decode steps.
func (sp *speculator) catchUp(ctx context.Context, dm *LM, ids []int32, hit bool) error {
	s := sp.dsess
	if len(ids) == 1 || len(ids) > sp.cfg.DraftMax+1 || s.pos+len(ids) > dm.Ctx {
		return dm.evalTail(ctx, s, ids, hit)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.step(ids, graphKey{T: len(ids)})
}

// draftErr passes on a draft model's error, except that its context being
// full only means no proposal.
func draftErr(err error) error {
	if errors.Is(err, ErrContextFull) {
		return nil
	}
	return fmt.Errorf("draft model: %w", err)
}

// draftTopK is the candidates llama.cpp's draft sampler keeps (top-k 10,
// common/speculative.cpp) before it compares the first one's probability
// with p_min.
const draftTopK = 10

// softmaxTop is the probability of the largest logit in the softmax of the
// draftTopK largest: the draft's confidence as llama.cpp measures it.
func softmaxTop(logits []float32) float32 {
	var top [draftTopK]float32
	n, lo := 0, 0 // lo: index of the smallest kept once top is full
	for _, l := range logits {
		switch {
		case math.IsNaN(float64(l)):
		case n < draftTopK:
			top[n] = l
			n++
			if n == draftTopK {
				lo = minIdx(top[:])
			}
		case l > top[lo]:
			top[lo] = l
			lo = minIdx(top[:])
		}
	}
	if n == 0 {
		return 0
	}
	m := top[0]
	for _, l := range top[1:n] {
		m = max(m, l)
	}
	var sum float64
	for _, l := range top[:n] {
		sum += math.Exp(float64(l - m))
	}
	return float32(1 / sum)
}

func minIdx(x []float32) int {
	j := 0
	for i := range x {
		if x[i] < x[j] {
			j = i
		}
	}
	return j
}

// ngramLookup proposes up to k tokens for what follows seq: for n from nmax
// down to nmin, the most recent earlier occurrence of seq's last n tokens,
// and what followed it there (vLLM's NgramProposer tries the same sizes and
// takes the first occurrence; the most recent one is where a note copying a
// transcript currently is, and the backward scan stops there). dst is
// reused.
func ngramLookup(seq []int32, nmin, nmax, k int, dst []int32) []int32 {
	L := len(seq)
	for n := min(nmax, L-1); n >= nmin; n-- {
		suf := seq[L-n:]
	scan:
		for i := L - n - 1; i >= 0; i-- {
			for j := range n {
				if seq[i+j] != suf[j] {
					continue scan
				}
			}
			end := min(i+n+k, L)
			return append(dst[:0], seq[i+n:end]...)
		}
	}
	return dst[:0]
}
