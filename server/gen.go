package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/sample"
)

// options are Ollama's request options (api.Options field names). Pointers
// tell "unset" from zero; OpenAI requests fill the same struct, so one
// mapping to the sampler serves both APIs and the fallback.
type options struct {
	NumPredict       *int     `json:"num_predict,omitempty"`
	Temperature      *float32 `json:"temperature,omitempty"`
	TopK             *int     `json:"top_k,omitempty"`
	TopP             *float32 `json:"top_p,omitempty"`
	MinP             *float32 `json:"min_p,omitempty"`
	TypicalP         *float32 `json:"typical_p,omitempty"`
	RepeatLastN      *int     `json:"repeat_last_n,omitempty"`
	RepeatPenalty    *float32 `json:"repeat_penalty,omitempty"`
	PresencePenalty  *float32 `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float32 `json:"frequency_penalty,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	Stop             []string `json:"stop,omitempty"`
	NumCtx           *int     `json:"num_ctx,omitempty"`
	NumKeep          *int     `json:"num_keep,omitempty"`
	NumThread        *int     `json:"num_thread,omitempty"`
	NumBatch         *int     `json:"num_batch,omitempty"`
	NumGPU           *int     `json:"num_gpu,omitempty"`
	MainGPU          *int     `json:"main_gpu,omitempty"`
	UseMMap          *bool    `json:"use_mmap,omitempty"`
	// Shift: false ends a generation that fills the context (done_reason
	// "length") instead of shifting it (shiftOptions, kvshift.go).
	Shift *bool `json:"shift,omitempty"`

	logitBias map[int32]float32
}

// Ollama's defaults (api.DefaultOptions) and OpenAI's (temperature 1, top_p
// 1, no penalties): each API keeps its own clients' expectations.
func ollamaDefaults() sample.Options {
	return sample.Options{Temperature: 0.8, TopK: 40, TopP: 0.9, TypicalP: 1, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: -1}
}

func openaiDefaults() sample.Options {
	return sample.Options{Temperature: 1, TopP: 1, TypicalP: 1, RepeatPenalty: 1, RepeatLastN: 64, Seed: -1}
}

// sampling applies o over defaults. The parsers have already checked every
// option against the limits table (validate); this checks again, so no path
// reaches the sampler with an unchecked value.
func (o *options) sampling(d sample.Options) (sample.Options, int, error) {
	if err := o.validate(false); err != nil {
		return d, 0, err
	}
	if o.Temperature != nil {
		d.Temperature = *o.Temperature
	}
	if o.TopK != nil {
		d.TopK = *o.TopK
	}
	if o.TopP != nil {
		d.TopP = *o.TopP
	}
	if o.MinP != nil {
		d.MinP = *o.MinP
	}
	if o.TypicalP != nil {
		d.TypicalP = *o.TypicalP
	}
	if o.RepeatLastN != nil {
		d.RepeatLastN = *o.RepeatLastN
	}
	if o.RepeatPenalty != nil {
		d.RepeatPenalty = *o.RepeatPenalty
	}
	if o.PresencePenalty != nil {
		d.PresencePenalty = *o.PresencePenalty
	}
	if o.FrequencyPenalty != nil {
		d.FrequencyPenalty = *o.FrequencyPenalty
	}
	if o.Seed != nil {
		d.Seed = *o.Seed
	}
	d.LogitBias = o.logitBias
	n := 0
	if o.NumPredict != nil && *o.NumPredict > 0 { // -1 (infinite) and -2 (fill context) run to the end
		n = *o.NumPredict
	}
	return d, n, nil
}

// job is one generation request in API-neutral form.
type job struct {
	model     string
	chat      bool           // messages (chat) vs prompt (completion)
	messages  []chat.Message // chat
	prompt    string         // completion
	system    string         // /api/generate system
	raw       bool
	template  string // a template name
	format    json.RawMessage
	opts      options
	defaults  sample.Options
	keepAlive *time.Duration
	openai    bool    // came through /v1/: errors name OpenAI's fields
	context   []int32 // /api/generate context from a previous response
	knowledge string
	patientID string
	tools     json.RawMessage
	shift     *bool // Ollama's request-level shift (options.shift also works)
	truncate  *bool
	images    []imageRef // in the order of the engine.ImageMarkers in the text (images.go)
}

