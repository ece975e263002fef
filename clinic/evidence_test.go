package clinic

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// An emergency's evidence is the normalised complaint cut into segments, the
// words that fired the red flag marked with their concept, and negated words
// left unmarked; routine answers carry none.
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
	if whole.String() != Normalize(complaint) {
		t.Errorf("segments join to %q, want the normalised complaint %q", whole.String(), Normalize(complaint))
	}
	if !strings.Contains(marked["chest_pain"], "chest") || marked["sweating"] == "" {
		t.Errorf("marked %v: want chest pain and sweating", marked)
	}
	for c, text := range marked {
		if strings.Contains(text, "fever") {
			t.Errorf("negated fever marked as %s", c)
		}
	}
	b, _ := json.Marshal(res)
	validate(t, "triage", b)

	res, err = Triage(context.Background(), Deps{}, "No chest pain, a mild cough for three days", TriageOptions{NoModel: true})
	if err != nil || res.Urgency == Emergency || res.Evidence != nil {
		t.Errorf("negated complaint: %+v %v", res, err)
	}
}
