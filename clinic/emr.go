package clinic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/sample"
)

// EMROptions tune one EMR generation.
type EMROptions struct {
	Lang     string          // language of the note: "en", "zh" or "" (the transcript's)
	Sampling *sample.Options // nil: Deps.Sampling
	// MaxTokens is the length the first attempt aims at (0: the whole context). The second attempt, if any,
	// always uses the whole context.
	MaxTokens int
}

// EMRResult is a generated SOAP note.
type EMRResult struct {
	// Note is the SOAP note; it validates against schemas/emr_soap.schema.json.
	Note json.RawMessage `json:"note"`
	// RedFlags are the red-flag rules the transcript fires, found by the rules, not the model.
	RedFlags []string `json:"red_flags"`
	Attempts int      `json:"attempts"`
	Tokens   int      `json:"tokens"`
	// Draft is always true: the note is for a clinician to review, correct and sign.
	Draft bool `json:"draft"`
}

// EMR turns a consultation transcript into a SOAP note. The note is decoded under the engine's JSON-schema
// constraint with a copy of the shipped schema whose string and array limits are fitted to the context, so
// generation cannot run out of context inside the document:
//
//  1. first with limits sized for about one token per character (notes of a useful length with real models);
//  2. if that document did not close (the model wrote byte-by-byte, or escapes), again with limits sized for
//     the worst case the grammar allows (6 bytes per character, full white space), which always fits.
//
// Each result is validated against the shipped schema before it is returned.
func EMR(ctx context.Context, deps Deps, transcript string, opt EMROptions) (*EMRResult, error) {
	deps, err := deps.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Generate == nil {
		return nil, ErrNoModel
	}
	schema, err := Schema("emr_soap")
	if err != nil {
		return nil, err
	}
	lang := normLang(opt.Lang, transcript)
	sp := deps.Sampling
	if opt.Sampling != nil {
		sp = *opt.Sampling
	}
	sys := "You write medical records. From the consultation transcript, write a SOAP note as JSON: subjective " +
		"(chief complaint, history of present illness, medications, allergies, past history), objective (vital " +
		"signs, examination, investigations), assessment (diagnoses with certainty, reasoning) and plan. Use only " +
		"what the transcript says; leave a field empty when it was not discussed. Write in English."
	if lang == LangZH {
		sys = "你负责书写病历。请根据问诊记录，用JSON写出SOAP病历：主观资料（主诉、现病史、用药、过敏史、既往史）、" +
			"客观资料（生命体征、体格检查、辅助检查）、评估（诊断及确定程度、分析）和计划。只使用记录中提到的内容，" +
			"未提及的字段留空。请用中文书写。"
	}
	msgs := []chat.Message{{Role: "system", Content: sys}, {Role: "user", Content: transcript}}
	n, err := deps.promptTokens(&engine.Request{Messages: msgs, Template: deps.Template})
	if err != nil {
		return nil, err
	}
	room := deps.ContextLength - n - 1
	res := &EMRResult{Draft: true, RedFlags: []string{}}
	for _, m := range deps.Rules.Match(transcript) {
		res.RedFlags = append(res.RedFlags, m.ID)
	}
	first := room
	if opt.MaxTokens > 0 {
		first = min(first, opt.MaxTokens)
	}
	attempts := []struct{ budget, perChar int }{{first, typicalChars}, {room, escapedChar}}
	var lastErr error
	for _, a := range attempts {
		format, err := fitSchema(schema, a.budget, a.perChar)
		if err != nil {
			lastErr = err
			continue
		}
		res.Attempts++
		doc, gen, err := deps.generateJSON(ctx, msgs, format, schema, a.budget, sp)
		if gen != nil {
			res.Tokens += len(gen.Tokens)
		}
		if err == nil {
			res.Note = doc
			return res, nil
		}
		if ctx.Err() != nil || errors.Is(err, engine.ErrPromptTooLong) || gen == nil {
			return nil, fmt.Errorf("emr: %w", err)
		}
		lastErr = err
	}
	if res.Attempts == 0 {
		return nil, fmt.Errorf("emr: %w: %d prompt tokens leave too little of the %d-token context: %w", engine.ErrPromptTooLong, n, deps.ContextLength, lastErr)
	}
	return nil, fmt.Errorf("emr: no valid note after %d attempts: %w", res.Attempts, lastErr)
}
