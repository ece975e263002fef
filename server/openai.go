package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dayi/engine/chat"
)

// oaMessage is an OpenAI chat message; content is a string or an array of
// parts (only text parts are accepted).
type oaMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// oaChatRequest is /v1/chat/completions' body (the fields dayi honours, plus
// knowledge and patient_id).
type oaChatRequest struct {
	Model         string      `json:"model"`
	Messages      []oaMessage `json:"messages"`
	Stream        bool        `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int               `json:"max_tokens"`
	MaxCompletionTokens *int               `json:"max_completion_tokens"`
	Temperature         *float32           `json:"temperature"`
	TopP                *float32           `json:"top_p"`
	Stop                json.RawMessage    `json:"stop"`
	Seed                *int64             `json:"seed"`
	FrequencyPenalty    *float32           `json:"frequency_penalty"`
	PresencePenalty     *float32           `json:"presence_penalty"`
	N                   *int               `json:"n"`
	LogitBias           map[string]float32 `json:"logit_bias"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	Tools     json.RawMessage `json:"tools"`
	Knowledge string          `json:"knowledge"`
	PatientID string          `json:"patient_id"`
}

// oaCompletionRequest is /v1/completions' body.
type oaCompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens        *int               `json:"max_tokens"`
	Temperature      *float32           `json:"temperature"`
	TopP             *float32           `json:"top_p"`
	Stop             json.RawMessage    `json:"stop"`
	Seed             *int64             `json:"seed"`
	FrequencyPenalty *float32           `json:"frequency_penalty"`
	PresencePenalty  *float32           `json:"presence_penalty"`
	N                *int               `json:"n"`
	LogitBias        map[string]float32 `json:"logit_bias"`
	Echo             bool               `json:"echo"`
	Suffix           string             `json:"suffix"`
	Knowledge        string             `json:"knowledge"`
	PatientID        string             `json:"patient_id"`
}

// stops reads OpenAI's stop: a string or up to 4 strings.
func stops(raw json.RawMessage) ([]string, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fieldError("stop", "must be a string or an array of strings")
	}
	return many, nil
}

// commonOptions fills options from the OpenAI sampling fields.
func commonOptions(maxTokens *int, temp, topP, freq, pres *float32, seed *int64, n *int, bias map[string]float32, stop json.RawMessage) (options, error) {
	var o options
	if n != nil {
		if err := lim("n").value(true, float64(*n)); err != nil {
			return o, fieldError("n", "%d: only one choice per request is supported", *n)
		}
	}
	o.NumPredict = maxTokens
	o.Temperature, o.TopP, o.FrequencyPenalty, o.PresencePenalty, o.Seed = temp, topP, freq, pres, seed
	var err error
	if o.Stop, err = stops(stop); err != nil {
		return o, err
	}
	if err := lim("logit_bias").count(true, len(bias)); err != nil {
		return o, err
	}
	for k, v := range bias {
		id, err := strconv.ParseInt(k, 10, 32)
		if err != nil || id < 0 {
			return o, fieldError("logit_bias", "key %.20q is not a token id", k)
		}
		if o.logitBias == nil {
			o.logitBias = map[int32]float32{}
		}
		o.logitBias[int32(id)] = v
	}
	return o, o.validate(true)
}

