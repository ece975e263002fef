package clinic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// An emergency's evidence is the complaint as typed cut into segments, the
// words that fired the red flag marked with their concept (in the patient's
// own case, though the rules read lower case), and negated words left
// unmarked; routine answers carry none.
func TestTriageEvidence(t *testing.T) {
	complaint := "No fever. Crushing CHEST PAIN going to my left arm, and I am sweating"
	res, err := Triage(context.Background(), Deps{}, complaint, TriageOptions{NoModel: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Urgency != Emergency {
		t.Fatalf("not an emergency: %+v", res)
	}
	var whole strings.Builder
	marked := map[string]string{}
	for _, s := range res.Evidence {
		whole.WriteString(s.Text)
		if s.Concept != "" {
			marked[s.Concept] += s.Text
		}
	}
	if whole.String() != complaint {
		t.Errorf("segments join to %q, want the complaint as typed %q", whole.String(), complaint)
	}
	if !strings.Contains(marked["chest_pain"], "CHEST") || marked["sweating"] == "" {
		t.Errorf("marked %v: want chest pain and sweating", marked)
	}
	for c, text := range marked {
		if strings.Contains(text, "fever") {
			t.Errorf("negated fever marked as %s", c)
		}
	}
	if len(res.RedFlagTitles) != len(res.RedFlags) || len(res.RedFlags) == 0 {
		t.Fatalf("titles %q for red flags %q", res.RedFlagTitles, res.RedFlags)
	}
	for i, title := range res.RedFlagTitles {
		if title == res.RedFlags[i] || !strings.Contains(strings.ToLower(title), "chest pain") {
			t.Errorf("red flag %s titled %q, want the rule's English title", res.RedFlags[i], title)
		}
	}
	b, _ := json.Marshal(res)
	validate(t, "triage", b)

	res, err = Triage(context.Background(), Deps{}, "No chest pain, a mild cough for three days", TriageOptions{NoModel: true})
	if err != nil || res.Urgency == Emergency || res.Evidence != nil {
		t.Errorf("negated complaint: %+v %v", res, err)
	}
}

// Spans found in the normalised text land on the patient's own characters:
// full-width letters, traditional characters, line breaks (normalised to
// ". ") and runs of spaces all change byte offsets, and the marked words must
// still be exactly the words that were typed (the chest-pain rule's term is
// "crushing chest", so "Pain" stays unmarked).
func TestTriageEvidenceOriginalText(t *testing.T) {
	for _, tc := range []struct {
		lang, complaint string
		want            []string // marked text, in order
	}{
		{"en", "Ｎo fever.\n\n  Sudden ＣＲＵＳＨＩＮＧ  Chest   Pain, I am SWEATING", []string{"ＣＲＵＳＨＩＮＧ  Chest", "SWEATING"}},
		{"zh", "  突發胸痛，大汗淋漓", []string{"胸痛", "大汗"}},
	} {
		res, err := Triage(context.Background(), Deps{}, tc.complaint, TriageOptions{NoModel: true, Lang: tc.lang})
		if err != nil || res.Urgency != Emergency {
			t.Fatalf("%q: %+v %v", tc.complaint, res, err)
		}
		var whole strings.Builder
		var marked []string
		for _, s := range res.Evidence {
			whole.WriteString(s.Text)
			if s.Concept != "" {
				marked = append(marked, s.Text)
			}
		}
		if whole.String() != tc.complaint {
			t.Errorf("segments join to %q, want %q", whole.String(), tc.complaint)
		}
		if strings.Join(marked, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: marked %q, want %q", tc.complaint, marked, tc.want)
		}
		if tc.lang == LangZH && !strings.ContainsAny(strings.Join(res.RedFlagTitles, ""), "胸痛") {
			t.Errorf("Chinese titles %q", res.RedFlagTitles)
		}
	}
}

// normalizeMapped must produce exactly Normalize's text (the evidence relies
// on it, falling back to lower case otherwise), with every byte's source a
// valid range of the input.
func TestNormalizeMapped(t *testing.T) {
	for _, s := range []string{"", "  a  ", "Ａ\r\nB", "ﬁre ℃ 發燒 “x” —", "e\u0301\u0301 Σ ς İ ß", "line\n\n\nline.\n", "\x00\t控制"} {
		got, src := normalizeMapped(s)
		if got != Normalize(s) || len(src) != len(got) {
			t.Errorf("normalizeMapped(%q) = %q (%d sources), Normalize = %q", s, got, len(src), Normalize(s))
			continue
		}
		for i, r := range src {
			if r[0] < 0 || r[0] >= r[1] || r[1] > len(s) {
				t.Errorf("%q: byte %d from %v", s, i, r)
			}
		}
	}
}
