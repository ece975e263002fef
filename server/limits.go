package server

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ollama/ollama/api"

	"dayi/internal/safename"
)

// limit is the allowed range of one request field. The table below is the
// only place ranges are written: the checks read it, and docs/server.md's
// "Request limits" table is generated from it (TestRequestLimitsDocumented
// fails when the two disagree).
//
// Every field a client controls is bounded, because each one ends up as a
// size somewhere (a buffer, a loop, a map, a tokenizer run): an unbounded
// repeat_last_n once made the sampler allocate terabytes and killed the
// server for everyone (issue 15, finding 1).
type limit struct {
	Field  string // the Ollama / dayi name, as clients send it ("options.top_k")
	OpenAI string // the name under /v1/ where it differs; "-": not part of the OpenAI API
	OnlyV1 bool   // an OpenAI field with no Ollama counterpart (Field is then its /v1/ name)
	Unit   string // "" (a value), "items", "bytes" or "seconds"
	Min    float64
	Max    float64
	// Model names the loaded model's own bound that also applies:
	// "context" (its context length in tokens) or "vocabulary" (its
	// number of token ids; the field must be below it).
	Model string
	Note  string // special values, what dayi does with it, where the range comes from
}

const (
	// maxText bounds one text field (a prompt, a message, an embedding
	// input). 1 MiB is more text than a 200K-token context holds (about 4.5
	// bytes a token in English, fewer in Chinese), and bounds the tokenizer's
	// work: a 1 MiB word costs BPE tokenizers over a second
	// (tokenizer.TestLongWordIsNotQuadratic), 4 MiB would cost far more.
	maxText     = 1 << 20
	maxTokensAt = 1 << 20 // no model dayi runs has a longer context than 1M tokens
)

