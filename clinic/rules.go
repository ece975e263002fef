package clinic

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The shipped red-flag rules. A hospital replaces them with its own file (LoadRules, `--rules FILE`); the
// file carries its own examples, so a replacement is checked the same way (RuleSet.CheckExamples, `dayi
// clinic rules check`).
//
//go:embed rules/redflags.json
var defaultRulesJSON []byte

// Text is a string in both languages the product serves.
type Text struct {
	EN string `json:"en"`
	ZH string `json:"zh"`
}

// In returns the text in lang ("zh" or anything else for English), falling back to the other language.
func (t Text) In(lang string) string {
	if lang == LangZH && t.ZH != "" || t.EN == "" {
		return t.ZH
	}
	return t.EN
}

// Languages.
const (
	LangEN = "en"
	LangZH = "zh"
)

// Cue is a negation cue. A pre-cue negates the terms that start within MaxGap runes after it, in the same
// clause; a list cue ("denies", "negative for") also negates the terms that follow a negated term through a
// comma (", ", ", or "), as in "denies chest pain, dyspnoea or sweating".
type Cue struct {
	Text   string `json:"text"`
	MaxGap int    `json:"max_gap,omitempty"` // runes between cue and term; 0 means 40
	List   bool   `json:"list,omitempty"`
}

// Negation is the language data of negation handling.
type Negation struct {
	Pre []Cue `json:"pre"`
	// Post are cues that negate the term just before them ("chest pain: denied", "胸痛(-)").
	Post []string `json:"post"`
	// Pseudo are phrases that contain a cue or boundary but negate nothing ("no reason", "无明显诱因",
	// "never had such"); cues and boundaries inside them are ignored.
	Pseudo []string `json:"pseudo"`
	// Boundaries end a negation scope ("but", "但是"). Clause punctuation always does.
	Boundaries []string `json:"boundaries"`
	// ListJoin are separators through which a negation carries from one term to the next ("、", "or").
	ListJoin []string `json:"list_join"`
}

// Concept is a clinical finding with its synonyms. A term may end a word with "*" (prefix: "radiat*") and
// may have gaps written " ... " ("radiat* ... arm": both parts in order, in one clause, at most 30 runes
// apart). TemperatureMinC, when set, also makes the concept present when a body temperature at or above it is
// written ("38.5℃", "体温39度", "temp 101.3 f").
type Concept struct {
	Terms           []string `json:"terms"`
	TemperatureMinC float64  `json:"temperature_min_c,omitempty"`
}

// Age qualifies a rule by the patient's age. The rule fires when an age stated in the text is at most
// MaxDays, or when no age is stated that rules it out (an age above MaxDays but under two years) and one of
// the IfUnknown concepts is present ("newborn", "婴儿").
type Age struct {
	MaxDays   int      `json:"max_days"`
	IfUnknown []string `json:"if_unknown,omitempty"`
}

// Pattern is one way a rule fires: every group must have at least one present concept.
type Pattern struct {
	All [][]string `json:"all"`
}

// Examples are the rule's test cases: positives must fire it, negated ones must fire no rule at all.
type Examples struct {
	PositiveEN []string `json:"positive_en"`
	PositiveZH []string `json:"positive_zh"`
	NegatedEN  []string `json:"negated_en"`
	NegatedZH  []string `json:"negated_zh"`
}

// Rule is one emergency pattern.
type Rule struct {
	ID       string    `json:"id"`
	Title    Text      `json:"title"`
	When     []Pattern `json:"when"`
	Age      *Age      `json:"age,omitempty"`
	Advice   Text      `json:"advice"`
	Examples Examples  `json:"examples"`
}

// RuleFile is the JSON layout of a rule file.
type RuleFile struct {
	Version  string             `json:"version"`
	About    string             `json:"about,omitempty"`
	Negation Negation           `json:"negation"`
	Concepts map[string]Concept `json:"concepts"`
	Rules    []Rule             `json:"rules"`
}

// RuleSet is a compiled rule file. It is immutable and safe for concurrent use.
type RuleSet struct {
	File RuleFile
	*analyzer
	rules []ruleC
}

// analyzer finds concepts in text with negation handling; the red-flag rules and the routing table share it.
type analyzer struct {
	terms   []term // every concept term, compiled
	cues    []cueC
	post    []string
	pseudo  []string
	bounds  []string
	joins   []string
	concept map[string]int // concept name → index
	names   []string       // index → concept name
	tempMin []float64      // per concept index; 0 = none
}

type term struct {
	concept int
	parts   []part // gaps between parts
}

type part struct {
	text   string // normalised
	prefix bool   // matches the start of a word ("radiat*")
}

type cueC struct {
	text   string
	maxGap int
	list   bool
}

type ruleC struct {
	when      [][][]int // pattern → group → concept indexes
	ageMax    int       // -1: no age qualifier
	ifUnknown []int
}

// DefaultRules compiles the shipped rule set (the package tests check that it compiles).
func DefaultRules() (*RuleSet, error) {
	rs, err := ParseRules(defaultRulesJSON)
	if err != nil {
		return nil, fmt.Errorf("embedded rules/redflags.json: %w", err)
	}
	return rs, nil
}

// LoadRules reads and compiles a rule file.
func LoadRules(path string) (*RuleSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	rs, err := ParseRules(b)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	return rs, nil
}