// parseOAChat turns a decoded chat completion request into a job.
func parseOAChat(req *oaChatRequest) (*job, error) {
	if err := checkCommon(true, req.Model, req.Knowledge, req.PatientID); err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 {
		return nil, fieldError("messages", "must not be empty")
	}
	// Contents are flattened first: an image_url part's data: URL is
	// bounded by the image rows, not by a message's text limit.
	if err := lim("messages").count(true, len(req.Messages)); err != nil {
		return nil, err
	}
	contents := make([]string, 0, len(req.Messages))
	var images []imageRef
	for i, m := range req.Messages {
		text, refs, err := oaContentImages(m.Content, i)
		if err != nil {
			return nil, err
		}
		contents = append(contents, text)
		images = append(images, refs...)
	}
	if err := checkMessages(true, contents); err != nil {
		return nil, err
	}
	if err := checkImageCount(true, len(images)); err != nil {
		return nil, err
	}
	mt := req.MaxTokens
	if req.MaxCompletionTokens != nil {
		mt = req.MaxCompletionTokens
	}
	opts, err := commonOptions(mt, req.Temperature, req.TopP, req.FrequencyPenalty, req.PresencePenalty, req.Seed, req.N, req.LogitBias, req.Stop)
	if err != nil {
		return nil, err
	}
	j := &job{model: req.Model, chat: true, opts: opts, defaults: openaiDefaults(), knowledge: req.Knowledge, patientID: req.PatientID, openai: true,
		images: images}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			j.format = json.RawMessage(`"json"`)
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return nil, fieldError("response_format.json_schema.schema", "required")
			}
			if err := lim("format").bytes(true, "", string(rf.JSONSchema.Schema)); err != nil {
				return nil, err
			}
			if j.format, err = checkFormat(rf.JSONSchema.Schema); err != nil {
				return nil, err
			}
		default:
			return nil, badRequest("response_format.type %q: want text, json_object or json_schema", rf.Type)
		}
	}
	if t := strings.TrimSpace(string(req.Tools)); t != "" && t != "null" && t != "[]" {
		var tools []struct {
			Function json.RawMessage `json:"function"`
		}
		if err := json.Unmarshal(req.Tools, &tools); err != nil {
			return nil, fieldError("tools", "must be an array of {type, function}")
		}
		if err := lim("tools").count(true, len(tools)); err != nil {
			return nil, err
		}
		fns := make([]json.RawMessage, 0, len(tools))
		for _, t := range tools {
			fns = append(fns, t.Function)
		}
		j.tools, _ = json.Marshal(fns)
	}
	for i, m := range req.Messages {
		role := strings.ToLower(m.Role)
		switch role {
		case "developer":
			role = "system"
		case "system", "user", "assistant", "tool":
		default:
			return nil, badRequest("messages[%d].role %q is not supported", i, m.Role)
		}
		text := contents[i]
		for _, tc := range m.ToolCalls {
			args := json.RawMessage(tc.Function.Arguments)
			if !json.Valid(args) {
				args = json.RawMessage("{}")
			}
			b, _ := json.Marshal(toolCall{Name: tc.Function.Name, Arguments: args})
			text += "<tool_call>" + string(b) + "</tool_call>"
		}
		j.messages = append(j.messages, chat.Message{Role: role, Content: text})
	}
	return j, nil
}

func parseOACompletion(req *oaCompletionRequest) (*job, error) {
	if err := checkCommon(true, req.Model, req.Knowledge, req.PatientID); err != nil {
		return nil, err
	}
	if req.Suffix != "" || req.Echo {
		return nil, badRequest("suffix and echo are not supported")
	}
	prompts, err := inputs(req.Prompt)
	if err != nil || len(prompts) != 1 {
		return nil, fieldError("prompt", "must be a string (or an array holding one string)")
	}
	if err := lim("prompt").bytes(true, "", prompts[0]); err != nil {
		return nil, err
	}
	if _, err := PlaceImages("prompt", prompts[0], 0); err != nil { // no images here: a marker would be a stray one
		return nil, err
	}
	mt := req.MaxTokens
	if mt == nil {
		d := 16 // OpenAI's default for the legacy completions API
		mt = &d
	}
	opts, err := commonOptions(mt, req.Temperature, req.TopP, req.FrequencyPenalty, req.PresencePenalty, req.Seed, req.N, req.LogitBias, req.Stop)
	if err != nil {
		return nil, err
	}
	return &job{model: req.Model, prompt: prompts[0], raw: true, opts: opts, defaults: openaiDefaults(),
		knowledge: req.Knowledge, patientID: req.PatientID, openai: true}, nil
}

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaDelta struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
}

type oaChoice struct {
	Index        int      `json:"index"`
	Message      *oaDelta `json:"message,omitempty"`
	Delta        *oaDelta `json:"delta,omitempty"`
	Text         *string  `json:"text,omitempty"`
	Logprobs     *string  `json:"logprobs"`
	FinishReason *string  `json:"finish_reason"`
}

type oaResponse struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	SystemFingerprint string     `json:"system_fingerprint"`
	Choices           []oaChoice `json:"choices"`
	Usage             *oaUsage   `json:"usage,omitempty"`
	Citations         []Citation `json:"citations,omitempty"`
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func oaToolCalls(tcs []toolCall) []oaToolCall {
	var out []oaToolCall
	for i, tc := range tcs {
		c := oaToolCall{Index: i, ID: newID("call_"), Type: "function"}
		c.Function.Name, c.Function.Arguments = tc.Name, string(tc.Arguments)
		out = append(out, c)
	}
	return out
}