// limits is the table. Sources: OpenAI's API reference (temperature 0–2,
// top_p 0–1, penalties −2–2, logit_bias values −100–100, n, 128 tools, 2048
// embedding inputs); Ollama's api.Options (field names, −1/−2 meanings of
// num_predict, −1 of repeat_last_n, negative keep_alive) and llama.cpp
// (common/sampling.cpp: top_k <= 0 is off, top_p/min_p/typical_p are
// probabilities; the server's params_from_json_cmpl: penalty_last_n −1 is
// the context, logit_bias ids must be below n_vocab). Where none of them
// bounds a field, the bound is dayi's and the note says why.
var limits = []limit{
	{Field: "model", Unit: "bytes", Min: 1, Max: 256, Note: "a model name"},
	{Field: "prompt", Unit: "bytes", Max: maxText, Model: "context",
		Note: "also at most the context length (or --max-prompt-tokens) less one, in tokens, with the template and grounding"},
	{Field: "system", OpenAI: "-", Unit: "bytes", Max: maxText, Note: "as prompt"},
	{Field: "template", OpenAI: "-", Unit: "bytes", Max: 64, Note: "the name of a built-in chat template"},
	{Field: "messages", Unit: "items", Max: 4096, Note: "/v1/chat/completions needs at least one; an empty /api/chat only loads the model"},
	{Field: "messages[].content", Unit: "bytes", Max: maxText, Note: "the whole conversation must still fit the context"},
	{Field: "images", OpenAI: "messages[].content[].image_url", Unit: "items", Max: 8,
		Note: "images in one request, all messages together (Ollama: base64 strings; /v1/: image_url parts with data: URLs only, dayi never fetches an http(s) or file URL); PNG, JPEG or uncompressed DICOM; the model needs a vision projector (--mmproj), else 400"},
	{Field: "images[]", OpenAI: "messages[].content[].image_url.url", Unit: "bytes", Max: 8 << 20,
		Note: "one image, base64-decoded; the request body limit (--max-body, 8 MiB by default) applies first, so over HTTP an image of up to about 6 MiB arrives: raise --max-body for larger DICOM files"},
	{Field: "images[].pixels", OpenAI: "-", Unit: "pixels", Max: 4096 * 4096,
		Note: "width × height of one image (a DICOM file's first frame), read from its header before any pixel is decoded (a few-KB PNG can declare 10^10 pixels); images are decoded after admission, so at most --max-active requests hold decoded pixels"},
	{Field: "messages[].content[]", OnlyV1: true, Unit: "items", Max: 256, Note: "content parts of one message (text and image_url)"},
	{Field: "tools", Unit: "items", Max: 128, Note: "OpenAI's limit"},
	{Field: "format", OpenAI: "response_format.json_schema.schema", Unit: "bytes", Max: 64 << 10,
		Note: `"json" or a JSON schema; it is compiled into a grammar before any work`},
	{Field: "context", OpenAI: "-", Unit: "items", Max: maxTokensAt, Model: "context",
		Note: "token ids of an earlier /api/generate response"},
	{Field: "context[]", OpenAI: "-", Min: 0, Max: math.MaxInt32, Model: "vocabulary", Note: "a token id"},
	{Field: "keep_alive", OpenAI: "-", Unit: "seconds", Min: 0, Max: 365 * 24 * 3600,
		Note: "a duration (\"5m\") or seconds; negative keeps the model loaded until the server stops (Ollama)"},
	{Field: "knowledge", Unit: "bytes", Max: 256, Note: "a knowledge base name: a letter or digit, then letters, digits, _ . - (64 characters at most)"},
	{Field: "patient_id", Unit: "bytes", Max: 200, Note: "UTF-8 without control characters (the patient memory's rule); never echoed in errors"},
	{Field: "input", Unit: "items", Max: 2048, Note: "embedding inputs (OpenAI's limit); /v1/embeddings needs at least one"},
	{Field: "input[]", Unit: "bytes", Max: maxText, Note: "each embedding input; also at most the context length in tokens"},
	{Field: "dimensions", Min: 0, Max: 1 << 16, Note: "0: the model's own; larger than the model's: the model's"},

	{Field: "options.num_predict", OpenAI: "-", Min: -2, Max: maxTokensAt,
		Note: "tokens to generate; -1: until the end, -2: fill the context (Ollama)"},
	{Field: "max_tokens", OnlyV1: true, Min: 0, Max: maxTokensAt, Note: "/v1/ only (also max_completion_tokens); 0: until the end"},
	{Field: "options.temperature", OpenAI: "-", Min: 0, Max: 100, Note: "0: greedy; dayi's bound"},
	{Field: "temperature", OnlyV1: true, Min: 0, Max: 2, Note: "/v1/ only (OpenAI's range); 0: greedy"},
	{Field: "options.top_k", OpenAI: "-", Min: 0, Max: math.MaxInt32, Model: "vocabulary", Note: "0: off (llama.cpp top_k <= 0)"},
	{Field: "options.top_p", OpenAI: "top_p", Min: 0, Max: 1, Note: "a probability; 1: off"},
	{Field: "options.min_p", OpenAI: "-", Min: 0, Max: 1, Note: "a probability; 0: off"},
	{Field: "options.typical_p", OpenAI: "-", Min: 0, Max: 1, Note: "a probability; 1: off"},
	{Field: "options.repeat_last_n", OpenAI: "-", Min: -1, Max: maxTokensAt, Model: "context",
		Note: "the penalty window in tokens; 0: off, -1: the whole context (Ollama)"},
	{Field: "options.repeat_penalty", OpenAI: "-", Min: 0, Max: 10, Note: "1 (or 0): off; dayi's bound, text is degenerate well before 10"},
	{Field: "options.presence_penalty", OpenAI: "presence_penalty", Min: -2, Max: 2, Note: "OpenAI's range"},
	{Field: "options.frequency_penalty", OpenAI: "frequency_penalty", Min: -2, Max: 2, Note: "OpenAI's range"},
	{Field: "options.seed", OpenAI: "seed", Min: math.MinInt64, Max: math.MaxInt64, Note: "any 64-bit integer; negative: a random seed"},
	{Field: "options.stop", OpenAI: "stop", Unit: "items", Max: 16, Note: "OpenAI allows 4, Ollama any; each is matched at every token"},
	{Field: "options.stop[]", OpenAI: "stop[]", Unit: "bytes", Max: 256, Note: "an empty stop string is ignored"},
	{Field: "options.num_ctx", OpenAI: "-", Min: 0, Max: maxTokensAt, Note: "accepted for Ollama clients; each model runs at its own context length (dayi serve --ctx)"},
	{Field: "options.num_keep", OpenAI: "-", Min: -1, Max: maxTokensAt, Model: "context", Note: "accepted for Ollama clients; dayi never shifts the context"},
	{Field: "options.num_batch", OpenAI: "-", Min: 0, Max: 1 << 16, Note: "accepted for Ollama clients; the server batches by itself"},
	{Field: "options.num_thread", OpenAI: "-", Min: 0, Max: 1024, Note: "accepted for Ollama clients; threads are a server setting"},
	{Field: "options.num_gpu", OpenAI: "-", Min: -1, Max: 1024, Note: "accepted for Ollama clients; unused"},
	{Field: "options.main_gpu", OpenAI: "-", Min: 0, Max: 1024, Note: "accepted for Ollama clients; unused"},
	{Field: "n", OnlyV1: true, Min: 1, Max: 1, Note: "one choice per request"},
	{Field: "logit_bias", OnlyV1: true, Unit: "items", Max: 1024, Note: "entries; dayi's bound (each is applied at every token)"},
	{Field: "logit_bias{}", OpenAI: "logit_bias", OnlyV1: true, Min: -100, Max: 100, Note: "a bias (OpenAI's range); each key is a token id below the vocabulary size"},
}

