// Package eval measures a model on multiple-choice questions offline, so a
// hospital can test a model on its own exam questions before deploying it.
//
// Scoring follows lm-evaluation-harness: by log-likelihood, each option is a
// continuation of the prompt and the most likely one is the answer (acc), or
// the most likely per character of the option (acc_norm); by generation, the
// model answers greedily and the answer letter is extracted from its text.
// Accuracy comes with a 95 % Wilson score interval, because hospital test
// sets are small and a bare percentage hides how little 50 questions prove.
package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Style is how options are scored.
type Style string

// Styles.
const (
	// Letters lists the options in the prompt and scores the answer letters
	// (lm-evaluation-harness's medmcqa task: "Question: …\nChoices:\nA. …\nAnswer:" → " A").
	Letters Style = "letters"
	// Cloze scores the option texts themselves (its pubmedqa task: → " yes").
	Cloze Style = "cloze"
)

// Item is one multiple-choice question.
type Item struct {
	ID       string   `json:"id"`
	Question string   `json:"question"`
	Context  string   `json:"context,omitempty"` // an abstract or case text shown before the question
	Options  []string `json:"options"`
	Labels   []string `json:"labels"` // what the model answers: "A", "B", … or the option texts
	Answer   []int    `json:"answer"` // indices of the correct options; several for multiple-answer questions; none when unknown
	Style    Style    `json:"style"`
	Lang     string   `json:"lang"` // "en" or "zh": the prompt's wording
	Subject  string   `json:"subject,omitempty"`
}

// Formats ReadFile understands.
const (
	FormatAuto     = "auto"
	FormatMCQ      = "mcq"      // dayi's own JSONL (see README)
	FormatPubMedQA = "pubmedqa" // PubMedQA: ori_pqal.json object, or JSONL of the Hugging Face rows
	FormatMedMCQA  = "medmcqa"  // MedMCQA JSONL (opa…opd, cop)
	FormatCMB      = "cmb"      // CMB-Exam JSON array or JSONL (option map, answer letters)
)

// Formats lists the format names.
func Formats() []string {
	return []string{FormatAuto, FormatMCQ, FormatPubMedQA, FormatMedMCQA, FormatCMB}
}

// ReadOptions tune ReadFile.
type ReadOptions struct {
	Format string // FormatAuto when empty
	// MedMCQABase is the number of MedMCQA's first option in "cop": 0 in the
	// Hugging Face release, 1 in the original JSON. -1 (or 0 with
	// MedMCQABaseSet false) detects it from the file: a cop of 0 means
	// 0-based, a cop of 4 means 1-based.
	MedMCQABase    int
	MedMCQABaseSet bool
}

// ReadFile reads a question file in any supported format.
func ReadFile(path string, opt ReadOptions) ([]Item, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	items, format, err := Parse(b, opt)
	if err != nil {
		return nil, format, fmt.Errorf("%s: %w", path, err)
	}
	return items, format, nil
}

// Parse reads questions from b: a JSON array, a JSON object keyed by id
// (PubMedQA's ori_pqal.json) or JSON lines.
func Parse(b []byte, opt ReadOptions) ([]Item, string, error) {
	recs, keys, err := records(b)
	if err != nil {
		return nil, "", err
	}
	if len(recs) == 0 {
		return nil, "", errors.New("no questions")
	}
	format := opt.Format
	if format == "" || format == FormatAuto {
		if format, err = detect(recs[0]); err != nil {
			return nil, "", err
		}
	}
	var items []Item
	for i, rec := range recs {
		var it Item
		switch format {
		case FormatMCQ:
			it, err = mcqItem(rec)
		case FormatPubMedQA:
			it, err = pubmedqaItem(rec)
		case FormatMedMCQA:
			it, err = medmcqaItem(rec)
		case FormatCMB:
			it, err = cmbItem(rec)
		default:
			return nil, "", fmt.Errorf("unknown format %q (want one of %v)", format, Formats())
		}
		if err != nil {
			return nil, format, fmt.Errorf("record %d: %w", i+1, err)
		}
		if it.ID == "" {
			if keys != nil {
				it.ID = keys[i]
			} else {
				it.ID = strconv.Itoa(i + 1)
			}
		}
		items = append(items, it)
	}
	if format == FormatMedMCQA {
		if err := fixMedMCQABase(items, opt); err != nil {
			return nil, format, err
		}
	}
	return items, format, nil
}

type record map[string]json.RawMessage

// records splits b into JSON objects; keys are the ids of an object-of-objects file.
func records(b []byte) ([]record, []string, error) {
	t := bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	if len(t) == 0 {
		return nil, nil, nil
	}
	if t[0] == '[' {
		var recs []record
		if err := json.Unmarshal(t, &recs); err != nil {
			return nil, nil, fmt.Errorf("JSON array: %w", err)
		}
		return recs, nil, nil
	}
	// One object whose values are all objects, not JSON lines: PubMedQA's
	// {"<pmid>": {"QUESTION": …}, …}.
	if first := firstLine(t); !json.Valid(first) {
		var obj map[string]record
		if err := json.Unmarshal(t, &obj); err == nil && len(obj) > 0 {
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			recs := make([]record, len(keys))
			for i, k := range keys {
				recs[i] = obj[k]
			}
			return recs, keys, nil
		}
	}
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(t))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(l, &r); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return nil, nil, err
	}
	return recs, nil, nil
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

