package clinic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/sample"
)

// Urgency levels.
const (
	Emergency = "emergency"
	Urgent    = "urgent"
	Routine   = "routine"
)

// TriageResult is the triage answer; its JSON is the shape of schemas/triage.schema.json.
type TriageResult struct {
	Urgency  string   `json:"urgency"`
	RedFlags []string `json:"red_flags"`
	// RedFlagTitles are the fired rules' titles in the answer's language,
	// index for index with RedFlags: a clinician reads "Chest pain of cardiac
	// type", not a rule ID.
	RedFlagTitles []string `json:"red_flag_titles,omitempty"`
	Department    string   `json:"department"`
	Advice        string   `json:"advice"`
	Questions     []string `json:"questions"`
	// Evidence, for an emergency, is the complaint as the patient wrote it,
	// cut into segments; a segment with a concept is words that fired a red
	// flag, for a screen to highlight. The rules read the normalised text;
	// its spans are mapped back to the original (normalizeMapped), so the
	// segments join to the complaint exactly.
	Evidence []Segment `json:"evidence,omitempty"`
}

// Segment is a piece of the complaint; Concept names the red-flag concept it
// states, "" for the text between.
type Segment struct {
	Text    string `json:"text"`
	Concept string `json:"concept,omitempty"`
}

// evidence cuts the complaint into segments marking the occurrences of the
// concepts that made the matches fire (overlaps: the earlier one wins). The
// spans are in f.Text, the normalised complaint; they are mapped back to the
// complaint's own bytes, or, should the mapping not reproduce f.Text, the
// normalised text is cut instead (still correct, only lower-cased).
func evidence(complaint string, f *Findings, matches []Match) []Segment {
	text, src := normalizeMapped(complaint)
	if text != f.Text || len(src) != len(text) {
		text, src = f.Text, nil
	}
	orig := func(start, end int) (int, int) {
		if src == nil {
			return start, end
		}
		return src[start][0], src[end-1][1]
	}
	if src != nil {
		text = complaint
	}
	type mark struct {
		start, end int
		concept    string
	}
	var marks []mark
	for _, m := range matches {
		for _, c := range m.Evidence {
			for _, sp := range f.Spans[c] {
				if sp[0] < 0 || sp[0] >= sp[1] || sp[1] > len(f.Text) {
					continue
				}
				a, b := orig(sp[0], sp[1])
				marks = append(marks, mark{a, b, c})
			}
		}
	}
	slices.SortStableFunc(marks, func(a, b mark) int { return a.start - b.start })
	var out []Segment
	at := 0
	for _, mk := range marks {
		if mk.start < at || mk.end > len(text) {
			continue
		}
		if mk.start > at {
			out = append(out, Segment{Text: text[at:mk.start]})
		}
		out = append(out, Segment{Text: text[mk.start:mk.end], Concept: mk.concept})
		at = mk.end
	}
	if at < len(text) {
		out = append(out, Segment{Text: text[at:]})
	}
	return out
}

// TriageOptions tune one triage.
type TriageOptions struct {
	Lang     string          // "en", "zh" or "" (detected from the complaint)
	NoModel  bool            // use the tables only, even when a model is configured
	Sampling *sample.Options // nil: Deps.Sampling
}

