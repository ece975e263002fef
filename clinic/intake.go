package clinic

import (
	"regexp"
	"strings"
)

// Intake steps, in the order they are asked.
const (
	StepChiefComplaint = "chief_complaint"
	StepOnset          = "onset"
	StepDetails        = "details"
	StepMedications    = "medications"
	StepAllergies      = "allergies"
	StepPastHistory    = "past_history"
)

// IntakeSteps are the intake questions in order.
var IntakeSteps = []string{StepChiefComplaint, StepOnset, StepDetails, StepMedications, StepAllergies, StepPastHistory}

var intakeQuestions = map[string]Text{
	StepChiefComplaint: {EN: "What is the main problem that brings you in today?", ZH: "您这次主要哪里不舒服？"},
	StepOnset:          {EN: "When did it start, and has it been getting better, worse, or staying the same?", ZH: "什么时候开始的？之后是好转、加重还是没有变化？"},
	StepDetails:        {EN: "Please describe it: where it is, how bad (0 to 10), what makes it better or worse, and any other symptoms.", ZH: "请具体描述一下：在什么部位、有多严重（0到10分）、什么情况下加重或减轻，还有没有其他症状？"},
	StepMedications:    {EN: "Which medicines do you take now, including over-the-counter and herbal ones? (say \"none\" if none)", ZH: "您现在在用哪些药（包括非处方药和中药）？没有请回答“无”。"},
	StepAllergies:      {EN: "Are you allergic to any medicines, foods or other things? (say \"none\" if none)", ZH: "您对药物、食物或其他东西过敏吗？没有请回答“无”。"},
	StepPastHistory:    {EN: "Do you have any long-term illnesses, past operations or hospital stays?", ZH: "您以前有什么慢性病、做过手术或住过院吗？"},
}

// IntakeRequest is the state of an intake dialogue. It is kept by the client and sent back whole with each
// answer, so the server keeps no session (and no patient text) between requests.
type IntakeRequest struct {
	Lang    string            `json:"lang,omitempty"`
	Answers map[string]string `json:"answers"`
}

// IntakeSummary is the structured result; it validates against schemas/intake.schema.json.
type IntakeSummary struct {
	ChiefComplaint string   `json:"chief_complaint"`
	HPI            string   `json:"history_of_present_illness"`
	Medications    []string `json:"medications"`
	Allergies      []string `json:"allergies"`
	PastHistory    string   `json:"past_history"`
	RedFlags       []string `json:"red_flags"`
	Language       string   `json:"language"`
}

// IntakeStep is the answer to an IntakeRequest: the next question, or the summary when done. When a red
// flag fires in any answer the dialogue stops at once with urgency "emergency" and the fixed advice.
type IntakeStep struct {
	Done     bool           `json:"done"`
	Step     string         `json:"step,omitempty"`
	Question string         `json:"question,omitempty"`
	Urgency  string         `json:"urgency,omitempty"`
	Advice   string         `json:"advice,omitempty"`
	RedFlags []string       `json:"red_flags"`
	Summary  *IntakeSummary `json:"summary,omitempty"`
}

// Intake advances a pre-consultation dialogue by one step. It is deterministic: the questions are fixed,
// the summary keeps the patient's own words, and the red-flag rules run on every answer.
func Intake(deps Deps, req IntakeRequest) (*IntakeStep, error) {
	deps, err := deps.withDefaults()
	if err != nil {
		return nil, err
	}
	var all strings.Builder
	for _, s := range IntakeSteps {
		all.WriteString(req.Answers[s])
		all.WriteString(".\n")
	}
	lang := normLang(req.Lang, all.String())
	out := &IntakeStep{RedFlags: []string{}}
	var advice []string
	for _, s := range IntakeSteps {
		for _, m := range deps.Rules.Match(req.Answers[s]) {
			if !contains(out.RedFlags, m.ID) {
				out.RedFlags = append(out.RedFlags, m.ID)
				advice = append(advice, m.Advice.In(lang))
			}
		}
	}
	if len(out.RedFlags) > 0 {
		out.Done, out.Urgency, out.Advice = true, Emergency, strings.Join(advice, "\n")
	}
	if !out.Done {
		for _, s := range IntakeSteps {
			if strings.TrimSpace(req.Answers[s]) == "" {
				out.Step, out.Question = s, intakeQuestions[s].In(lang)
				return out, nil
			}
		}
		out.Done = true
	}
	if strings.TrimSpace(req.Answers[StepChiefComplaint]) == "" {
		return out, nil // an emergency before any complaint: nothing to summarise
	}
	sum := &IntakeSummary{
		ChiefComplaint: clip(req.Answers[StepChiefComplaint], 500),
		HPI:            clip(joinNonEmpty(req.Answers[StepOnset], req.Answers[StepDetails]), 3000),
		Medications:    splitList(req.Answers[StepMedications], 30),
		Allergies:      splitList(req.Answers[StepAllergies], 20),
		PastHistory:    clip(strings.TrimSpace(req.Answers[StepPastHistory]), 2000),
		RedFlags:       out.RedFlags,
		Language:       lang,
	}
	if isNone(sum.PastHistory) {
		sum.PastHistory = ""
	}
	if err := validateDoc("intake", sum); err != nil {
		return nil, err
	}
	out.Summary = sum
	return out, nil
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

var (
	listSep  = regexp.MustCompile(`\s*(?:[,;，；、\n]|\band\b|和|以及)\s*`)
	noneWord = regexp.MustCompile(`^(?:none|no|nothing|nil|n/?a|not any|no allergies|no medicines|无|没有|没|否认|不吃药|无过敏|没有过敏|没有吃药)[.。!！]*$`)
)

func isNone(s string) bool { return noneWord.MatchString(Normalize(s)) }

// splitList splits a free-text answer into items; "none"/"无" gives an empty list.
func splitList(s string, maxItems int) []string {
	out := []string{}
	if isNone(s) {
		return out
	}
	for _, p := range listSep.Split(s, -1) {
		p = strings.Trim(strings.TrimSpace(p), ".。")
		if p == "" || isNone(p) {
			continue
		}
		if len(out) == maxItems {
			break
		}
		out = append(out, clip(p, 200))
	}
	return out
}
