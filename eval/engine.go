package eval

import (
	"context"
	"errors"
	"fmt"
	"math"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/sample"
)

// EngineModel adapts an engine.LM for evaluation.
type EngineModel struct {
	LM *engine.LM
	// Chat asks generation questions through the model's chat template
	// (when it has one); raw completion otherwise.
	Chat bool
}

// Encode tokenizes as a prompt: with BOS when the model adds one.
func (e *EngineModel) Encode(text string) []int32 { return e.LM.Tok.Encode(text, true, false) }

// LogLikelihoods evaluates the context once and each continuation after it
// by rewinding the session to the end of the context — the same
// computation as one engine.LM.LogLikelihood call per continuation, without
// re-reading a long abstract for every option.
func (e *EngineModel) LogLikelihoods(ctx context.Context, context_ []int32, conts [][]int32) ([]float64, error) {
	if len(context_) == 0 {
		return nil, errors.New("loglikelihood: empty context")
	}
	for _, c := range conts {
		if len(c) == 0 {
			return nil, errors.New("loglikelihood: empty continuation")
		}
		if len(context_)+len(c) > e.LM.Ctx {
			return nil, fmt.Errorf("%w: %d tokens, context length %d", engine.ErrPromptTooLong, len(context_)+len(c), e.LM.Ctx)
		}
	}
	s, err := e.LM.NewSession()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	logits, err := s.Eval(ctx, context_)
	if err != nil {
		return nil, err
	}
	first := append([]float32(nil), logits...) // Eval reuses its slice
	n := s.Pos()
	out := make([]float64, len(conts))
	for k, cont := range conts {
		if err := s.Truncate(n); errors.Is(err, engine.ErrRewind) {
			// A compact sliding-window cache dropped rows of the context
			// while the last continuation ran: evaluate it again.
			s.Reset()
			if _, err := s.Eval(ctx, context_); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		lg := first
		total := 0.0
		for i, id := range cont {
			if int(id) < 0 || int(id) >= len(lg) {
				return nil, fmt.Errorf("loglikelihood: token %d outside the vocabulary", id)
			}
			total += logSoftmax(lg, id)
			if i+1 < len(cont) {
				if lg, err = s.Eval(ctx, []int32{id}); err != nil {
					return nil, err
				}
			}
		}
		out[k] = total
	}
	return out, nil
}

// logSoftmax is log softmax(logits)[id] in float64 (max-shifted, as
// engine.LM.LogLikelihood computes it).
func logSoftmax(logits []float32, id int32) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	return float64(logits[id]) - mx - math.Log(sum)
}

// Generate answers greedily (temperature 0, no repeat penalty) and stops at
// a blank line.
func (e *EngineModel) Generate(ctx context.Context, prompt string, maxTokens int) (string, error) {
	opt := sample.DefaultOptions()
	opt.Temperature, opt.RepeatPenalty, opt.Seed = 0, 1, 0
	req := &engine.Request{MaxTokens: maxTokens, Sampling: opt, Stop: []string{"\n\n"}}
	if e.Chat && e.LM.Template != nil {
		req.Messages = []chat.Message{{Role: "user", Content: prompt}}
	} else {
		req.Prompt = prompt
	}
	res, err := e.LM.Generate(ctx, req, func(string) error { return nil })
	if errors.Is(err, engine.ErrPromptTooLong) {
		return "", fmt.Errorf("%w: %v", errTooLong, err)
	}
	if err != nil {
		return "", err
	}
	return res.Text, nil
}
