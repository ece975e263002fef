package engine

import (
	"context"
	"fmt"
	"math"
)

// Pooling says how token states become one embedding.
type Pooling int

// Pooling types, numbered as llama.cpp's enum llama_pooling_type.
const (
	PoolNone Pooling = 0
	PoolMean Pooling = 1
	PoolCLS  Pooling = 2
	PoolLast Pooling = 3
	// PoolRank is a reranker's: the classifier head's score of the CLS row
	// (LM.Rank); such a model has no embedding to give.
	PoolRank Pooling = 4
)

// Pooling returns the model's pooling from `<arch>.pooling_type`; decoder
// chat models have none and get mean pooling.
func (m *Model) Pooling() Pooling {
	switch p := Pooling(m.File.Int(m.File.ArchKey("pooling_type"), int64(PoolMean))); p {
	case PoolMean, PoolCLS, PoolLast, PoolRank:
		return p
	}
	return PoolMean
}

// Embed returns the L2-normalised embedding of text (as Ollama's /api/embed)
// and the number of tokens it used. Text longer than the context is an error,
// unless truncate is set, in which case it is cut to the context (Ollama's
// `truncate` option) and the cut is reported by the token count.
func (lm *LM) Embed(ctx context.Context, text string, truncate bool) ([]float32, int, error) {
	if lm.Pooling() == PoolRank {
		return nil, 0, fmt.Errorf("%w: it ranks (rank pooling), use it to rerank", ErrEncoderOnly)
	}
	ids := lm.Tok.Encode(text, true, false)
	if len(ids) == 0 {
		return nil, 0, fmt.Errorf("embed: empty input")
	}
	if len(ids) > lm.Ctx {
		if !truncate {
			return nil, 0, fmt.Errorf("%w: %d tokens, context length %d", ErrPromptTooLong, len(ids), lm.Ctx)
		}
		ids = ids[:lm.Ctx]
	}
	out, err := lm.Pooled(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	normalize(out)
	return out, len(ids), nil
}

// Pooled evaluates ids and pools their hidden states by the model's
// pooling (mean, CLS or last; llama-graph.cpp build_pooling), without
// normalisation: what llama_get_embeddings_seq gives.
func (lm *LM) Pooled(ctx context.Context, ids []int32) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("embed: empty input")
	}
	s, err := lm.NewSession()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	h, err := s.Hidden(ctx, ids)
	if err != nil {
		return nil, err
	}
	return lm.pool(h), nil
}

// LogLikelihood returns the sum of log-probabilities of continuation after
// prefix (both token ids; prefix is non-empty), and whether every
// continuation token was the greedy choice — lm-evaluation-harness's
// loglikelihood request.
func (lm *LM) LogLikelihood(ctx context.Context, prefix, continuation []int32) (float64, bool, error) {
	if len(prefix) == 0 || len(continuation) == 0 {
		return 0, false, fmt.Errorf("loglikelihood: empty context or continuation")
	}
	if len(prefix)+len(continuation) > lm.Ctx {
		return 0, false, fmt.Errorf("%w: %d tokens, context length %d", ErrPromptTooLong, len(prefix)+len(continuation), lm.Ctx)
	}
	s, err := lm.NewSession()
	if err != nil {
		return 0, false, err
	}
	defer s.Close()
	logits, err := s.Eval(ctx, prefix)
	if err != nil {
		return 0, false, err
	}
	total, greedy := 0.0, true
	for i, id := range continuation {
		lp, best := logSoftmaxAt(logits, id)
		total += lp
		greedy = greedy && best
		if i+1 < len(continuation) {
			if logits, err = s.Eval(ctx, []int32{id}); err != nil {
				return 0, false, err
			}
		}
	}
	return total, greedy, nil
}

// logSoftmaxAt is log softmax(logits)[id] in float64, and whether id is the
// argmax.
func logSoftmaxAt(logits []float32, id int32) (float64, bool) {
	mx := math.Inf(-1)
	arg := 0
	for i, v := range logits {
		if float64(v) > mx {
			mx, arg = float64(v), i
		}
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	return float64(logits[id]) - mx - math.Log(sum), int32(arg) == id
}
