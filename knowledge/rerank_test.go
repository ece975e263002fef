package knowledge

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// reverseReranker scores the i-th document i, so it reverses the order it
// is given, and remembers what it read.
type reverseReranker struct {
	docs  []string
	err   error
	short bool // return one score too few
}

func (r *reverseReranker) Rank(_ context.Context, _ string, docs []string) ([]float32, error) {
	r.docs = docs
	if r.err != nil {
		return nil, r.err
	}
	s := make([]float32, len(docs))
	for i := range s {
		s[i] = float32(i)
	}
	if r.short {
		s = s[1:]
	}
	return s, nil
}

// TestRetrieveReranks: with a Reranker, Retrieve hands it the top
// RerankDepth candidates (more than the five it returns) with their titles
// and returns the five it scores best; its errors are the caller's.
func TestRetrieveReranks(t *testing.T) {
	ctx := context.Background()
	lib := &Library{Dir: t.TempDir()}
	kb, err := lib.Open("g")
	if err != nil {
		t.Fatal(err)
	}
	_, err = kb.Add(ctx, []string{"testdata/corpus.jsonl"})
	kb.Close()
	if err != nil {
		t.Fatal(err)
	}
	const q = "warfarin INR blood pressure 华法林 高血压 患者"
	plain, err := lib.Retrieve(ctx, "g", q, 0)
	if err != nil || len(plain) != 5 {
		t.Fatalf("retrieve: %d %v", len(plain), err)
	}
	r := &reverseReranker{}
	lib.Options.Reranker = r
	got, err := lib.Retrieve(ctx, "g", q, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.docs)
	if n <= 5 || n > RerankDepth {
		t.Fatalf("reranker read %d candidates, want 6 to %d", n, RerankDepth)
	}
	if len(got) != 5 {
		t.Fatalf("%d passages", len(got))
	}
	for i, p := range got {
		// The reranker read "title\ntext"; the best is the last it read.
		if d := r.docs[n-1-i]; !strings.HasSuffix(d, "\n"+p.Text) || !strings.HasPrefix(d, p.Title) {
			t.Errorf("passage %d is %q, reranker's #%d is %q", i, p.Text, i+1, d)
		}
	}
	if got[0].Text == plain[0].Text {
		t.Errorf("the reranker's order was not applied")
	}
	r.err = errors.New("boom")
	if _, err := lib.Retrieve(ctx, "g", q, 0); !errors.Is(err, r.err) {
		t.Errorf("reranker error: %v", err)
	}
	r.err, r.short = nil, true
	if _, err := lib.Retrieve(ctx, "g", q, 0); err == nil || !strings.Contains(err.Error(), "scores for") {
		t.Errorf("too few scores: %v", err)
	}
}
