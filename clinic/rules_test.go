package clinic

import (
	"slices"
	"strings"
	"testing"
)

func mustRules(t testing.TB) *RuleSet {
	t.Helper()
	rs, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestShippedExamples checks every rule of the shipped file on its own hand-written examples: every positive
// must fire its rule (recall 100 %), and no negated example may fire any rule.
func TestShippedExamples(t *testing.T) {
	rs := mustRules(t)
	var pos, neg int
	for _, r := range rs.File.Rules {
		ex := r.Examples
		for _, c := range []struct {
			lang string
			list []string
			min  int
		}{{"positive_en", ex.PositiveEN, 5}, {"positive_zh", ex.PositiveZH, 5}, {"negated_en", ex.NegatedEN, 3}, {"negated_zh", ex.NegatedZH, 3}} {
			if len(c.list) < c.min {
				t.Errorf("rule %s: %d %s examples, want at least %d", r.ID, len(c.list), c.lang, c.min)
			}
		}
		for _, p := range slices.Concat(ex.PositiveEN, ex.PositiveZH) {
			pos++
			if !fired(rs.Match(p), r.ID) {
				t.Errorf("rule %s: positive %q did not fire (found %v)", r.ID, p, rs.Analyze(p).Present)
			}
		}
		for _, n := range slices.Concat(ex.NegatedEN, ex.NegatedZH) {
			neg++
			if m := rs.Match(n); len(m) > 0 {
				t.Errorf("rule %s: negated %q fired %v", r.ID, n, ids(m))
			}
		}
	}
	t.Logf("%d rules, %d positives, %d negated examples", len(rs.File.Rules), pos, neg)
	if errs := rs.CheckExamples(); len(errs) > 0 {
		t.Errorf("CheckExamples disagrees with the test: %v", errs)
	}
}

func fired(ms []Match, id string) bool {
	return slices.ContainsFunc(ms, func(m Match) bool { return m.ID == id })
}

func ids(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// TestNegationScope pins the scope rules with cases written for this test (not taken from the rule file).
func TestNegationScope(t *testing.T) {
	rs := mustRules(t)
	cases := []struct {
		text string
		want []string // rule ids, in file order
	}{
		{"no fever but has chest pain and sweating", []string{"chest_pain_cardiac"}},
		{"No chest pain. Now sweating and chest pain again", []string{"chest_pain_cardiac"}},
		{"I have no appetite and my chest hurts and I'm sweating", []string{"chest_pain_cardiac"}},
		{"denies chest pain, sweating", nil},
		{"no chest pain; sweating", nil},
		{"无发热，胸痛伴大汗", []string{"chest_pain_cardiac"}},
		{"无明显诱因出现胸痛伴大汗", []string{"chest_pain_cardiac"}},
		{"否认外伤史，今晨突发胸痛伴大汗", []string{"chest_pain_cardiac"}},
		{"没有胸痛，但是胸闷出汗", []string{"chest_pain_cardiac"}},
		{"胸痛(-)，大汗(-)", nil},
		{"chest pain: absent, sweating: absent", nil},
		{"無胸痛、出汗", nil},                           // traditional characters
		{"胸痛伴大汗", []string{"chest_pain_cardiac"}}, // full-width punctuation
		{"ＣＨＥＳＴ ＰＡＩＮ ａｎｄ ＳＷＥＡＴＩＮＧ", []string{"chest_pain_cardiac"}},
		{"I am not sure why but I have chest pain and sweats", []string{"chest_pain_cardiac"}},
		{"for no reason, chest pain with sweating", []string{"chest_pain_cardiac"}},
		{"突然说不出话", []string{"stroke_signs"}},
		{"四肢无力，无法说话", []string{"stroke_signs"}},
		{"not breathing", []string{"breathing_difficulty"}},
		{"没有呼吸困难", nil},
		{"a benefit plan", nil},                         // "fit" inside a word is not a seizure
		{"my 8-month-old baby has a fever", nil},        // age rules the infant rule out
		{"My baby is 3 years old and has a fever", nil}, // a stated child age over the limit
		{"30岁妈妈，婴儿发烧", []string{"infant_fever"}},        // an adult age does not rule an infant out
		{"不到3个月的宝宝发烧了", []string{"infant_fever"}},       // "不到" is not a negation
		{"temperature 101.5 F in a 7 week old", []string{"infant_fever"}},
		{"2个月大宝宝体温37.2度", nil},
		{"3 months ago I was pregnant and had bleeding", []string{"pregnancy_bleeding"}}, // conservative: stays a flag
		{"I don't want to die", nil},
		{"我不想死", nil},
		{"bleeding gums", nil},
		{"headache for three days", nil},
		{"sudden headache, mild", nil},
		{"突然头痛得厉害", []string{"thunderclap_headache"}},
	}
	for _, c := range cases {
		got := ids(rs.Match(c.text))
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: fired %v, want %v (present %v, ages %v)", c.text, got, c.want, rs.Analyze(c.text).Present, rs.Analyze(c.text).AgesDays)
		}
	}
}

func TestAges(t *testing.T) {
	cases := map[string][]int{
		"2-month-old":          {60},
		"出生50天":                {50},
		"6 weeks old":          {42},
		"a 10 day old newborn": {10},
		"两个月大的婴儿":              {60},
		"孕8周":                  nil,
		"3 months ago":         nil,
		"8 weeks pregnant":     nil,
		"患者45岁":                {45 * 365},
		"一岁半的孩子":               {547},
	}
	for in, want := range cases {
		if got := parseAges(Normalize(in)); !slices.Equal(got, want) {
			t.Errorf("parseAges(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	cases := map[string]string{
		"ＣＨＥＳＴ　Ｐａｉｎ，３８．５℃": "chest pain,38.5°c",
		"胸痛。\n\t大汗":        "胸痛. 大汗",
		"無發燒":              "无发烧",
		"can’t  breathe":   "can't breathe",
		"STRASSE":          "strasse",
		"Straße":           "strasse",
		"\xff bad utf8":    "\ufffd bad utf8",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	for r, s := range tradToSimp {
		if r == s {
			t.Errorf("tradToSimp maps %c to itself", r)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	base := `{"version":"1","negation":{},"concepts":{"a":{"terms":["x"]}},"rules":[{"id":"r","title":{"en":"t","zh":"t"},"when":[{"all":[["a"]]}],"advice":{"en":"e","zh":"z"},"examples":{}}]}`
	if _, err := ParseRules([]byte(base)); err != nil {
		t.Fatalf("minimal file: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown concept": strings.Replace(base, `[["a"]]`, `[["b"]]`, 1),
		"unknown field":   strings.Replace(base, `"version"`, `"versoin"`, 1),
		"missing advice":  strings.Replace(base, `"zh":"z"`, `"zh":""`, 1),
		"no rules":        `{"version":"1","negation":{},"concepts":{},"rules":[]}`,
		"bare star":       strings.Replace(base, `["x"]`, `["*"]`, 1),
		"not json":        `{`,
	} {
		if _, err := ParseRules([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzMatch feeds arbitrary text to the normaliser and the matcher: they must not panic, and normalising
// twice must change nothing more.
func FuzzMatch(f *testing.F) {
	rs := mustRules(f)
	for _, r := range rs.File.Rules {
		for _, s := range slices.Concat(r.Examples.PositiveEN, r.Examples.PositiveZH, r.Examples.NegatedZH) {
			f.Add(s)
		}
	}
	f.Add("\xff\xfe no ... chest")
	f.Add("38.5.5.5℃℃ 出生十十天 aged 999999999999999999999 years")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if n2 := Normalize(n); n2 != n {
			t.Errorf("Normalize not idempotent: %q -> %q -> %q", s, n, n2)
		}
		_ = rs.Match(s)
	})
}