// lim returns the table's row for field. Fields are constants in the code;
// TestLimitFieldsExist checks that every call of lim names a row, so the panic
// is a programming error no request can reach.
func lim(field string) *limit {
	for i := range limits {
		if limits[i].Field == field {
			return &limits[i]
		}
	}
	panic("server: no request limit for " + field)
}

// name is the field as the client's API calls it.
func (l *limit) name(openai bool) string {
	if openai && l.OpenAI != "" && l.OpenAI != "-" {
		return l.OpenAI
	}
	return l.Field
}

// fieldError is a 400 that names the field (OpenAI's error param too).
func fieldError(field string, format string, a ...any) error {
	return &reqError{status: 400, msg: field + ": " + fmt.Sprintf(format, a...), param: field}
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// rangeText is the allowed range in words, for errors and the docs.
func (l *limit) rangeText() string {
	switch {
	case l.Field == "options.seed":
		return "any integer"
	case l.Max == l.Min:
		return num(l.Min)
	case l.Max == math.MaxInt32 && l.Model != "":
		return "at least " + num(l.Min)
	}
	return num(l.Min) + " to " + num(l.Max)
}

// value checks a number. NaN and ±Inf are always out of range.
func (l *limit) value(openai bool, v float64) error {
	if math.IsNaN(v) || v < l.Min || v > l.Max {
		return fieldError(l.name(openai), "%v is out of range (allowed: %s)", v, l.rangeText())
	}
	return nil
}

// count checks a number of items.
func (l *limit) count(openai bool, n int) error {
	if float64(n) < l.Min || float64(n) > l.Max {
		if l.Max == 0 {
			return fieldError(l.name(openai), "not accepted (%s)", l.Note)
		}
		return fieldError(l.name(openai), "%d items; allowed %s", n, l.rangeText())
	}
	return nil
}

// bytes checks a string's length; the string itself is never quoted back.
func (l *limit) bytes(openai bool, name string, s string) error {
	if float64(len(s)) < l.Min || float64(len(s)) > l.Max {
		if name == "" {
			name = l.name(openai)
		}
		return fieldError(name, "%d bytes; allowed %s", len(s), l.rangeText())
	}
	return nil
}

// modelBound checks v against the loaded model's own bound (the context
// length or the vocabulary size).
func (l *limit) modelBound(openai bool, v, bound int) error {
	if l.Model == "vocabulary" && v >= bound {
		return fieldError(l.name(openai), "%d is not below this model's vocabulary size %d", v, bound)
	}
	if l.Model == "context" && v > bound {
		return fieldError(l.name(openai), "%d exceeds this model's context length %d", v, bound)
	}
	return nil
}

// validate checks every option that was set, before any model is loaded.
// OpenAI requests fill the same struct from their own fields, so errors
// name the field the client sent.
func (o *options) validate(openai bool) error {
	numPredict, temperature := "options.num_predict", "options.temperature"
	if openai {
		numPredict, temperature = "max_tokens", "temperature"
	}
	ints := []struct {
		field string
		v     *int
	}{
		{numPredict, o.NumPredict}, {"options.top_k", o.TopK}, {"options.repeat_last_n", o.RepeatLastN},
		{"options.num_ctx", o.NumCtx}, {"options.num_keep", o.NumKeep}, {"options.num_batch", o.NumBatch},
		{"options.num_thread", o.NumThread}, {"options.num_gpu", o.NumGPU}, {"options.main_gpu", o.MainGPU},
	}
	for _, f := range ints {
		if f.v != nil {
			if err := lim(f.field).value(openai, float64(*f.v)); err != nil {
				return err
			}
		}
	}
	floats := []struct {
		field string
		v     *float32
	}{
		{temperature, o.Temperature}, {"options.top_p", o.TopP}, {"options.min_p", o.MinP},
		{"options.typical_p", o.TypicalP}, {"options.repeat_penalty", o.RepeatPenalty},
		{"options.presence_penalty", o.PresencePenalty}, {"options.frequency_penalty", o.FrequencyPenalty},
	}
	for _, f := range floats {
		if f.v != nil {
			if err := lim(f.field).value(openai, float64(*f.v)); err != nil {
				return err
			}
		}
	}
	if err := lim("options.stop").count(openai, len(o.Stop)); err != nil {
		return err
	}
	for i, s := range o.Stop {
		l := lim("options.stop[]")
		if err := l.bytes(openai, fmt.Sprintf("%s[%d]", strings.TrimSuffix(l.name(openai), "[]"), i), s); err != nil {
			return err
		}
	}
	if err := lim("logit_bias").count(openai, len(o.logitBias)); err != nil {
		return err
	}
	for _, b := range o.logitBias {
		if err := lim("logit_bias{}").value(openai, float64(b)); err != nil {
			return err
		}
	}
	return nil
}

// checkModelBounds checks the fields whose bound is the loaded model's:
// its context length and its vocabulary.
func checkModelBounds(j *job, ctxLen, vocab int) error {
	o := &j.opts
	if o.RepeatLastN != nil {
		if err := lim("options.repeat_last_n").modelBound(j.openai, *o.RepeatLastN, ctxLen); err != nil {
			return err
		}
	}
	if o.NumKeep != nil {
		if err := lim("options.num_keep").modelBound(j.openai, *o.NumKeep, ctxLen); err != nil {
			return err
		}
	}
	if o.TopK != nil && *o.TopK > vocab { // top_k may equal the vocabulary size: all tokens
		return fieldError(lim("options.top_k").name(j.openai), "%d exceeds this model's vocabulary size %d", *o.TopK, vocab)
	}
	for id := range o.logitBias {
		if int(id) >= vocab {
			return fieldError(lim("logit_bias").name(j.openai), "token id %d is not below this model's vocabulary size %d", id, vocab)
		}
	}
	if err := lim("context").modelBound(j.openai, len(j.context), ctxLen); err != nil {
		return err
	}
	for i, id := range j.context {
		if int(id) >= vocab {
			return fieldError(fmt.Sprintf("context[%d]", i), "token id %d is not below this model's vocabulary size %d", id, vocab)
		}
	}
	return nil
}

// checkKeepAlive bounds keep_alive. Ollama's api.Duration turns any
// negative value into MaxInt64 ("forever"), while a number too large for a
// Duration overflows to a negative one: that is refused, not read as
// forever.
func checkKeepAlive(d *api.Duration) error {
	if d == nil || d.Duration == math.MaxInt64 {
		return nil
	}
	l := lim("keep_alive")
	if d.Duration < 0 || d.Duration > time.Duration(l.Max)*time.Second {
		return fieldError(l.Field, "out of range (allowed: %s seconds, or negative for as long as the server runs)", l.rangeText())
	}
	return nil
}

// kbName is knowledge.validName (the library keeps base names safe as
// directory names); checking it here makes a bad name a 400 before any
// file system access.
func kbName(name string) bool { return safename.Valid(name, 63, "_.-") }

// checkCommon checks the fields every generation request may carry.
func checkCommon(openai bool, model, knowledge, patientID string) error {
	if model == "" {
		return fieldError("model", "required")
	}
	if err := lim("model").bytes(openai, "", model); err != nil {
		return err
	}
	if knowledge != "" {
		if err := lim("knowledge").bytes(openai, "", knowledge); err != nil {
			return err
		}
		if !kbName(knowledge) {
			return fieldError("knowledge", "a knowledge base name is a letter or digit, then letters, digits, _ . - (64 at most)")
		}
	}
	return checkPatientID(patientID)
}

// checkPatientID applies the patient memory's rule (memory.checkPatient)
// without ever quoting the id back: it is patient data.
func checkPatientID(id string) error {
	if id == "" {
		return nil
	}
	bad := len(id) > int(lim("patient_id").Max) || !utf8.ValidString(id)
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			bad = true
		}
	}
	if bad {
		return fieldError("patient_id", "invalid: 1 to %s bytes of UTF-8 without control characters", num(lim("patient_id").Max))
	}
	return nil
}

