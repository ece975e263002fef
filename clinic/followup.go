package clinic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/jsonschema"
	"dayi/engine/sample"
)

// Follow-up item kinds.
const (
	KindCall             = "call"
	KindVisit            = "visit"
	KindTest             = "test"
	KindMedicationReview = "medication_review"
	KindSelfCheck        = "self_check"
)

// PlanItem is one dated step of a follow-up plan.
type PlanItem struct {
	Date      string `json:"date"` // YYYY-MM-DD
	DaysAfter int    `json:"days_after"`
	Kind      string `json:"kind"`
	Action    string `json:"action"`
}

// Plan is a follow-up plan; its JSON validates against schemas/followup.schema.json.
type Plan struct {
	PatientID string     `json:"patient_id,omitempty"`
	Created   string     `json:"created"`
	Language  string     `json:"language"`
	Items     []PlanItem `json:"items"`
	ReturnIf  string     `json:"return_if"`
	Saved     bool       `json:"saved"`
}

// FollowUpRequest asks for a plan.
type FollowUpRequest struct {
	PatientID string `json:"patient_id,omitempty"`
	// Start is the visit date, YYYY-MM-DD ("" = today).
	Start string `json:"start,omitempty"`
	Lang  string `json:"lang,omitempty"`
	// Summary is the visit summary or diagnosis the plan is for (used for the language and by the model).
	Summary string `json:"summary,omitempty"`
	// OnMedication adds a medication review at 30 days.
	OnMedication bool `json:"on_medication,omitempty"`
	// Items are the clinician's own steps (date is computed from days_after).
	Items []PlanItem `json:"items,omitempty"`
	// UseModel lets the model propose up to three more steps from the summary.
	UseModel bool            `json:"use_model,omitempty"`
	Sampling *sample.Options `json:"-"`
}

var followUpText = map[string]map[string]string{
	LangEN: {
		"call":   "Phone check: how are the symptoms, are the medicines taken and tolerated, any new problems?",
		"visit":  "Review visit with the treating doctor.",
		"meds":   "Medication review: effect, side effects, whether to continue, adjust or stop.",
		"return": "Come back at once, or call 120, if symptoms get much worse or you develop chest pain, difficulty breathing, weakness on one side of the body, confusion, heavy bleeding or a high fever. Bring this plan to every visit.",
	},
	LangZH: {
		"call":   "电话随访：症状如何、是否按时服药及有无不良反应、有无新的不适。",
		"visit":  "复诊：到主治医生处复查。",
		"meds":   "用药评估：疗效、副作用，决定继续、调整或停用。",
		"return": "如症状明显加重，或出现胸痛、呼吸困难、单侧肢体无力、意识模糊、大量出血或高热，请立即返院或拨打120。每次就诊请携带本随访计划。",
	},
}