// Triage answers a patient's complaint. Red flags are matched first, on the text alone: when one fires the
// result is urgency "emergency", the Emergency department and the fired rules' fixed advice, and no model
// is run. Otherwise the routing table gives the department and the urgency; a model, when configured, may
// only pick among the table's tied candidates (the schema's enum allows nothing else) and write up to three
// follow-up questions. A failed or invalid model answer falls back to the table's questions: the model can
// improve the questions, never lower the safety of the answer.
func Triage(ctx context.Context, deps Deps, complaint string, opt TriageOptions) (*TriageResult, error) {
	deps, err := deps.withDefaults()
	if err != nil {
		return nil, err
	}
	lang := normLang(opt.Lang, complaint)
	rt := deps.Routing
	f := deps.Rules.Analyze(complaint)
	if matches := deps.Rules.MatchFindings(f); len(matches) > 0 {
		em, _ := rt.Department(rt.File.Emergency)
		res := &TriageResult{Urgency: Emergency, Department: em.Name.In(lang), Questions: []string{}, Evidence: evidence(complaint, f, matches)}
		var advice []string
		for _, m := range matches {
			res.RedFlags = append(res.RedFlags, m.ID)
			title := m.Title.In(lang)
			if title == "" { // a hospital's own rules file may leave titles out
				title = m.ID
			}
			res.RedFlagTitles = append(res.RedFlagTitles, title)
			advice = append(advice, m.Advice.In(lang))
		}
		res.Advice = strings.Join(advice, "\n")
		return res, nil
	}
	route := rt.Route(complaint)
	res := &TriageResult{Urgency: Routine, RedFlags: []string{}, Department: route.Candidates[0].Name.In(lang)}
	adv := rt.File.Advice.Routine
	if route.Urgent {
		res.Urgency, adv = Urgent, rt.File.Advice.Urgent
	}
	fallbackQ := rt.File.Questions.EN
	if lang == LangZH {
		fallbackQ = rt.File.Questions.ZH
	}
	res.Questions = append([]string(nil), fallbackQ...)
	if deps.Generate != nil && !opt.NoModel {
		sp := deps.Sampling
		if opt.Sampling != nil {
			sp = *opt.Sampling
		}
		dept, qs, err := refine(ctx, deps, complaint, lang, route, sp)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			// No complaint text in logs (PHI); the reason is enough to debug the model.
			slog.Warn("clinic triage: model refinement not used", "err", err)
		default:
			for _, c := range route.Candidates {
				if c.Name.In(lang) == dept {
					res.Department = dept
				}
			}
			if len(qs) > 0 {
				res.Questions = qs
			}
		}
	}
	res.Advice = strings.ReplaceAll(adv.In(lang), "{department}", res.Department)
	return res, nil
}

const triageRefineBudget = 400 // tokens: a department name and three short questions

// refine asks the model to choose among the routing candidates and to write follow-up questions.
func refine(ctx context.Context, deps Deps, complaint, lang string, route Route, sp sample.Options) (string, []string, error) {
	var names []string
	for _, c := range route.Candidates {
		names = append(names, c.Name.In(lang))
	}
	enum, _ := json.Marshal(names)
	schema := []byte(`{"type":"object","properties":{"department":{"enum":` + string(enum) + `},` +
		`"questions":{"type":"array","items":{"type":"string","minLength":1,"maxLength":100},"minItems":1,"maxItems":3}},` +
		`"required":["department","questions"],"additionalProperties":false}`)
	sys := "You are a hospital triage nurse. The patient's complaint follows. Reply with JSON: the department, chosen from " +
		string(enum) + ", and up to three short follow-up questions to ask the patient. Do not diagnose. Reply in English."
	if lang == LangZH {
		sys = "你是医院导诊护士。下面是患者的主诉。请用JSON回答：从" + string(enum) + "中选择科室，并提出最多三个简短的追问。不要做诊断。请用中文回答。"
	}
	msgs := []chat.Message{{Role: "system", Content: sys}, {Role: "user", Content: complaint}}
	n, err := deps.promptTokens(&engine.Request{Messages: msgs, Template: deps.Template})
	if err != nil {
		return "", nil, err
	}
	budget := min(triageRefineBudget, deps.ContextLength-n-1)
	format, err := fitSchema(schema, budget, escapedChar)
	if err != nil {
		return "", nil, fmt.Errorf("triage: %w", err)
	}
	doc, _, err := deps.generateJSON(ctx, msgs, format, schema, budget, sp)
	if err != nil {
		return "", nil, err
	}
	var out struct {
		Department string   `json:"department"`
		Questions  []string `json:"questions"`
	}
	if err := json.NewDecoder(bytes.NewReader(doc)).Decode(&out); err != nil {
		return "", nil, err
	}
	var qs []string
	for _, q := range out.Questions {
		if q = strings.TrimSpace(q); q != "" {
			qs = append(qs, q)
		}
	}
	return out.Department, qs, nil
}