// outcome is what every API writer needs at the end.
type outcome struct {
	text         string
	promptTokens int
	evalCount    int
	doneReason   string
	promptDur    time.Duration
	evalDur      time.Duration
	loadDur      time.Duration
	context      []int32
	citations    []Citation
	toolCalls    []toolCall
	backend      string
}

// reqError is a client error with its status code.
type reqError struct {
	status int
	msg    string
	param  string // the request field at fault ("" if none): OpenAI's error param
}

func (e *reqError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &reqError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	var re *reqError
	var se statusErr
	switch {
	case errors.As(err, &re):
		return re.status
	case errors.As(err, &se):
		return se.StatusCode()
	case errors.Is(err, ErrUnknownModel):
		return http.StatusNotFound
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, engine.ErrPromptTooLong), errors.Is(err, ErrUnsupportedArch), errors.Is(err, engine.ErrNoVision), errors.Is(err, engine.ErrImagePrompt):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 499 // client closed the request (nginx's code); nobody reads it
	}
	return http.StatusInternalServerError
}

// statusErr is implemented by fallback errors that carry the peer's status.
type statusErr interface{ StatusCode() int }

// run executes j, streaming text to onText.
func (s *Server) run(ctx context.Context, r *http.Request, j *job, onText func(string) error) (*outcome, error) {
	ri := info(r)
	ri.model = canonical(j.model)
	// outer already checked the body's fields against the access table;
	// this second check keeps a patient's memory closed should a route
	// ever reach here another way.
	if j.patientID != "" {
		if err := s.require(ctx, featureScope("patient_id"), "patient_id"); err != nil {
			return nil, err
		}
	}
	if j.knowledge != "" {
		if err := s.require(ctx, featureScope("knowledge"), "knowledge"); err != nil {
			return nil, err
		}
	}
	if j.patientID != "" {
		ri.patientID = j.patientID
	}
	// Fallback requests hold a slot too: they cost a connection and a
	// stream each, and must not bypass the server's limits.
	release, err := s.admit.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if s.fallback != nil && s.fallback.named(j.model) {
		return s.runFallback(ctx, ri, j, onText)
	}
	// Decoded here, after admission: at most MaxActive requests hold
	// decoded pixels, and a corrupt image is a 400 before any model loads.
	images, releasePixels, err := s.decodeImages(ctx, j.images)
	if err != nil {
		return nil, err
	}
	defer releasePixels()
	l, loadDur, err := s.reg.acquire(ctx, j.model)
	if err != nil {
		if errors.Is(err, ErrUnsupportedArch) && s.fallback != nil {
			return s.runFallback(ctx, ri, j, onText)
		}
		return nil, err
	}
	defer s.reg.release(l, j.keepAlive)
	endSession, err := s.reg.session(l) // its KV cache counts against the model memory budget
	if err != nil {
		return nil, err
	}
	defer endSession()
	ri.backend = "local"
	lm := l.lm
	if lm.IsEncoder() {
		return nil, badRequest("model %q is an embedding or reranker model: it does not generate (use /api/embed, /v1/embeddings or /v1/rerank)", j.model)
	}
	if len(images) > 0 && !lm.HasVision() {
		return nil, noVision(j.model)
	}

	budget := min(1024, lm.Ctx/2)
	g, err := s.groundJob(ctx, j, budget, func(t string) int { return len(lm.Tok.Encode(t, false, false)) })
	if err != nil {
		return nil, err
	}
	req := &engine.Request{Template: j.template, Format: j.format, Images: images}
	if err := checkModelBounds(j, lm.Ctx, lm.Tok.NumTokens()); err != nil {
		return nil, err
	}
	if req.Sampling, req.MaxTokens, err = j.opts.sampling(j.defaults); err != nil {
		return nil, err
	}
	if req.Sampling.RepeatLastN < 0 || req.Sampling.RepeatLastN > lm.Ctx {
		req.Sampling.RepeatLastN = lm.Ctx
	}
	req.Stop = j.opts.Stop
	if j.template != "" {
		if _, err := chat.ByName(j.template); err != nil {
			return nil, badRequest("template %q: only named templates are supported (%s)", j.template, strings.Join(chat.Names(), ", "))
		}
	}
	if j.chat && j.template == "" && lm.Template == nil && s.cfg.DefaultTemplate != "none" {
		req.Template = s.cfg.DefaultTemplate
	}
	useChat := j.chat || (!j.raw && (lm.Template != nil || j.template != ""))
	if useChat {
		msgs := j.messages
		if !j.chat {
			if j.system != "" {
				msgs = append(msgs, chat.Message{Role: "system", Content: j.system})
			}
			msgs = append(msgs, chat.Message{Role: "user", Content: j.prompt})
		}
		req.Messages = withSystem(msgs, g.system)
	} else {
		req.Prompt = j.prompt
		if g.system != "" {
			req.Prompt = g.system + "\n\n" + j.prompt
		}
		req.ParseSpecial = j.raw
	}
	ids, tmpl, err := lm.PromptTokens(req)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if len(images) > 0 && len(j.context) > 0 {
		// context holds token ids, which cannot say where an image was.
		return nil, fieldError("context", "cannot be combined with images: send the conversation as /api/chat messages")
	}
	if len(j.context) > 0 && !useChat {
		ids = append(append([]int32(nil), j.context...), lm.Tok.Encode(req.Prompt, false, req.ParseSpecial)...)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= lm.Tok.NumTokens() {
			return nil, badRequest("context holds token id %d outside the vocabulary", id)
		}
	}
	limit := lm.Ctx - 1
	if s.cfg.MaxPromptTokens > 0 {
		limit = min(limit, s.cfg.MaxPromptTokens)
	}
	if len(ids) > limit && j.truncate != nil && *j.truncate && len(images) == 0 { // cutting could cut an image in half
		ids = truncatePrompt(ids, limit, &j.opts)
	}
	if len(ids) > limit {
		field := "prompt"
		if j.chat {
			field = "messages"
		}
		return nil, &reqError{status: http.StatusBadRequest, param: field,
			msg: fmt.Sprintf("prompt is %d tokens, the limit is %d (model context %d); shorten it", len(ids), limit, lm.Ctx)}
	}
	if tmpl != nil {
		req.Stop = append(append([]string(nil), req.Stop...), tmpl.StopStrings()...)
	}
	if len(images) == 0 {
		req.Tokens, req.Messages, req.Prompt = ids, nil, ""
	}
	// With images the engine tokenizes the prompt itself: each marker
	// becomes its image's soft tokens (engine.ImageMarker), which token
	// ids cannot carry. ids above counted each marker as text, so the
	// engine's own context check is the one that binds.
	if req.Shift, req.NumKeep, err = s.shiftOptions(j, len(ids)); err != nil {
		return nil, err
	}
	req.CacheScope = cacheScope(ri.keyID, j.images) // a client never times another's cached prompts
	ri.in = len(ids)
	if s.cfg.Audit != nil && s.cfg.Audit.Content() {
		ri.prompt = promptText(j)
	}

	start := time.Now()
	first := true
	res, err := l.gen.Generate(ctx, req, func(piece string) error {
		if first {
			first = false
			s.metrics.firstToken(ri.model, time.Since(start))
		}
		return onText(piece)
	})
	if err != nil {
		if errors.Is(err, engine.ErrPromptTooLong) {
			return nil, &reqError{status: http.StatusBadRequest, msg: err.Error()}
		}
		if errors.Is(err, engine.ErrSlowReader) {
			// Before ctx: interrupting the blocked write may cancel it.
			return nil, s.slowReader(ri, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	ri.out = len(res.Tokens)
	if len(images) > 0 {
		ri.in = res.PromptTokens // with the images' soft tokens
	}
	s.metrics.generation(ri.model, res)
	if s.cfg.Audit != nil && s.cfg.Audit.Content() {
		ri.output = res.Text
	}
	out := &outcome{text: res.Text, promptTokens: res.PromptTokens, evalCount: len(res.Tokens), doneReason: res.DoneReason,
		promptDur: res.PromptDuration, evalDur: res.EvalDuration, loadDur: loadDur, citations: g.citations, backend: "local"}
	if !useChat && len(images) == 0 {
		out.context = append(append([]int32(nil), ids...), res.Tokens...)
	}
	if len(j.tools) > 0 {
		out.toolCalls = parseToolCalls(res.Text)
	}
	s.remember(ctx, j, res.Text)
	return out, nil
}

// groundJob adds knowledge, memory and tool descriptions to the job's
// system text.
func (s *Server) groundJob(ctx context.Context, j *job, budget int, count func(string) int) (*grounding, error) {
	g := &grounding{}
	if j.knowledge != "" || j.patientID != "" {
		query := j.prompt
		if j.chat {
			query = lastUser(j.messages)
		}
		var err error
		if g, err = s.ground(ctx, j.knowledge, j.patientID, query, budget, count); err != nil {
			return nil, err
		}
	}
	if len(j.tools) > 0 {
		g.system = strings.TrimSpace(g.system + "\n\n" + toolsPrompt(j.tools))
	}
	// A knowledge passage, a remembered turn or a tool description holding
	// the image marker would take the place of one of the request's images.
	g.system = stripMarkers(g.system)
	return g, nil
}

// stripMarkers removes every engine.ImageMarker from s until none is left:
// one pass of strings.ReplaceAll leaves a marker behind when the text nests
// one inside another ("<__med" + marker + "ia__>"), which a client can send
// in a tool description and a document can carry into a knowledge base.
// Each pass shortens s, so the loop ends.
func stripMarkers(s string) string {
	for strings.Contains(s, engine.ImageMarker) {
		s = strings.ReplaceAll(s, engine.ImageMarker, "")
	}
	return s
}

// remember records the exchange in patient memory. A failure is logged, not
// returned: the clinician already has the answer.
func (s *Server) remember(ctx context.Context, j *job, answer string) {
	if j.patientID == "" || s.cfg.Memory == nil {
		return
	}
	q := j.prompt
	if j.chat {
		q = lastUser(j.messages)
	}
	q = strings.ReplaceAll(q, engine.ImageMarker, "[image]") // the memory keeps text, not the images
	if err := s.cfg.Memory.Record(context.WithoutCancel(ctx), j.patientID, Turn{User: q, Assistant: answer, Time: time.Now()}); err != nil {
		s.log.Warn("patient memory record failed", "err", redact(err.Error(), j.patientID))
	}
}

func promptText(j *job) string {
	if !j.chat {
		return strings.TrimSpace(j.system + "\n" + j.prompt)
	}
	var b strings.Builder
	for _, m := range j.messages {
		b.WriteString(m.Role + ": " + m.Content + "\n")
	}
	return b.String()
}

// toolCall is a parsed function call from the model's output.
type toolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// toolsPrompt describes the tools in the Hermes / Qwen2.5 style
// (<tool_call>{"name":…,"arguments":…}</tool_call>), the convention most
// open tool-calling models are trained on.
func toolsPrompt(tools json.RawMessage) string {
	return "You may call one or more functions to assist with the user query. The functions are:\n<tools>\n" +
		string(tools) + "\n</tools>\nFor each call, reply with a JSON object inside <tool_call></tool_call> tags: " +
		`<tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call>`
}

func parseToolCalls(text string) []toolCall {
	var out []toolCall
	for {
		_, rest, ok := strings.Cut(text, "<tool_call>")
		if !ok {
			return out
		}
		body, after, ok := strings.Cut(rest, "</tool_call>")
		if !ok {
			body = rest
		}
		var tc toolCall
		if json.Unmarshal([]byte(strings.TrimSpace(body)), &tc) == nil && tc.Name != "" {
			if len(tc.Arguments) == 0 {
				tc.Arguments = json.RawMessage("{}")
			}
			out = append(out, tc)
		}
		text = after
	}
}