func (s *Server) handleOAChat(w http.ResponseWriter, r *http.Request) {
	req, j, ok := decodeJob(s, w, r, parseOAChat)
	if !ok {
		return
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s.openaiRun(w, r, j, req.Stream, usage, true)
}

func (s *Server) handleOACompletions(w http.ResponseWriter, r *http.Request) {
	req, j, ok := decodeJob(s, w, r, parseOACompletion)
	if !ok {
		return
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s.openaiRun(w, r, j, req.Stream, usage, false)
}

// openaiRun runs j and answers as a chat completion or a text completion,
// streamed as server-sent events or in one object.
func (s *Server) openaiRun(w http.ResponseWriter, r *http.Request, j *job, stream, includeUsage, isChat bool) {
	base := oaResponse{ID: newID("chatcmpl-"), Object: "chat.completion", Created: time.Now().Unix(), Model: j.model,
		SystemFingerprint: "fp_dayi"}
	if !isChat {
		base.ID, base.Object = newID("cmpl-"), "text_completion"
	}
	chunkObject := base.Object
	if isChat {
		chunkObject = "chat.completion.chunk"
	}
	var st *streamer
	sse := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return st.write([]byte("data: " + string(b) + "\n\n"))
	}
	chunk := func(d *oaDelta, text *string, finish *string) oaResponse {
		c := base
		c.Object = chunkObject
		ch := oaChoice{FinishReason: finish}
		if isChat {
			ch.Delta = d
		} else {
			ch.Text = text
		}
		c.Choices = []oaChoice{ch}
		return c
	}
	onText := func(string) error { return nil }
	if stream {
		st = s.newStreamer(w, "text/event-stream")
		first := true
		onText = func(t string) error {
			if isChat && first {
				first = false
				empty := ""
				if err := sse(chunk(&oaDelta{Role: "assistant", Content: &empty}, nil, nil)); err != nil {
					return err
				}
			}
			return sse(chunk(&oaDelta{Content: &t}, &t, nil))
		}
	}
	o, err := s.run(st.watch(r.Context()), r, j, onText)
	if err != nil {
		if st != nil && st.started {
			if statusOf(err) == 499 {
				markGone(w)
			} else {
				s.logStreamErr(r, err)
				var e openaiErr
				e.Error.Message, e.Error.Type = clientError(r, err).Error(), "server_error"
				sse(e)
			}
			return
		}
		if st != nil {
			w.Header().Del("Content-Type")
		}
		s.fail(w, r, err)
		return
	}
	finish := o.doneReason
	if finish == "" {
		finish = "stop"
	}
	tcs := oaToolCalls(o.toolCalls)
	if len(tcs) > 0 {
		finish = "tool_calls"
	}
	usage := &oaUsage{PromptTokens: o.promptTokens, CompletionTokens: o.evalCount, TotalTokens: o.promptTokens + o.evalCount}
	if !stream {
		resp := base
		text := o.text
		ch := oaChoice{FinishReason: &finish}
		if isChat {
			ch.Message = &oaDelta{Role: "assistant", Content: &text, ToolCalls: tcs}
		} else {
			ch.Text = &text
		}
		resp.Choices, resp.Usage, resp.Citations = []oaChoice{ch}, usage, o.citations
		writeJSON(w, http.StatusOK, resp)
		return
	}
	last := chunk(&oaDelta{ToolCalls: tcs}, new(string), &finish)
	last.Citations = o.citations
	if sse(last) != nil {
		return
	}
	if includeUsage {
		u := base
		u.Object = chunkObject
		u.Choices, u.Usage = []oaChoice{}, usage
		if sse(u) != nil {
			return
		}
	}
	st.write([]byte("data: [DONE]\n\n"))
}

func (s *Server) handleOAEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	texts, err := inputs(req.Input)
	if err != nil || len(texts) == 0 {
		s.fail(w, r, fieldError("input", "must be a non-empty string or array of strings (token arrays are not supported)"))
		return
	}
	if err := checkEmbed(true, req.Model, texts, req.Dimensions, nil); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		s.fail(w, r, badRequest("encoding_format %q: want float or base64", req.EncodingFormat))
		return
	}
	vs, n, _, err := s.embed(r.Context(), r, req.Model, texts, false, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := shortenChecked(vs, req.Dimensions); err != nil {
		s.fail(w, r, err)
		return
	}
	data := make([]map[string]any, len(vs))
	for i, v := range vs {
		var e any = v
		if req.EncodingFormat == "base64" { // little-endian float32s, as OpenAI sends them
			b := make([]byte, 4*len(v))
			for k, x := range v {
				binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(x))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": e}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": n, "total_tokens": n}})
}

type oaModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) oaModels() []oaModel {
	var out []oaModel
	for _, src := range s.reg.list() {
		out = append(out, oaModel{ID: src.Name, Object: "model", Created: src.Modified.Unix(), OwnedBy: "dayi"})
	}
	if s.fallback != nil {
		for _, m := range s.fallback.models {
			out = append(out, oaModel{ID: m, Object: "model", OwnedBy: "ollama:" + s.fallback.host})
		}
	}
	return out
}

func (s *Server) handleOAModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": s.oaModels()})
}

func (s *Server) handleOAModel(w http.ResponseWriter, r *http.Request) {
	name := canonical(r.PathValue("model"))
	for _, m := range s.oaModels() {
		if m.ID == name {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	_, err := s.reg.find(name)
	s.fail(w, r, fmt.Errorf("%w", err))
}
