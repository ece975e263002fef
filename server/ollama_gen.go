package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/engine"
	"dayi/engine/chat"
)

// generateRequest is /api/generate's body (api.GenerateRequest's fields we
// honour, plus dayi's knowledge and patient_id).
type generateRequest struct {
	Model     string            `json:"model"`
	Prompt    string            `json:"prompt"`
	Suffix    string            `json:"suffix"`
	System    string            `json:"system"`
	Template  string            `json:"template"`
	Context   []int             `json:"context"`
	Stream    *bool             `json:"stream"`
	Raw       bool              `json:"raw"`
	Format    json.RawMessage   `json:"format"`
	KeepAlive *api.Duration     `json:"keep_alive"`
	Images    []json.RawMessage `json:"images"`
	Options   json.RawMessage   `json:"options"`
	Knowledge string            `json:"knowledge"`
	PatientID string            `json:"patient_id"`
	Shift     *bool             `json:"shift"`    // Ollama's: false stops at the context end (kvshift.go)
	Truncate  *bool             `json:"truncate"` // true: a prompt over the context is cut, not refused (kvshift.go)
}

// chatMessage is one /api/chat message.
type chatMessage struct {
	Role      string            `json:"role"`
	Content   string            `json:"content"`
	Images    []json.RawMessage `json:"images,omitempty"`
	ToolCalls []struct {
		Function struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls,omitempty"`
}

// chatRequest is /api/chat's body.
type chatRequest struct {
	Model     string          `json:"model"`
	Messages  []chatMessage   `json:"messages"`
	Stream    *bool           `json:"stream"`
	Format    json.RawMessage `json:"format"`
	KeepAlive *api.Duration   `json:"keep_alive"`
	Tools     json.RawMessage `json:"tools"`
	Options   json.RawMessage `json:"options"`
	Template  string          `json:"template"`
	Knowledge string          `json:"knowledge"`
	PatientID string          `json:"patient_id"`
	Shift     *bool           `json:"shift"`    // as generateRequest
	Truncate  *bool           `json:"truncate"` // as generateRequest
}

func decodeOptions(raw json.RawMessage) (options, error) {
	var o options
	if s := strings.TrimSpace(string(raw)); s != "" && s != "null" {
		if err := json.Unmarshal(raw, &o); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return o, fieldError("options."+te.Field, "must be %s, not %s", te.Type, te.Value)
			}
			return o, fieldError("options", "%v", err)
		}
	}
	return o, o.validate(false)
}

// checkGenerate bounds /api/generate's fields (limits.go) before any work.
func checkGenerate(req *generateRequest) error {
	if err := checkCommon(false, req.Model, req.Knowledge, req.PatientID); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{{"prompt", req.Prompt}, {"system", req.System}, {"template", req.Template}, {"format", string(req.Format)}} {
		if err := lim(f.field).bytes(false, "", f.v); err != nil {
			return err
		}
	}
	if err := lim("context").count(false, len(req.Context)); err != nil {
		return err
	}
	for i, id := range req.Context {
		if err := lim("context[]").value(false, float64(id)); err != nil {
			return fieldError(fmt.Sprintf("context[%d]", i), "token id %d is invalid", id)
		}
	}
	return checkKeepAlive(req.KeepAlive)
}

// checkChat bounds /api/chat's fields (limits.go) before any work.
func checkChat(req *chatRequest) error {
	if err := checkCommon(false, req.Model, req.Knowledge, req.PatientID); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{{"template", req.Template}, {"format", string(req.Format)}} {
		if err := lim(f.field).bytes(false, "", f.v); err != nil {
			return err
		}
	}
	contents := make([]string, 0, len(req.Messages))
	for _, m := range req.Messages {
		contents = append(contents, m.Content)
	}
	if err := checkMessages(false, contents); err != nil {
		return err
	}
	return checkKeepAlive(req.KeepAlive)
}

