package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"dayi/engine/chat"
	"dayi/engine/jsonschema"
	"dayi/engine/sample"
	"dayi/tokenizer"
)

// Request is one generation.
type Request struct {
	// Exactly one of Prompt (raw completion text), Messages (chat, rendered
	// with the model's template) or Tokens (already tokenized) is used.
	Prompt   string
	Messages []chat.Message
	Tokens   []int32
	// ParseSpecial lets special-token text in Prompt (e.g. "<|im_start|>")
	// become control tokens. Chat prompts always parse it.
	ParseSpecial bool
	// Template overrides the chat template by name ("chatml", "llama3"…).
	Template string
	// MaxTokens caps the generated tokens (0 = until end of generation or the
	// end of the context).
	MaxTokens int
	Sampling  sample.Options
	Stop      []string
	// Format constrains the output: nil, `"json"` (any JSON) or a JSON schema.
	Format []byte
}

// Done reasons, as Ollama reports them.
const (
	DoneStop   = "stop"   // end-of-generation token or stop string
	DoneLength = "length" // MaxTokens reached, or the context is full
)

// Result summarises a generation.
type Result struct {
	Text           string
	Tokens         []int32 // generated ids
	PromptTokens   int
	DoneReason     string
	StopString     string // the stop string that ended it, if any
	PromptDuration time.Duration
	EvalDuration   time.Duration
}

// ErrPromptTooLong is returned when the prompt does not fit the context; the
// prompt is never silently truncated.
var ErrPromptTooLong = errors.New("prompt too long")

// LM is a model with its tokenizer and chat template: what the CLI and the
// server use.
type LM struct {
	*Model
	Tok      *tokenizer.Tokenizer
	Template *chat.Template // nil when the model has none and none is named

	maskOnce sync.Once
	masker   *jsonschema.Masker
	maskErr  error
}

// NewLM wraps a loaded model with its tokenizer and chat template.
func NewLM(m *Model) (*LM, error) {
	tok, err := tokenizer.FromGGUF(m.File)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", m.File.Path, err)
	}
	if tok.NumTokens() != m.Hyper.Vocab {
		return nil, fmt.Errorf("%s: tokenizer has %d tokens, output layer %d", m.File.Path, tok.NumTokens(), m.Hyper.Vocab)
	}
	lm := &LM{Model: m, Tok: tok}
	if src := m.File.String("tokenizer.chat_template", ""); src != "" {
		if t, err := chat.Detect(src); err == nil {
			lm.Template = &t
		}
	}
	return lm, nil
}

// PromptTokens tokenizes a request's prompt as the model expects it.
func (lm *LM) PromptTokens(req *Request) ([]int32, *chat.Template, error) {
	switch {
	case req.Tokens != nil:
		return req.Tokens, nil, nil
	case req.Messages != nil:
		tmpl := lm.Template
		if req.Template != "" {
			t, err := chat.ByName(req.Template)
			if err != nil {
				return nil, nil, err
			}
			tmpl = &t
		}
		if tmpl == nil {
			return nil, nil, fmt.Errorf("model has no chat template; name one (%v)", chat.Names())
		}
		text, err := tmpl.Render(req.Messages, true)
		if err != nil {
			return nil, nil, err
		}
		return lm.Tok.Encode(text, true, true), tmpl, nil
	default:
		return lm.Tok.Encode(req.Prompt, true, req.ParseSpecial), nil, nil
	}
}

func (lm *LM) jsonMasker() (*jsonschema.Masker, error) {
	lm.maskOnce.Do(func() { lm.masker, lm.maskErr = jsonschema.NewMasker(lm.Tok) })
	return lm.masker, lm.maskErr
}