// FollowUp builds a dated follow-up plan: the clinician's items, the standard steps (a phone check at 3
// days, a review visit at 14 days, a medication review at 30 days when on medication) and, when asked and a
// model is configured, up to three steps the model proposes (validated; dropped if invalid). Dates are
// computed here, never by the model. With a patient id and a memory store the plan is saved.
func FollowUp(ctx context.Context, deps Deps, req FollowUpRequest) (*Plan, error) {
	deps, err := deps.withDefaults()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if req.Start != "" {
		if start, err = time.Parse(time.DateOnly, req.Start); err != nil {
			return nil, badRequest(fmt.Sprintf("followup: start %q: want YYYY-MM-DD", req.Start))
		}
	}
	lang := normLang(req.Lang, req.Summary)
	txt := followUpText[lang]
	plan := &Plan{PatientID: req.PatientID, Created: start.Format(time.DateOnly), Language: lang, ReturnIf: txt["return"]}
	add := func(days int, kind, action string) error {
		action = strings.TrimSpace(action)
		if days < 0 || days > 730 {
			return badRequest(fmt.Sprintf("followup: days_after %d outside 0..730", days))
		}
		if action == "" {
			return badRequest("followup: empty action")
		}
		if !slices.Contains([]string{KindCall, KindVisit, KindTest, KindMedicationReview, KindSelfCheck}, kind) {
			return badRequest(fmt.Sprintf("followup: unknown kind %q", kind))
		}
		plan.Items = append(plan.Items, PlanItem{Date: start.AddDate(0, 0, days).Format(time.DateOnly), DaysAfter: days, Kind: kind, Action: action})
		return nil
	}
	for _, it := range req.Items {
		if err := add(it.DaysAfter, it.Kind, it.Action); err != nil {
			return nil, err
		}
	}
	_ = add(3, KindCall, txt["call"])
	_ = add(14, KindVisit, txt["visit"])
	if req.OnMedication {
		_ = add(30, KindMedicationReview, txt["meds"])
	}
	if req.UseModel && deps.Generate != nil && strings.TrimSpace(req.Summary) != "" {
		sp := deps.Sampling
		if req.Sampling != nil {
			sp = *req.Sampling
		}
		items, err := proposeItems(ctx, deps, req.Summary, lang, sp)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			slog.Warn("clinic followup: model items not used", "err", err)
		}
		for _, it := range items {
			if add(it.DaysAfter, it.Kind, it.Action) != nil {
				slog.Warn("clinic followup: model item dropped", "days_after", it.DaysAfter, "kind", it.Kind)
			}
		}
	}
	if len(plan.Items) > 30 {
		return nil, badRequest(fmt.Sprintf("followup: %d items, at most 30", len(plan.Items)))
	}
	slices.SortStableFunc(plan.Items, func(a, b PlanItem) int { return a.DaysAfter - b.DaysAfter })
	if req.PatientID != "" && deps.Memory != nil {
		plan.Saved = true
		if err := deps.Memory.SaveFollowUp(ctx, req.PatientID, *plan); err != nil {
			return nil, fmt.Errorf("followup: save for patient: %w", err)
		}
	}
	if err := validateDoc("followup", plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// proposeItems asks the model for up to three more follow-up steps.
func proposeItems(ctx context.Context, deps Deps, summary, lang string, sp sample.Options) ([]PlanItem, error) {
	schema := []byte(`{"type":"object","properties":{"items":{"type":"array","maxItems":3,"items":{"type":"object",` +
		`"properties":{"days_after":{"type":"integer","minimum":1,"maximum":365},` +
		`"kind":{"enum":["call","visit","test","medication_review","self_check"]},` +
		`"action":{"type":"string","minLength":1,"maxLength":150}},"required":["days_after","kind","action"],` +
		`"additionalProperties":false}}},"required":["items"],"additionalProperties":false}`)
	sys := "You plan follow-up after a clinic visit. From the visit summary, propose up to three follow-up steps as JSON, each with days_after (1-365), kind and a short action. Write in English."
	if lang == LangZH {
		sys = "你负责制定诊后随访计划。请根据就诊小结，用JSON提出最多三项随访安排，每项包括days_after（1-365天）、kind和简短的action。请用中文书写。"
	}
	msgs := []chat.Message{{Role: "system", Content: sys}, {Role: "user", Content: summary}}
	n, err := deps.promptTokens(&engine.Request{Messages: msgs, Template: deps.Template})
	if err != nil {
		return nil, err
	}
	budget := min(600, deps.ContextLength-n-1)
	format, err := fitSchema(schema, budget, escapedChar)
	if err != nil {
		return nil, err
	}
	doc, _, err := deps.generateJSON(ctx, msgs, format, schema, budget, sp)
	if err != nil {
		return nil, err
	}
	var out struct {
		Items []PlanItem `json:"items"`
	}
	if err := json.NewDecoder(bytes.NewReader(doc)).Decode(&out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// validateDoc checks a document against a shipped schema.
func validateDoc(name string, v any) error {
	schema, err := Schema(name)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := jsonschema.Validate(schema, b); err != nil {
		return fmt.Errorf("%s document: %w", name, err)
	}
	return nil
}