// parseGenerate turns a decoded /api/generate body into a job.
func parseGenerate(req *generateRequest) (*job, error) {
	if err := checkGenerate(req); err != nil {
		return nil, err
	}
	if err := checkImageCount(false, len(req.Images)); err != nil {
		return nil, err
	}
	images, err := ollamaImages("images", req.Images)
	if err != nil {
		return nil, err
	}
	prompt, err := PlaceImages("prompt", req.Prompt, len(images))
	if err != nil {
		return nil, err
	}
	if _, err := PlaceImages("system", req.System, 0); err != nil {
		return nil, err
	}
	if req.Suffix != "" {
		return nil, badRequest("suffix (fill-in-the-middle) is not supported")
	}
	opts, err := decodeOptions(req.Options)
	if err != nil {
		return nil, err
	}
	f, err := checkFormat(req.Format)
	if err != nil {
		return nil, err
	}
	j := &job{model: req.Model, prompt: prompt, system: req.System, raw: req.Raw, template: req.Template, format: f,
		opts: opts, defaults: ollamaDefaults(), keepAlive: keepAlive(req.KeepAlive), knowledge: req.Knowledge, patientID: req.PatientID,
		shift: req.Shift, truncate: req.Truncate, images: images}
	for _, id := range req.Context {
		if id < 0 || id > math.MaxInt32 {
			return nil, badRequest("context holds an invalid token id %d", id)
		}
		j.context = append(j.context, int32(id))
	}
	return j, nil
}

// parseChat turns a decoded /api/chat body into a job.
func parseChat(req *chatRequest) (*job, error) {
	if err := checkChat(req); err != nil {
		return nil, err
	}
	opts, err := decodeOptions(req.Options)
	if err != nil {
		return nil, err
	}
	f, err := checkFormat(req.Format)
	if err != nil {
		return nil, err
	}
	j := &job{model: req.Model, chat: true, template: req.Template, format: f, opts: opts, defaults: ollamaDefaults(),
		keepAlive: keepAlive(req.KeepAlive), knowledge: req.Knowledge, patientID: req.PatientID, shift: req.Shift, truncate: req.Truncate}
	if t := strings.TrimSpace(string(req.Tools)); t != "" && t != "null" && t != "[]" {
		var probe []json.RawMessage
		if json.Unmarshal(req.Tools, &probe) != nil {
			return nil, fieldError("tools", "must be an array")
		}
		if err := lim("tools").count(false, len(probe)); err != nil {
			return nil, err
		}
		j.tools = req.Tools
	}
	n := 0
	for _, m := range req.Messages {
		n += len(m.Images)
	}
	if err := checkImageCount(false, n); err != nil {
		return nil, err
	}
	for i, m := range req.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		images, err := ollamaImages(field+".images", m.Images)
		if err != nil {
			return nil, err
		}
		if m.Content, err = PlaceImages(field+".content", m.Content, len(images)); err != nil {
			return nil, err
		}
		j.images = append(j.images, images...)
		role := strings.ToLower(m.Role)
		switch role {
		case "system", "user", "assistant", "tool":
		default:
			return nil, badRequest("messages[%d].role %q: want system, user, assistant or tool", i, m.Role)
		}
		content := m.Content
		for _, tc := range m.ToolCalls {
			args := tc.Function.Arguments
			if len(args) == 0 {
				args = json.RawMessage("{}")
			}
			b, _ := json.Marshal(toolCall{Name: tc.Function.Name, Arguments: args})
			content += "<tool_call>" + string(b) + "</tool_call>"
		}
		j.messages = append(j.messages, chat.Message{Role: role, Content: content})
	}
	return j, nil
}

// metricsJSON is the tail of Ollama's final streamed object.
type metricsJSON struct {
	TotalDuration      int64 `json:"total_duration"`
	LoadDuration       int64 `json:"load_duration"`
	PromptEvalCount    int   `json:"prompt_eval_count"`
	PromptEvalDuration int64 `json:"prompt_eval_duration"`
	EvalCount          int   `json:"eval_count"`
	EvalDuration       int64 `json:"eval_duration"`
}

func metricsOf(o *outcome, start time.Time) metricsJSON {
	return metricsJSON{TotalDuration: ns(time.Since(start)), LoadDuration: ns(o.loadDur), PromptEvalCount: o.promptTokens,
		PromptEvalDuration: ns(o.promptDur), EvalCount: o.evalCount, EvalDuration: ns(o.evalDur)}
}

type generateChunk struct {
	Model      string     `json:"model"`
	CreatedAt  time.Time  `json:"created_at"`
	Response   string     `json:"response"`
	Done       bool       `json:"done"`
	DoneReason string     `json:"done_reason,omitempty"`
	Context    []int32    `json:"context,omitempty"`
	Citations  []Citation `json:"citations,omitempty"`
	*metricsJSON
}

type chatOut struct {
	Role      string        `json:"role"`
	Content   string        `json:"content"`
	ToolCalls []ollamaToolC `json:"tool_calls,omitempty"`
}