// Generate runs req, calling onText with each piece of complete UTF-8 text as
// it is produced (stop strings are held back and never emitted). It returns
// when generation ends, ctx is cancelled, or onText returns an error.
func (lm *LM) Generate(ctx context.Context, req *Request, onText func(string) error) (*Result, error) {
	ids, tmpl, err := lm.PromptTokens(req)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		if lm.Tok.BOS() < 0 {
			return nil, fmt.Errorf("empty prompt and the model has no BOS token")
		}
		ids = []int32{lm.Tok.BOS()}
	}
	if len(ids) >= lm.Ctx {
		return nil, fmt.Errorf("%w: %d tokens, context length %d", ErrPromptTooLong, len(ids), lm.Ctx)
	}
	var grammar *jsonschema.State
	var mask []bool
	var masker *jsonschema.Masker
	if len(req.Format) > 0 {
		g, err := jsonschema.Compile(req.Format)
		if err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		if masker, err = lm.jsonMasker(); err != nil {
			return nil, err
		}
		grammar = g.NewState()
		mask = make([]bool, lm.Tok.NumTokens())
	}
	stops := append([]string(nil), req.Stop...)
	if tmpl != nil {
		stops = append(stops, tmpl.StopStrings()...)
	}
	sess, err := lm.NewSession()
	if err != nil {
		return nil, err
	}
	defer sess.Close()

	res := &Result{PromptTokens: len(ids)}
	start := time.Now()
	logits, err := sess.Eval(ctx, ids)
	if err != nil {
		return nil, err
	}
	res.PromptDuration = time.Since(start)
	start = time.Now()
	defer func() { res.EvalDuration = time.Since(start) }()

	smp := sample.New(req.Sampling)
	for _, id := range ids {
		smp.Accept(id)
	}
	stream := lm.Tok.NewStream()
	stopper := sample.NewStopMatcher(stops)
	var text []byte
	emit := func(s string) error {
		if s == "" {
			return nil
		}
		text = append(text, s...)
		return onText(s)
	}
	finish := func(reason string) (*Result, error) {
		if reason != DoneStop || res.StopString == "" {
			if err := emit(stopper.Flush()); err != nil {
				return nil, err
			}
		}
		res.DoneReason = reason
		res.Text = string(text)
		return res, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if req.MaxTokens > 0 && len(res.Tokens) >= req.MaxTokens {
			return finish(DoneLength)
		}
		var m []bool
		if grammar != nil {
			if err := masker.Fill(grammar, mask); err != nil {
				return nil, err
			}
			m = mask
		}
		id := smp.Sample(logits, m)
		if id == sample.NoToken {
			return nil, fmt.Errorf("sampling: no token allowed")
		}
		if lm.Tok.IsEOG(id) {
			piece, stopped := stopper.Push(stream.Flush())
			if err := emit(piece); err != nil {
				return nil, err
			}
			if stopped {
				res.StopString, _ = stopper.Matched()
			}
			return finish(DoneStop)
		}
		res.Tokens = append(res.Tokens, id)
		smp.Accept(id)
		if grammar != nil {
			if err := grammar.Advance(lm.Tok.TokenBytes(id)); err != nil {
				return nil, fmt.Errorf("grammar: %w", err)
			}
		}
		piece, stopped := stopper.Push(stream.Add(id))
		if err := emit(piece); err != nil {
			return nil, err
		}
		if stopped {
			res.StopString, _ = stopper.Matched()
			return finish(DoneStop)
		}
		if grammar != nil && grammar.Done() && !lm.anyAllowed(masker, grammar, mask) {
			return finish(DoneStop)
		}
		if sess.Pos() >= lm.Ctx {
			return finish(DoneLength) // context full: generation ends here, nothing is shifted out
		}
		if logits, err = sess.Eval(ctx, []int32{id}); err != nil {
			return nil, err
		}
	}
}

// anyAllowed reports whether the grammar still allows a non-EOG token (a
// complete JSON document allows none, so generation can end without waiting
// for the model to choose EOG).
func (lm *LM) anyAllowed(m *jsonschema.Masker, s *jsonschema.State, mask []bool) bool {
	if err := m.Fill(s, mask); err != nil {
		return false
	}
	for id, ok := range mask {
		if ok && !lm.Tok.IsEOG(int32(id)) {
			return true
		}
	}
	return false
}