func detect(r record) (string, error) {
	has := func(k string) bool { _, ok := r[k]; return ok }
	switch {
	case has("opa") && has("cop"):
		return FormatMedMCQA, nil
	case has("option") && has("answer"):
		return FormatCMB, nil
	case has("final_decision") || has("QUESTION"):
		return FormatPubMedQA, nil
	case has("options") && has("question"):
		return FormatMCQ, nil
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "", fmt.Errorf("cannot tell the format from the fields %v; pass the format", keys)
}

func str(r record, key string) string {
	raw, ok := r[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.Trim(string(raw), `"`) // numbers as ids
}

// letters are the option labels: A–Z.
func letter(i int) string { return string(rune('A' + i)) }

func letterIndex(s string, n int) (int, bool) {
	s = strings.TrimSpace(strings.ToUpper(s))
	if len(s) != 1 || s[0] < 'A' || int(s[0]-'A') >= n {
		return 0, false
	}
	return int(s[0] - 'A'), true
}

// mcqItem reads dayi's format: {"id", "question", "options": [..] or {"A": ..},
// "answer": "B" | ["A","C"] | 1 (0-based index), "context", "style", "lang", "subject"}.
func mcqItem(r record) (Item, error) {
	it := Item{ID: str(r, "id"), Question: str(r, "question"), Context: str(r, "context"), Subject: str(r, "subject"), Lang: str(r, "lang")}
	if it.Question == "" {
		return it, errors.New(`no "question"`)
	}
	var list []string
	var m map[string]string
	if err := json.Unmarshal(r["options"], &list); err != nil {
		if err := json.Unmarshal(r["options"], &m); err != nil {
			return it, errors.New(`"options" is neither a list of strings nor a map from letters`)
		}
		var err error
		if list, err = optionMap(m); err != nil {
			return it, err
		}
	}
	it.Options = list
	it.Style = Style(str(r, "style"))
	if it.Style == "" {
		it.Style = Letters
	}
	if it.Style != Letters && it.Style != Cloze {
		return it, fmt.Errorf("style %q (want letters or cloze)", it.Style)
	}
	var err error
	if it.Answer, err = parseAnswer(r["answer"], it.Options); err != nil {
		return it, err
	}
	return finish(it)
}

// optionMap turns {"A": x, "B": y} into a list, requiring consecutive letters.
func optionMap(m map[string]string) ([]string, error) {
	list := make([]string, 0, len(m))
	for i := 0; i < len(m); i++ {
		v, ok := m[letter(i)]
		if !ok {
			return nil, fmt.Errorf("options %v skip the letter %s", keysOf(m), letter(i))
		}
		list = append(list, v)
	}
	return list, nil
}

func keysOf(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// parseAnswer accepts letters ("B", "ABD", ["A","C"]), an option text, or a
// 0-based index. A missing answer is an empty list (the item is skipped).
func parseAnswer(raw json.RawMessage, options []string) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var idx int
	if json.Unmarshal(raw, &idx) == nil {
		if idx < 0 || idx >= len(options) {
			return nil, fmt.Errorf("answer index %d outside 0..%d", idx, len(options)-1)
		}
		return []int{idx}, nil
	}
	var list []string
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for i, o := range options {
			if s == o && len(s) > 1 {
				return []int{i}, nil
			}
		}
		for _, c := range strings.TrimSpace(s) {
			if c == ',' || c == ' ' || c == '、' {
				continue
			}
			list = append(list, string(c))
		}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("answer %s: want a letter, letters, an option text or an index", raw)
	}
	var ans []int
	for _, l := range list {
		i, ok := letterIndex(l, len(options))
		if !ok {
			return nil, fmt.Errorf("answer %s: %q is not one of the %d options' letters", raw, l, len(options))
		}
		ans = append(ans, i)
	}
	sort.Ints(ans)
	return ans, nil
}

// finish fills the labels and checks the item.
func finish(it Item) (Item, error) {
	if len(it.Options) < 2 || len(it.Options) > 26 {
		return it, fmt.Errorf("%d options (want 2..26)", len(it.Options))
	}
	for i, o := range it.Options {
		if strings.TrimSpace(o) == "" {
			return it, fmt.Errorf("option %s is empty", letter(i))
		}
	}
	it.Labels = make([]string, len(it.Options))
	for i := range it.Options {
		if it.Style == Cloze {
			it.Labels[i] = it.Options[i]
		} else {
			it.Labels[i] = letter(i)
		}
	}
	if it.Lang == "" {
		it.Lang = "en"
		if hasHan(it.Question) {
			it.Lang = "zh"
		}
	}
	return it, nil
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4E00 && r <= 0x9FFF {
			return true
		}
	}
	return false
}

