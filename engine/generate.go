package engine

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"dayi/engine/chat"
	"dayi/engine/jsonschema"
	"dayi/engine/sample"
	"dayi/tokenizer"
	"dayi/vision"
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
	// Shift lets a generation that fills the context go on (context shift,
	// ctxshift.go): the first NumKeep tokens stay, half of the rest is
	// dropped. Without it a full context ends the generation with
	// DoneLength. With Shift, MaxShiftedTokens bounds the generation.
	Shift   bool
	NumKeep int
	// CacheScope partitions the prefix cache: a request reuses only what
	// requests of the same scope left (the server passes the API key's
	// identity), so a cache hit's speed tells nothing about other clients'
	// prompts.
	CacheScope string
	// Images are the request's decoded images, in the order of the
	// ImageMarker occurrences in the prompt text (image.go).
	Images []image.Image
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
	PromptCached   int // prompt tokens taken from the prefix cache, not computed
	Shifts         int // context shifts made
	DoneReason     string
	StopString     string // the stop string that ended it, if any
	PromptDuration time.Duration
	EvalDuration   time.Duration
	// Drafted and DraftAccepted count the speculative proposals verified
	// and accepted (speculative.go); zero without speculation.
	Drafted, DraftAccepted int
}

// ErrPromptTooLong is returned when the prompt does not fit the context; the
// prompt is never silently truncated.
var ErrPromptTooLong = errors.New("prompt too long")

// LM is a model with its tokenizer and chat template: what the CLI and the
// server use.
type LM struct {
	*Model
	Tok      *tokenizer.Tokenizer
	Template *chat.Template  // nil when the model has none and none is named
	proj     *vision.Encoder // the attached vision projector (image.go); nil: none

	maskOnce sync.Once
	masker   *jsonschema.Masker
	maskErr  error

	spec *specConfig // speculative decoding (SetSpeculation); nil: off
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
	g, err := lm.start(ctx, req, onText)
	if err != nil {
		return nil, err
	}
	defer g.close()
	for {
		id, done, err := g.next(ctx)
		for g.spec != nil && err == nil && !done {
			// Speculative rounds while they find something to propose;
			// each leaves the next token to feed.
			var fed bool
			if id, fed, done, err = g.speculate(ctx, id); !fed {
				break
			}
		}
		if err != nil || done {
			return g.res, err
		}
		if _, err := g.sess.Eval(ctx, []int32{id}); err != nil {
			return nil, err
		}
	}
}

// generation is one request in flight: its session, sampler, grammar state
// and the text produced so far. LM.Generate and the Scheduler drive it.
type generation struct {
	lm      *LM
	req     *Request
	sess    *Session
	smp     *sample.Sampler
	stream  *tokenizer.Stream
	stopper *sample.StopMatcher
	grammar *jsonschema.State
	masker  *jsonschema.Masker
	mask    []bool
	onText  func(string) error
	text    []byte
	res     *Result
	evalAt  time.Time
	// fed are the tokens the session has evaluated (fed[i] at position i),
	// for the prefix cache; shifted: a context shift re-rotated the cache,
	// which a cold run would not reproduce, so it is not cached again.
	fed     []int32
	shifted bool
	// media is a prompt with images (image.go); its generation bypasses the
	// prefix cache, whose entries are keyed by token ids alone.
	media *mediaPrompt
	spec  *speculator // nil: no speculative decoding
}

// close frees the generation's sessions.
func (g *generation) close() {
	g.sess.Close()
	if g.spec != nil {
		g.spec.close()
	}
}