type ollamaToolC struct {
	Function toolCall `json:"function"`
}

type chatChunk struct {
	Model      string     `json:"model"`
	CreatedAt  time.Time  `json:"created_at"`
	Message    chatOut    `json:"message"`
	Done       bool       `json:"done"`
	DoneReason string     `json:"done_reason,omitempty"`
	Citations  []Citation `json:"citations,omitempty"`
	*metricsJSON
}

// decodeJob decodes a generation request of type T and turns it into a job
// with parse; on failure it has already answered the client.
func decodeJob[T any](s *Server, w http.ResponseWriter, r *http.Request, parse func(*T) (*job, error)) (*T, *job, bool) {
	req := new(T)
	if err := decode(r, req); err != nil {
		s.fail(w, r, err)
		return nil, nil, false
	}
	j, err := parse(req)
	if err != nil {
		s.fail(w, r, err)
		return nil, nil, false
	}
	return req, j, true
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	req, j, ok := decodeJob(s, w, r, parseGenerate)
	if !ok {
		return
	}
	if j.prompt == "" && req.System == "" && len(req.Context) == 0 {
		s.loadOnly(w, r, j, false)
		return
	}
	s.ollamaStream(w, r, j, req.Stream == nil || *req.Stream, false)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	req, j, ok := decodeJob(s, w, r, parseChat)
	if !ok {
		return
	}
	if len(j.messages) == 0 {
		s.loadOnly(w, r, j, true)
		return
	}
	s.ollamaStream(w, r, j, req.Stream == nil || *req.Stream, true)
}

// loadOnly answers Ollama's "load the model" (empty prompt) and "unload it"
// (empty prompt with keep_alive 0) requests.
func (s *Server) loadOnly(w http.ResponseWriter, r *http.Request, j *job, isChat bool) {
	info(r).model = canonical(j.model)
	reason := "load"
	if s.fallback == nil || !s.fallback.named(j.model) {
		// A load-only request holds a slot like a generation: a burst of
		// them must not load models past the server's limits.
		release, err := s.admit.acquire(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer release()
		l, _, err := s.reg.acquire(r.Context(), j.model)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.reg.release(l, j.keepAlive)
		if j.keepAlive != nil && *j.keepAlive == 0 {
			reason = "unload"
		}
	}
	now := time.Now().UTC()
	if isChat {
		writeJSON(w, http.StatusOK, chatChunk{Model: j.model, CreatedAt: now, Message: chatOut{Role: "assistant"}, Done: true, DoneReason: reason})
		return
	}
	writeJSON(w, http.StatusOK, generateChunk{Model: j.model, CreatedAt: now, Done: true, DoneReason: reason})
}

// ollamaStream runs j and writes NDJSON chunks (or one object when stream is
// false) as Ollama does.
func (s *Server) ollamaStream(w http.ResponseWriter, r *http.Request, j *job, stream, isChat bool) {
	start := time.Now()
	st := s.newStreamer(w, "application/x-ndjson")
	piece := func(text string) any {
		if isChat {
			return chatChunk{Model: j.model, CreatedAt: time.Now().UTC(), Message: chatOut{Role: "assistant", Content: text}}
		}
		return generateChunk{Model: j.model, CreatedAt: time.Now().UTC(), Response: text}
	}
	onText := func(string) error { return nil }
	if stream {
		onText = func(t string) error { return st.json(piece(t)) }
	}
	o, err := s.run(st.watch(r.Context()), r, j, onText)
	if err != nil {
		if st.started {
			if statusOf(err) == 499 {
				markGone(w)
			} else {
				s.logStreamErr(r, err)
				st.json(ollamaErr{Error: clientError(r, err).Error()})
			}
			return
		}
		w.Header().Del("Content-Type")
		s.fail(w, r, err)
		return
	}
	m := metricsOf(o, start)
	text := ""
	if !stream {
		text = o.text
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	if isChat {
		c := chatChunk{Model: j.model, CreatedAt: time.Now().UTC(), Message: chatOut{Role: "assistant", Content: text},
			Done: true, DoneReason: o.doneReason, Citations: o.citations, metricsJSON: &m}
		for _, tc := range o.toolCalls {
			c.Message.ToolCalls = append(c.Message.ToolCalls, ollamaToolC{Function: tc})
		}
		st.json(c)
		return
	}
	st.json(generateChunk{Model: j.model, CreatedAt: time.Now().UTC(), Response: text, Done: true, DoneReason: o.doneReason,
		Context: o.context, Citations: o.citations, metricsJSON: &m})
}

// embedRequest is /api/embed's body.
type embedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Truncate   *bool           `json:"truncate"`
	Dimensions int             `json:"dimensions"`
	KeepAlive  *api.Duration   `json:"keep_alive"`
	Options    json.RawMessage `json:"options"`
	Images     json.RawMessage `json:"images"` // refused (textOnly): embedding models read text
}

// inputs reads a string or an array of strings.
func inputs(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("input must be a string or an array of strings")
	}
	return many, nil
}