// pubmedqaItem reads PubMedQA (Jin et al. 2019, github.com/pubmedqa/pubmedqa,
// MIT): the original ori_pqal.json values {"QUESTION", "CONTEXTS": [..],
// "final_decision"}, or the Hugging Face rows {"pubid", "question",
// "context": {"contexts": [..]}, "final_decision"}. Options are yes/no/maybe,
// scored as text, as lm-evaluation-harness's pubmedqa task does.
func pubmedqaItem(r record) (Item, error) {
	it := Item{ID: str(r, "pubid"), Question: str(r, "QUESTION"), Style: Cloze, Lang: "en",
		Options: []string{"yes", "no", "maybe"}}
	if it.Question == "" {
		it.Question = str(r, "question")
	}
	if it.Question == "" {
		return it, errors.New(`no "QUESTION" or "question"`)
	}
	var ctxs []string
	if raw, ok := r["CONTEXTS"]; ok {
		if err := json.Unmarshal(raw, &ctxs); err != nil {
			return it, fmt.Errorf("CONTEXTS: %w", err)
		}
	} else if raw, ok := r["context"]; ok {
		var c struct {
			Contexts []string `json:"contexts"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return it, fmt.Errorf("context: %w", err)
		}
		ctxs = c.Contexts
	}
	it.Context = strings.Join(ctxs, " ")
	switch d := strings.ToLower(strings.TrimSpace(str(r, "final_decision"))); d {
	case "yes":
		it.Answer = []int{0}
	case "no":
		it.Answer = []int{1}
	case "maybe":
		it.Answer = []int{2}
	case "":
	default:
		return it, fmt.Errorf("final_decision %q (want yes, no or maybe)", d)
	}
	return finish(it)
}

// medmcqaItem reads MedMCQA (Pal et al. 2022, medmcqa.github.io):
// {"id", "question", "opa".."opd", "cop", "subject_name", …}. cop's base is
// fixed afterwards by fixMedMCQABase; here it is stored as given, +1000 as a
// marker, or as no answer when cop is missing or negative (the test split).
func medmcqaItem(r record) (Item, error) {
	it := Item{ID: str(r, "id"), Question: str(r, "question"), Style: Letters, Lang: "en", Subject: str(r, "subject_name")}
	for _, k := range []string{"opa", "opb", "opc", "opd"} {
		it.Options = append(it.Options, str(r, k))
	}
	if it.Question == "" {
		return it, errors.New(`no "question"`)
	}
	var cop int
	if raw, ok := r["cop"]; ok && json.Unmarshal(raw, &cop) == nil && cop >= 0 {
		if cop > 4 {
			return it, fmt.Errorf("cop %d (want 0..3 or 1..4)", cop)
		}
		it.Answer = []int{1000 + cop}
	}
	return finish(it)
}

func fixMedMCQABase(items []Item, opt ReadOptions) error {
	base := opt.MedMCQABase
	if !opt.MedMCQABaseSet || base < 0 {
		zero, four := false, false
		for _, it := range items {
			if len(it.Answer) == 1 {
				zero = zero || it.Answer[0] == 1000
				four = four || it.Answer[0] == 1004
			}
		}
		switch {
		case zero && four:
			return errors.New("MedMCQA cop values include both 0 and 4; the file mixes conventions")
		case zero:
			base = 0
		case four:
			base = 1
		default:
			return errors.New("MedMCQA cop values are all 1..3: cannot tell whether they count from 0 (Hugging Face) or 1 (original JSON); pass the base")
		}
	}
	for i := range items {
		if len(items[i].Answer) == 1 {
			a := items[i].Answer[0] - 1000 - base
			if a < 0 || a > 3 {
				return fmt.Errorf("record %d: cop %d with base %d", i+1, items[i].Answer[0]-1000, base)
			}
			items[i].Answer[0] = a
		}
	}
	return nil
}

// cmbItem reads CMB-Exam (Wang et al. 2023, github.com/FreedomIntelligence/CMB):
// {"exam_type", "exam_class", "exam_subject", "question", "answer": "ABD",
// "question_type": "单项选择题"|"多项选择题", "option": {"A": …}}.
func cmbItem(r record) (Item, error) {
	it := Item{ID: str(r, "id"), Question: str(r, "question"), Style: Letters, Lang: "zh", Subject: str(r, "exam_subject")}
	if it.Question == "" {
		return it, errors.New(`no "question"`)
	}
	var m map[string]string
	if err := json.Unmarshal(r["option"], &m); err != nil {
		return it, fmt.Errorf("option: %w", err)
	}
	// CMB leaves unused letters as empty strings in some rows.
	for k, v := range m {
		if strings.TrimSpace(v) == "" {
			delete(m, k)
		}
	}
	var err error
	if it.Options, err = optionMap(m); err != nil {
		return it, err
	}
	if it.Answer, err = parseAnswer(r["answer"], it.Options); err != nil {
		return it, err
	}
	return finish(it)
}