// start tokenizes and prefills req; the session's logits then predict the
// first generated token.
func (lm *LM) start(ctx context.Context, req *Request, onText func(string) error) (*generation, error) {
	if err := lm.checkImages(req.Images); err != nil {
		return nil, err
	}
	var media *mediaPrompt // a prompt with images (image.go)
	var ids []int32
	var tmpl *chat.Template
	var err error
	if len(req.Images) > 0 {
		if media, tmpl, err = lm.imagePrompt(req); err == nil {
			ids = media.ids
		}
	} else {
		ids, tmpl, err = lm.PromptTokens(req)
	}
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
	g := &generation{lm: lm, req: req, onText: onText, res: &Result{PromptTokens: len(ids)}, media: media}
	if len(req.Format) > 0 {
		gr, err := jsonschema.Compile(req.Format)
		if err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		if g.masker, err = lm.jsonMasker(); err != nil {
			return nil, err
		}
		g.grammar = gr.NewState()
		g.mask = make([]bool, lm.Tok.NumTokens())
	}
	stops := append([]string(nil), req.Stop...)
	if tmpl != nil {
		stops = append(stops, tmpl.StopStrings()...)
	}
	if g.sess, err = lm.NewSession(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := g.prefill(ctx, ids); err != nil {
		g.sess.Close()
		return nil, err
	}
	g.res.PromptDuration = time.Since(t0)
	g.evalAt = time.Now()
	so := req.Sampling
	if so.RepeatLastN < 0 || so.RepeatLastN > lm.Ctx {
		// The penalty window never holds more than the context; bounding it here keeps the sampler's
		// allocation independent of what a caller asked for (issue 15, finding 1).
		so.RepeatLastN = lm.Ctx
	}
	g.smp = sample.New(so)
	for _, id := range ids {
		if id >= 0 { // image rows have no id
			g.smp.Accept(id)
		}
	}
	g.stream = lm.Tok.NewStream()
	g.stopper = sample.NewStopMatcher(stops)
	if media == nil {
		// A draft model cannot see the images, and an n-gram proposer would
		// copy image rows (id -1) as tokens: requests with images decode
		// plainly.
		g.spec = lm.newSpeculator(so)
	}
	return g, nil
}

func (g *generation) emit(s string) error {
	if s == "" {
		return nil
	}
	g.text = append(g.text, s...)
	return g.onText(s)
}

// prefill evaluates the prompt, starting from its longest prefix in the
// model's prefix cache, and caches the prompt for the requests that follow.
func (g *generation) prefill(ctx context.Context, ids []int32) error {
	if g.media != nil {
		g.fed = append(make([]int32, 0, len(ids)+64), ids...)
		return g.prefillMedia(ctx, g.media)
	}
	pc := g.lm.prefix
	n := 0
	if pc != nil {
		var err error
		if n, err = pc.restore(g.sess, g.req.CacheScope, ids); err != nil {
			return err
		}
	}
	g.res.PromptCached = n
	if err := g.lm.evalTail(ctx, g.sess, ids[n:], n > 0); err != nil {
		return err
	}
	g.fed = append(make([]int32, 0, len(ids)+64), ids...)
	if pc != nil {
		return pc.store(g.sess, g.req.CacheScope, g.fed)
	}
	return nil
}

func (g *generation) finish(reason string) error {
	if pc := g.lm.prefix; pc != nil && !g.shifted && g.media == nil {
		// The whole exchange: the next chat turn starts with it.
		if err := pc.store(g.sess, g.req.CacheScope, g.fed); err != nil {
			return err
		}
	}
	if g.res.StopString == "" {
		if err := g.emit(g.stopper.Flush()); err != nil {
			return err
		}
	}
	g.res.DoneReason = reason
	g.res.Text = string(g.text)
	g.res.EvalDuration = time.Since(g.evalAt)
	return nil
}

// next samples from the session's current logits, emits text, and returns the
// token to feed next, or done when the generation has ended (g.res is then
// complete).
func (g *generation) next(ctx context.Context) (int32, bool, error) {
	return g.nextFrom(ctx, g.sess.Logits(), sample.NoToken, nil)
}

// nextFrom is next with the logits of the session's last position given:
// the current ones, or a row of a speculative verification step, where
// draft is the proposed token (judged by the speculative acceptance rule
// instead of drawn afresh; q its draft distribution, nil for a
// deterministic proposal). The session's Pos must equal len(g.fed).
func (g *generation) nextFrom(ctx context.Context, logits []float32, draft int32, q []float32) (int32, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	lm, res := g.lm, g.res
	limit := g.req.MaxTokens
	if g.req.Shift && (limit == 0 || limit > MaxShiftedTokens(lm.Ctx)) {
		limit = MaxShiftedTokens(lm.Ctx)
	}
	if limit > 0 && len(res.Tokens) >= limit {
		return 0, true, g.finish(DoneLength)
	}
	var m []bool
	if g.grammar != nil {
		if err := g.masker.Fill(g.grammar, g.mask); err != nil {
			return 0, false, err
		}
		m = g.mask
	}
	var id int32
	if draft == sample.NoToken {
		id = g.smp.Sample(logits, m)
	} else {
		id = g.smp.Verify(logits, m, draft, q, g.spec.p)
	}
	if id == sample.NoToken {
		return 0, false, fmt.Errorf("sampling: no token allowed")
	}
	if lm.Tok.IsEOG(id) {
		piece, stopped := g.stopper.Push(g.stream.Flush())
		if err := g.emit(piece); err != nil {
			return 0, false, err
		}
		if stopped {
			res.StopString, _ = g.stopper.Matched()
		}
		return 0, true, g.finish(DoneStop)
	}
	res.Tokens = append(res.Tokens, id)
	g.smp.Accept(id)
	if g.grammar != nil {
		if err := g.grammar.Advance(lm.Tok.TokenBytes(id)); err != nil {
			return 0, false, fmt.Errorf("grammar: %w", err)
		}
	}
	piece, stopped := g.stopper.Push(g.stream.Add(id))
	if err := g.emit(piece); err != nil {
		return 0, false, err
	}
	if stopped {
		res.StopString, _ = g.stopper.Matched()
		return 0, true, g.finish(DoneStop)
	}
	if g.grammar != nil && g.grammar.Done() && !lm.anyAllowed(g.masker, g.grammar, g.mask) {
		return 0, true, g.finish(DoneStop)
	}
	if len(g.fed) >= lm.Ctx {
		// No shift with images: dropping half the history could cut an
		// image's soft tokens in two (llama.cpp's server refuses it too).
		if !g.req.Shift || !lm.canShift() || g.media != nil {
			return 0, true, g.finish(DoneLength)
		}
		if err := g.shift(); err != nil {
			return 0, false, err
		}
	}
	g.fed = append(g.fed, id)
	return id, false, nil
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
