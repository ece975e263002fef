package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/engine/chat"
)

// fallback sends requests for models dayi cannot run to an Ollama server,
// through Ollama's own Go client so the wire format is Ollama's by
// construction.
type fallback struct {
	client *api.Client
	host   string
	models []string
}

func newFallback(rawURL string, models []string) (*fallback, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("--fallback-ollama %q: want a URL such as http://127.0.0.1:11434", rawURL)
	}
	names := make([]string, 0, len(models))
	for _, m := range models {
		if m != "" {
			names = append(names, canonical(m))
		}
	}
	// No overall timeout: generations stream for as long as they take; the
	// request context bounds them.
	return &fallback{client: api.NewClient(u, &http.Client{}), host: u.Host, models: names}, nil
}

func (f *fallback) named(model string) bool { return slices.Contains(f.models, canonical(model)) }

// peerError carries the fallback server's status code through to our client.
type peerError struct {
	code int
	msg  string
}

func (e *peerError) Error() string   { return "fallback ollama: " + e.msg }
func (e *peerError) StatusCode() int { return e.code }

func peerErr(err error) error {
	var se api.StatusError
	if errors.As(err, &se) {
		return &peerError{code: se.StatusCode, msg: se.ErrorMessage}
	}
	var ae api.AuthorizationError
	if errors.As(err, &ae) {
		return &peerError{code: http.StatusBadGateway, msg: "the fallback server refused authorization"}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &peerError{code: http.StatusBadGateway, msg: err.Error()}
}

func (o *options) asMap() map[string]any {
	b, _ := json.Marshal(o)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	return m
}

// runFallback runs j on the fallback server, streaming its text through.
func (s *Server) runFallback(ctx context.Context, ri *reqInfo, j *job, onText func(string) error) (*outcome, error) {
	if s.fallback == nil {
		return nil, fmt.Errorf("no fallback configured")
	}
	if len(j.images) > 0 {
		return nil, fieldError("images", "not forwarded to the Ollama fallback (only models dayi runs with a vision projector take images)")
	}
	fb := s.fallback
	ri.backend = "ollama:" + fb.host
	// Without the peer's tokenizer, passages are budgeted at ~4 bytes a token.
	g, err := s.groundJob(ctx, j, 1024, func(t string) int { return (len(t) + 3) / 4 })
	if err != nil {
		return nil, err
	}
	if s.cfg.Audit != nil && s.cfg.Audit.Content() {
		ri.prompt = promptText(j)
	}
	stream := true
	var ka *api.Duration
	if j.keepAlive != nil {
		ka = &api.Duration{Duration: *j.keepAlive}
	}
	opts := j.opts.asMap()
	out := &outcome{citations: g.citations, backend: ri.backend}
	var text []byte
	emit := func(piece string) error {
		if piece == "" {
			return nil
		}
		text = append(text, piece...)
		return onText(piece)
	}
	finish := func(m api.Metrics, reason string) {
		out.promptTokens, out.evalCount = m.PromptEvalCount, m.EvalCount
		out.promptDur, out.evalDur, out.loadDur = m.PromptEvalDuration, m.EvalDuration, m.LoadDuration
		out.doneReason = reason
	}
	if j.chat || j.template != "" {
		msgs := j.messages
		if !j.chat {
			msgs = []chat.Message{{Role: "user", Content: j.prompt}}
			if j.system != "" {
				msgs = append([]chat.Message{{Role: "system", Content: j.system}}, msgs...)
			}
		}
		msgs = withSystem(msgs, g.system)
		req := &api.ChatRequest{Model: j.model, Stream: &stream, Format: j.format, KeepAlive: ka, Options: opts}
		for _, m := range msgs {
			req.Messages = append(req.Messages, api.Message{Role: m.Role, Content: m.Content})
		}
		err = fb.client.Chat(ctx, req, func(r api.ChatResponse) error {
			if err := emit(r.Message.Content); err != nil {
				return err
			}
			if r.Done {
				finish(r.Metrics, r.DoneReason)
				for _, tc := range r.Message.ToolCalls {
					args, _ := json.Marshal(tc.Function.Arguments)
					out.toolCalls = append(out.toolCalls, toolCall{Name: tc.Function.Name, Arguments: args})
				}
			}
			return nil
		})
	} else {
		prompt := j.prompt
		if g.system != "" {
			prompt = g.system + "\n\n" + prompt
		}
		req := &api.GenerateRequest{Model: j.model, Prompt: prompt, System: j.system, Raw: j.raw, Stream: &stream,
			Format: j.format, KeepAlive: ka, Options: opts}
		for _, id := range j.context {
			req.Context = append(req.Context, int(id))
		}
		err = fb.client.Generate(ctx, req, func(r api.GenerateResponse) error {
			if err := emit(r.Response); err != nil {
				return err
			}
			if r.Done {
				finish(r.Metrics, r.DoneReason)
				for _, id := range r.Context {
					out.context = append(out.context, int32(id))
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, peerErr(err)
	}
	out.text = string(text)
	ri.in, ri.out = out.promptTokens, out.evalCount
	if s.cfg.Audit != nil && s.cfg.Audit.Content() {
		ri.output = out.text
	}
	if len(j.tools) > 0 && out.toolCalls == nil {
		out.toolCalls = parseToolCalls(out.text)
	}
	s.remember(ctx, j, out.text)
	return out, nil
}

// embedFallback embeds inputs on the fallback server.
func (s *Server) embedFallback(ctx context.Context, ri *reqInfo, model string, inputs []string, truncate bool) ([][]float32, int, error) {
	ri.backend = "ollama:" + s.fallback.host
	resp, err := s.fallback.client.Embed(ctx, &api.EmbedRequest{Model: model, Input: inputs, Truncate: &truncate})
	if err != nil {
		return nil, 0, peerErr(err)
	}
	return resp.Embeddings, resp.PromptEvalCount, nil
}

// fallbackDetails lists the fallback models the peer has, for /api/tags.
func (s *Server) fallbackModels(ctx context.Context) []api.ListModelResponse {
	if s.fallback == nil || len(s.fallback.models) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	lr, err := s.fallback.client.List(ctx)
	if err != nil {
		return nil
	}
	var out []api.ListModelResponse
	for _, m := range lr.Models {
		if s.fallback.named(m.Name) {
			m.RemoteHost = s.fallback.host
			out = append(out, m)
		}
	}
	return out
}
