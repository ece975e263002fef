package memory

import (
	"regexp"
	"strings"
	"time"
	"unicode"

	"dayi/knowledge"
)

// Fact kinds.
const (
	FactAllergy    = "allergy"
	FactDiagnosis  = "diagnosis"
	FactMedication = "medication"
	FactResult     = "result"
)

// Fact is a durable item of a patient's record.
type Fact struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"` // what it is about: the allergen, the drug, the test
	Text    string `json:"text"`    // the sentence it was found in
	Date    string `json:"date"`    // YYYY-MM-DD: the date in the sentence, else the turn's
}

// rule finds one kind of fact: re matches a clause and its group 1 (when
// present) is the subject.
type rule struct {
	kind string
	re   *regexp.Regexp
	neg  bool // a match means the kind is explicitly absent ("no known allergies")
}

// clauseChars is any character but clause punctuation, so that subjects
// never cross a comma ('.' is allowed: Chinese notes end sentences with '。'
// and write doses as "0.5g").
const clauseChars = `[^，,。；;：:、\n（）()]`

// rules are written for clinical notes in Chinese and English. They are
// deliberately narrow: a fact missed is still in the stored turn, while a
// wrong "allergy" would be repeated at every later visit.
var rules = []rule{
	{FactAllergy, regexp.MustCompile(`(?:否认|无|没有|未发现)(?:药物|食物)?过敏史|(?i:\bno known (?:drug )?allerg(?:y|ies)\b|\bNKDA\b|\bdenies (?:any )?allerg(?:y|ies)\b)`), true},
	{FactAllergy, regexp.MustCompile(`对(` + clauseChars + `{1,20}?)(?:有)?过敏`), false},
	{FactAllergy, regexp.MustCompile(`有(` + clauseChars + `{1,15}?)过敏史`), false},
	{FactAllergy, regexp.MustCompile(`过敏(?:史|原)\s*(?:[:：为是])\s*([^。；;\n]{1,40})`), false},
	{FactAllergy, regexp.MustCompile(`([\p{Han}A-Za-z0-9]{2,12})过敏`), false},
	{FactAllergy, regexp.MustCompile(`(?i)\ballergic to ([^,.;:\n]{2,40})`), false},
	{FactAllergy, regexp.MustCompile(`(?i)\ballerg(?:y|ies) (?:to|:) ?([^.;\n]{2,40})`), false},
	{FactAllergy, regexp.MustCompile(`(?i)\b([a-z][a-z-]{2,30}) allergy\b`), false},
	{FactDiagnosis, regexp.MustCompile(`诊断(?:为|是|[:：])\s*([^，,。；;\n]{2,30})`), false},
	{FactDiagnosis, regexp.MustCompile(`确诊(?:为|了)?(` + clauseChars + `{2,20})`), false},
	{FactDiagnosis, regexp.MustCompile(`患有(` + clauseChars + `{2,20})`), false},
	{FactDiagnosis, regexp.MustCompile(`([\p{Han}A-Za-z0-9]{2,12})病史`), false},
	{FactDiagnosis, regexp.MustCompile(`(?i)\bdiagnos(?:ed with|is of|is:|is) ?([^,.;\n]{2,40})`), false},
	{FactDiagnosis, regexp.MustCompile(`(?i)\bhistory of ([^,.;\n]{2,40})`), false},
	{FactMedication, regexp.MustCompile(`(?:服用|口服|使用|开始|加用|改用|予以|给予|开具|处方|停用|停药)(` + clauseChars + `{2,24})`), false},
	{FactMedication, regexp.MustCompile(`(?i)\b(?:taking|takes|started(?: on)?|prescribed|stopped|switched to|increased|reduced)\s+([a-z][a-z-]{3,}(?:\s+\d+(?:\.\d+)?\s*(?:mg|mcg|µg|g|units|iu|ml))?)`), false},
	{FactMedication, regexp.MustCompile(`(?i)\b([a-z][a-z-]{3,}\s+\d+(?:\.\d+)?\s*(?:mg|mcg|µg|units|iu))\b`), false},
}

// labs are the results worth remembering with their dates.
var labRe = regexp.MustCompile(`(?i)(HbA1c|糖化血红蛋白|空腹血糖|餐后血糖|血糖|glucose|血压|\bBP\b|blood pressure|eGFR|肌酐|creatinine|LDL-?C?|低密度脂蛋白|总胆固醇|cholesterol|\bINR\b|\bTSH\b|血钾|potassium|血红蛋白|ha?emoglobin|\bHb\b|尿酸|uric acid|\bALT\b|谷丙转氨酶|体重|weight|\bBMI\b)\s*(?:[:：=]|为|是|of|was|is)?\s*(\d+(?:\.\d+)?(?:/\d+)?)\s*(%|mmHg|mmol/L|mg/dL|µmol/L|umol/L|μmol/L|g/L|g/dL|mL/min(?:/1\.73m²)?|kg|mIU/L|U/L)?`)