// embed embeds texts on the model (locally or on the fallback).
func (s *Server) embed(ctx context.Context, r *http.Request, model string, texts []string, truncate bool, ka *time.Duration) ([][]float32, int, time.Duration, error) {
	ri := info(r)
	ri.model = canonical(model)
	if len(texts) > 0 { // Ollama answers an empty list with no embeddings
		if err := checkTexts("input", texts, maxEmbedInputs); err != nil {
			return nil, 0, 0, err
		}
	}
	release, err := s.admit.acquire(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	defer release()
	if s.fallback != nil && s.fallback.named(model) {
		v, n, err := s.embedFallback(ctx, ri, model, texts, truncate)
		ri.in = n
		return v, n, 0, err
	}
	l, loadDur, err := s.reg.acquire(ctx, model)
	if err != nil {
		if errors.Is(err, ErrUnsupportedArch) && s.fallback != nil {
			v, n, err := s.embedFallback(ctx, ri, model, texts, truncate)
			ri.in = n
			return v, n, 0, err
		}
		return nil, 0, 0, err
	}
	defer s.reg.release(l, ka)
	endSession, err := s.reg.session(l) // embedding allocates a KV cache too
	if err != nil {
		return nil, 0, 0, err
	}
	defer endSession()
	ri.backend = "local"
	// An encoder packs several texts into one step (engine.EmbedBatch).
	out, counts, err := l.lm.EmbedBatch(ctx, texts, truncate)
	if err != nil {
		var ie *engine.InputError
		switch {
		case errors.Is(err, engine.ErrEncoderOnly):
			return nil, 0, 0, badRequest("model %q: %v", model, err)
		case errors.As(err, &ie) && errors.Is(err, engine.ErrPromptTooLong):
			return nil, 0, 0, badRequest("input[%d]: %v", ie.Index, ie.Err)
		case errors.As(err, &ie) && ie.Index < len(texts) && texts[ie.Index] == "":
			return nil, 0, 0, badRequest("input[%d] is empty", ie.Index)
		}
		return nil, 0, 0, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	ri.in = total
	return out, total, loadDur, nil
}

// shorten keeps the first dims values and renormalises (Ollama's and
// OpenAI's `dimensions`).
func shorten(vs [][]float32, dims int) {
	for i, v := range vs {
		if dims <= 0 || dims >= len(v) {
			continue
		}
		v = v[:dims]
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if n > 0 {
			inv := 1 / math.Sqrt(n)
			for k := range v {
				v[k] = float32(float64(v[k]) * inv)
			}
		}
		vs[i] = v
	}
}

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req embedRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	texts, err := inputs(req.Input)
	if err == nil {
		err = textOnly("images", req.Images)
	}
	if err == nil {
		err = checkEmbed(false, req.Model, texts, req.Dimensions, req.KeepAlive)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vs, n, load, err := s.embed(r.Context(), r, req.Model, texts, req.Truncate == nil || *req.Truncate, keepAlive(req.KeepAlive))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := shortenChecked(vs, req.Dimensions); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": req.Model, "embeddings": vs,
		"total_duration": ns(time.Since(start)), "load_duration": ns(load), "prompt_eval_count": n})
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model     string          `json:"model"`
		Prompt    string          `json:"prompt"`
		KeepAlive *api.Duration   `json:"keep_alive"`
		Images    json.RawMessage `json:"images"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := textOnly("images", req.Images); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkEmbed(false, req.Model, []string{req.Prompt}, 0, req.KeepAlive); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Prompt == "" { // Ollama answers an empty prompt with an empty embedding
		writeJSON(w, http.StatusOK, map[string]any{"embedding": []float64{}})
		return
	}
	vs, _, _, err := s.embed(r.Context(), r, req.Model, []string{req.Prompt}, true, keepAlive(req.KeepAlive))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]float64, len(vs[0]))
	for i, v := range vs[0] {
		out[i] = float64(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"embedding": out})
}