// ParseRules compiles a rule file's bytes. Unknown fields and references to undefined concepts are errors,
// so a typo in a hospital's file cannot silently disable a rule.
func ParseRules(b []byte) (*RuleSet, error) {
	var f RuleFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("no rules")
	}
	a, err := compileAnalyzer(f.Negation, f.Concepts)
	if err != nil {
		return nil, err
	}
	rs := &RuleSet{File: f, analyzer: a}
	seen := map[string]bool{}
	for _, r := range f.Rules {
		if r.ID == "" {
			return nil, fmt.Errorf("a rule has no id")
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("rule %q: duplicate id", r.ID)
		}
		seen[r.ID] = true
		if r.Advice.EN == "" || r.Advice.ZH == "" {
			return nil, fmt.Errorf("rule %q: advice needs both en and zh", r.ID)
		}
		if len(r.When) == 0 {
			return nil, fmt.Errorf("rule %q: no patterns in when", r.ID)
		}
		rc := ruleC{ageMax: -1}
		for pi, p := range r.When {
			if len(p.All) == 0 {
				return nil, fmt.Errorf("rule %q: when[%d]: empty all", r.ID, pi)
			}
			var groups [][]int
			for gi, g := range p.All {
				if len(g) == 0 {
					return nil, fmt.Errorf("rule %q: when[%d].all[%d]: empty group", r.ID, pi, gi)
				}
				var idx []int
				for _, name := range g {
					ci, ok := rs.concept[name]
					if !ok {
						return nil, fmt.Errorf("rule %q: when[%d]: unknown concept %q", r.ID, pi, name)
					}
					idx = append(idx, ci)
				}
				groups = append(groups, idx)
			}
			rc.when = append(rc.when, groups)
		}
		if r.Age != nil {
			if r.Age.MaxDays <= 0 {
				return nil, fmt.Errorf("rule %q: age.max_days must be positive", r.ID)
			}
			rc.ageMax = r.Age.MaxDays
			for _, name := range r.Age.IfUnknown {
				ci, ok := rs.concept[name]
				if !ok {
					return nil, fmt.Errorf("rule %q: age.if_unknown: unknown concept %q", r.ID, name)
				}
				rc.ifUnknown = append(rc.ifUnknown, ci)
			}
		}
		rs.rules = append(rs.rules, rc)
	}
	return rs, nil
}

// compileAnalyzer compiles concepts and negation data.
func compileAnalyzer(neg Negation, concepts map[string]Concept) (*analyzer, error) {
	a := &analyzer{concept: map[string]int{}}
	names := make([]string, 0, len(concepts))
	for name := range concepts {
		names = append(names, name)
	}
	slices.Sort(names)
	a.names = names
	for i, name := range names {
		c := concepts[name]
		a.concept[name] = i
		a.tempMin = append(a.tempMin, c.TemperatureMinC)
		if len(c.Terms) == 0 && c.TemperatureMinC == 0 {
			return nil, fmt.Errorf("concept %q: no terms", name)
		}
		for _, t := range c.Terms {
			ct, err := compileTerm(t)
			if err != nil {
				return nil, fmt.Errorf("concept %q: %w", name, err)
			}
			ct.concept = i
			a.terms = append(a.terms, ct)
		}
	}
	for _, c := range neg.Pre {
		t := Normalize(c.Text)
		if t == "" {
			return nil, fmt.Errorf("negation.pre: empty cue")
		}
		g := c.MaxGap
		if g <= 0 {
			g = 40
		}
		a.cues = append(a.cues, cueC{text: t, maxGap: g, list: c.List})
	}
	var err error
	if a.post, err = normList("negation.post", neg.Post); err != nil {
		return nil, err
	}
	if a.pseudo, err = normList("negation.pseudo", neg.Pseudo); err != nil {
		return nil, err
	}
	if a.bounds, err = normList("negation.boundaries", neg.Boundaries); err != nil {
		return nil, err
	}
	if a.joins, err = normList("negation.list_join", neg.ListJoin); err != nil {
		return nil, err
	}
	return a, nil
}

// normList normalises a list of phrases.
func normList(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		n := Normalize(s)
		if n == "" {
			return nil, fmt.Errorf("%s: empty entry", field)
		}
		out = append(out, n)
	}
	return out, nil
}

// compileTerm splits a term into its gap-separated parts.
func compileTerm(s string) (term, error) {
	var t term
	for _, p := range strings.Split(s, "...") {
		p = Normalize(p)
		prefix := strings.HasSuffix(p, "*")
		p = strings.TrimSuffix(p, "*")
		if p == "" {
			return t, fmt.Errorf("term %q: empty part", s)
		}
		if strings.Contains(p, "*") {
			return t, fmt.Errorf("term %q: * is allowed only at the end of a part", s)
		}
		t.parts = append(t.parts, part{text: p, prefix: prefix})
	}
	return t, nil
}

// CheckExamples runs the rule file's own examples: every positive must fire its rule and no negated example
// may fire any rule. It returns one line per failure (none means the file is consistent).
func (rs *RuleSet) CheckExamples() []string {
	var out []string
	for _, r := range rs.File.Rules {
		ex := r.Examples
		for _, p := range slices.Concat(ex.PositiveEN, ex.PositiveZH) {
			found := false
			for _, m := range rs.Match(p) {
				found = found || m.ID == r.ID
			}
			if !found {
				out = append(out, fmt.Sprintf("rule %s: positive example does not fire: %q", r.ID, p))
			}
		}
		for _, n := range slices.Concat(ex.NegatedEN, ex.NegatedZH) {
			for _, m := range rs.Match(n) {
				out = append(out, fmt.Sprintf("rule %s: negated example fires %s: %q", r.ID, m.ID, n))
			}
		}
	}
	return out
}