var dateRe = regexp.MustCompile(`(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?`)

// subjectPrefixes are words that precede the real subject in Chinese notes.
var subjectPrefixes = []string{"患者", "病人", "本人", "自述", "既往", "曾经", "曾", "有", "对", "因", "明确", "一直", "长期", "每日", "每天"}

// negators before a match inside the same clause cancel it ("否认高血压病史").
var negators = []string{"否认", "无", "没有", "未", "不", "denies", "no ", "not "}

// ExtractFacts finds allergies, diagnoses, medications and dated results in
// text (a clinician's note or question). when dates the facts whose
// sentence carries no date.
func ExtractFacts(text string, when time.Time) []Fact {
	var out []Fact
	seen := map[string]bool{}
	add := func(f Fact) {
		k := f.Kind + "\x00" + strings.ToLower(f.Subject) + "\x00" + f.Text
		if f.Subject != "" && !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	for _, sent := range knowledge.SplitSentences(text) {
		sent = strings.TrimSpace(sent)
		date := when.UTC().Format("2006-01-02")
		if m := dateRe.FindStringSubmatch(sent); m != nil {
			date = m[1] + "-" + pad2(m[2]) + "-" + pad2(m[3])
		}
		short := truncateRunes(sent, 160)
		negated := map[string]bool{}
		for _, r := range rules {
			for _, m := range r.re.FindAllStringSubmatchIndex(sent, -1) {
				if r.neg {
					negated[r.kind] = true
					add(Fact{Kind: r.kind, Subject: "none known", Text: short, Date: date})
					continue
				}
				if negated[r.kind] || negatedBefore(sent, m[0]) {
					continue
				}
				subj := cleanSubject(sent[m[2]:m[3]])
				if subj == "" || isGenericSubject(subj) || startsNegated(subj) {
					continue
				}
				add(Fact{Kind: r.kind, Subject: subj, Text: short, Date: date})
			}
		}
		for _, m := range labRe.FindAllStringSubmatch(sent, -1) {
			add(Fact{Kind: FactResult, Subject: m[1], Text: strings.TrimSpace(m[0]), Date: date})
		}
	}
	return dedupeNested(out)
}

// dedupeNested drops a fact whose subject is contained in another fact of
// the same kind from the same sentence (two rules matching one phrase), so
// the longer, more specific subject stays.
func dedupeNested(fs []Fact) []Fact {
	var out []Fact
	for i, f := range fs {
		dup := false
		for j, g := range fs {
			if i != j && f.Kind == g.Kind && f.Text == g.Text && f.Kind != FactResult &&
				len(g.Subject) > len(f.Subject) && strings.Contains(g.Subject, f.Subject) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

// startsNegated reports a subject that swallowed its own negation, as
// "否认糖尿病" from "否认糖尿病病史".
func startsNegated(s string) bool {
	for _, n := range []string{"否认", "没有", "无", "未", "不"} {
		if strings.HasPrefix(s, n) {
			return true
		}
	}
	return false
}

func negatedBefore(sent string, at int) bool {
	start := strings.LastIndexAny(sent[:at], "，,。；;：:")
	clause := strings.ToLower(sent[start+1 : at])
	for _, n := range negators {
		if strings.Contains(clause, n) {
			return true
		}
	}
	return false
}

func cleanSubject(s string) string {
	s = strings.TrimSpace(s)
	for changed := true; changed; {
		changed = false
		for _, p := range subjectPrefixes {
			if strings.HasPrefix(s, p) && len(s) > len(p) {
				s, changed = strings.TrimSpace(s[len(p):]), true
			}
		}
	}
	s = strings.TrimSuffix(s, "药物")
	return strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
}

// isGenericSubject rejects subjects that name no specific thing.
func isGenericSubject(s string) bool {
	switch strings.ToLower(s) {
	case "", "药物", "食物", "药", "过敏", "drug", "drugs", "known", "any", "medication", "medications", "the", "this", "food", "seasonal":
		return true
	}
	return false
}

func pad2(s string) string {
	if len(s) == 1 {
		return "0" + s
	}
	return s
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
