// Package clinic holds the clinical workflows a hospital deploys first: red-flag rules and triage (智能导诊),
// a guided pre-consultation intake (预问诊), EMR generation as a SOAP note (病历生成) and follow-up plans
// (诊后随访), with an HTTP handler for all four.
//
// Safety does not depend on the model. Red flags are matched deterministically on normalised text before any
// generation; when one fires the answer is urgency "emergency", the rule ids and the rule's fixed advice, and
// the model is not asked at all. Departments come from a routing table; the model may only choose among the
// table's candidates and phrase follow-up questions. EMR notes are generated under the engine's JSON-schema
// constrained decoding with a schema whose limits are fitted to the context, so they are valid JSON for the
// shipped schema even with a weak model, and are validated again before they are returned.
//
// dayi supports clinicians; it does not replace them. Every document here is a draft for a clinician.
package clinic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/jsonschema"
	"dayi/engine/sample"
)

// GenerateFunc is the engine's Generate signature (engine.LM.Generate, or the batching scheduler's).
type GenerateFunc func(ctx context.Context, req *engine.Request, onText func(string) error) (*engine.Result, error)

// FollowUpStore saves follow-up plans to patient memory.
type FollowUpStore interface {
	SaveFollowUp(ctx context.Context, patientID string, plan Plan) error
}

// Deps are what the workflows need from the rest of dayi. Only Rules and Routing are needed for the
// deterministic parts; without Generate, triage uses the routing table alone and EMR generation is refused.
type Deps struct {
	// Rules and Routing are nil for the shipped tables, which are then compiled on every call: long-lived
	// callers set them once (NewHandler does).
	Rules   *RuleSet
	Routing *Routing
	// Generate runs the model (nil: no model).
	Generate GenerateFunc
	// Template names the chat template when the model has none ("chatml" for the embedded tiny model).
	Template string
	// ContextLength is the model's context in tokens (0: 2048 is assumed).
	ContextLength int
	// CountTokens returns the number of prompt tokens of a request (e.g. from engine.LM.PromptTokens). Nil:
	// the prompt's byte length is used as an upper bound.
	CountTokens func(*engine.Request) (int, error)
	// Sampling is the default sampling (zero value: greedy).
	Sampling sample.Options
	// Memory saves follow-up plans when a patient id is given (nil: plans are returned, not saved).
	Memory FollowUpStore
}

// withDefaults fills the shipped rule and routing tables.
func (d Deps) withDefaults() (Deps, error) {
	var err error
	if d.Rules == nil {
		if d.Rules, err = DefaultRules(); err != nil {
			return d, err
		}
	}
	if d.Routing == nil {
		if d.Routing, err = DefaultRouting(); err != nil {
			return d, err
		}
	}
	if d.ContextLength <= 0 {
		d.ContextLength = 2048
	}
	return d, nil
}

// ErrNoModel is returned by workflows that need a model when Deps.Generate is nil.
var ErrNoModel = errors.New("clinic: no model configured")

// DetectLang returns "zh" when s contains Han characters, else "en".
func DetectLang(s string) string {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return LangZH
		}
	}
	return LangEN
}

func normLang(lang, text string) string {
	switch strings.ToLower(lang) {
	case "zh", "zh-cn", "zh-hans", "cn", "chinese":
		return LangZH
	case "en", "english":
		return LangEN
	}
	return DetectLang(text)
}

// promptTokens counts (or bounds) the prompt tokens of req.
func (d Deps) promptTokens(req *engine.Request) (int, error) {
	if d.CountTokens != nil {
		return d.CountTokens(req)
	}
	// Every token of a prompt carries at least one byte of its rendered text, so bytes bound tokens; the
	// template's own text adds at most a few dozen bytes per message.
	n := len(req.Prompt) + 16
	for _, m := range req.Messages {
		n += len(m.Content) + len(m.Role) + 32
	}
	return n, nil
}

// generateJSON runs a schema-constrained generation and validates the result against validateSchema (the
// shipped schema; the decoding schema may be a tightened copy of it). It returns the document, the result,
// and whether the document is valid.
func (d Deps) generateJSON(ctx context.Context, msgs []chat.Message, format, validateSchema []byte, maxTokens int, sampling sample.Options) ([]byte, *engine.Result, error) {
	req := &engine.Request{Messages: msgs, Template: d.Template, Format: format, MaxTokens: maxTokens, Sampling: sampling}
	res, err := d.Generate(ctx, req, func(string) error { return nil })
	if err != nil {
		return nil, nil, err
	}
	doc := []byte(strings.TrimSpace(res.Text))
	if err := jsonschema.Validate(validateSchema, doc); err != nil {
		return nil, res, fmt.Errorf("model output (%s after %d tokens): %w", res.DoneReason, len(res.Tokens), err)
	}
	return doc, res, nil
}