// checkMessages bounds a conversation.
func checkMessages(openai bool, contents []string) error {
	if err := lim("messages").count(openai, len(contents)); err != nil {
		return err
	}
	for i, c := range contents {
		if err := lim("messages[].content").bytes(openai, fmt.Sprintf("messages[%d].content", i), c); err != nil {
			return err
		}
	}
	return nil
}

// checkEmbed bounds an embedding request.
func checkEmbed(openai bool, model string, texts []string, dims int, ka *api.Duration) error {
	if err := checkCommon(openai, model, "", ""); err != nil {
		return err
	}
	if err := lim("input").count(openai, len(texts)); err != nil {
		return err
	}
	for i, t := range texts {
		if err := lim("input[]").bytes(openai, fmt.Sprintf("input[%d]", i), t); err != nil {
			return err
		}
	}
	if err := lim("dimensions").value(openai, float64(dims)); err != nil {
		return err
	}
	return checkKeepAlive(ka)
}

// limitsMarkdown renders the table for docs/server.md.
func limitsMarkdown() string {
	var b strings.Builder
	b.WriteString("| Field (Ollama API) | Under /v1/ | Allowed | Also bounded by the model's | Notes |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, l := range limits {
		oa := l.OpenAI
		switch oa {
		case "":
			oa = l.Field
		case "-":
			oa = "—"
		}
		r := l.rangeText()
		if l.Unit != "" {
			r += " " + l.Unit
		}
		m := l.Model
		if m == "" {
			m = "—"
		}
		field := code(l.Field)
		if l.OnlyV1 {
			field = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", field, code(oa), r, m, l.Note)
	}
	return b.String()
}

func code(s string) string {
	if s == "—" {
		return s
	}
	return "`" + s + "`"
}
