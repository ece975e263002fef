package eval

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestWilson checks against the score-interval column (method 3) of
// Newcombe, "Two-sided confidence intervals for the single proportion",
// Statistics in Medicine 17:857–872 (1998), Table II, given to 4 places.
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
	} {
		lo, hi := Wilson(c.k, c.n)
		if math.Abs(lo-c.lo) > 5e-5 || math.Abs(hi-c.hi) > 5e-5 {
			t.Errorf("Wilson(%d, %d) = [%.5f, %.5f], Newcombe gives [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	// n−k successes mirror k.
	lo, hi := Wilson(20, 20)
	if math.Abs(hi-1) > 1e-12 || math.Abs(lo-(1-0.1611)) > 5e-5 {
		t.Errorf("Wilson(20, 20) = [%f, %f]", lo, hi)
	}
}

func TestReaders(t *testing.T) {
	for _, c := range []struct {
		file, format string
		n            int
		first        Item
	}{
		{"testdata/pubmedqa_sample.json", FormatPubMedQA, 3, Item{ID: "90000001", Style: Cloze, Lang: "en",
			Options: []string{"yes", "no", "maybe"}, Labels: []string{"yes", "no", "maybe"}, Answer: []int{0}}},
		{"testdata/pubmedqa_hf_sample.jsonl", FormatPubMedQA, 2, Item{ID: "90000004", Style: Cloze, Lang: "en",
			Options: []string{"yes", "no", "maybe"}, Labels: []string{"yes", "no", "maybe"}, Answer: []int{0}}},
		{"testdata/medmcqa_sample.jsonl", FormatMedMCQA, 5, Item{ID: "sample-0001", Style: Letters, Lang: "en", Subject: "Biochemistry",
			Options: []string{"Vitamin C", "Vitamin D", "Vitamin B12", "Vitamin K"}, Labels: []string{"A", "B", "C", "D"}, Answer: []int{0}}},
		{"testdata/cmb_sample.json", FormatCMB, 3, Item{ID: "1", Style: Letters, Lang: "zh", Subject: "临床执业医师",
			Options: []string{"维生素A", "维生素B1", "维生素C", "维生素D", "维生素K"}, Labels: []string{"A", "B", "C", "D", "E"}, Answer: []int{2}}},
		{"testdata/mcq_sample.jsonl", FormatMCQ, 4, Item{ID: "ward-1", Style: Letters, Lang: "en", Subject: "haematology",
			Options: []string{"Stop warfarin and consider oral vitamin K", "Double the warfarin dose", "Give aspirin", "Start heparin"},
			Labels:  []string{"A", "B", "C", "D"}, Answer: []int{0}}},
	} {
		items, format, err := ReadFile(c.file, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if format != c.format || len(items) != c.n {
			t.Fatalf("%s: format %s, %d items", c.file, format, len(items))
		}
		got := items[0]
		got.Question, got.Context = "", ""
		if !reflect.DeepEqual(got, c.first) {
			t.Errorf("%s: first item\n got %+v\nwant %+v", c.file, got, c.first)
		}
	}
	items, _, _ := ReadFile("testdata/medmcqa_sample.jsonl", ReadOptions{})
	var answers []int
	for _, it := range items {
		answers = append(answers, it.Answer...)
	}
	if !reflect.DeepEqual(answers, []int{0, 1, 2, 3}) { // the fifth has cop −1: no key
		t.Errorf("MedMCQA answers %v", answers)
	}
	// A file mixing 0-based (HF) and 1-based (original JSON) cop is refused.
	b := `{"question":"q","opa":"a","opb":"b","opc":"c","opd":"d","cop": 4}
{"question":"q","opa":"a","opb":"b","opc":"c","opd":"d","cop": 0}`
	if _, _, err := Parse([]byte(b), ReadOptions{}); err == nil {
		t.Error("MedMCQA file with cop 0 and 4 accepted")
	}
	one, _, err := Parse([]byte(`{"question":"q","opa":"a","opb":"b","opc":"c","opd":"d","cop": 4}`), ReadOptions{})
	if err != nil || one[0].Answer[0] != 3 {
		t.Errorf("1-based cop 4: %v %v", one, err)
	}
	if _, _, err := Parse([]byte(`{"question":"q","opa":"a","opb":"b","opc":"c","opd":"d","cop": 2}`), ReadOptions{}); err == nil {
		t.Error("ambiguous MedMCQA base accepted")
	}
	cmb, _, _ := ReadFile("testdata/cmb_sample.json", ReadOptions{})
	if len(cmb[1].Options) != 4 || !reflect.DeepEqual(cmb[2].Answer, []int{0, 1, 3}) {
		t.Errorf("CMB: empty option kept or multi-answer misread: %+v", cmb[1:])
	}
	for _, bad := range []string{
		`{"question":"q","options":["a","b"],"answer":"C"}`,
		`{"question":"q","options":["a"],"answer":"A"}`,
		`{"question":"q","options":{"A":"x","C":"y"},"answer":"A"}`,
		`{"question":"","options":["a","b"],"answer":"A"}`,
		`{"foo":1}`,
		`not json`,
	} {
		if _, _, err := Parse([]byte(bad), ReadOptions{}); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestPrompt(t *testing.T) {
	items, _, _ := ReadFile("testdata/medmcqa_sample.jsonl", ReadOptions{})
	want := "Question: Which vitamin deficiency causes scurvy?\nChoices:\nA. Vitamin C\nB. Vitamin D\nC. Vitamin B12\nD. Vitamin K\nAnswer:"
	if got := Prompt(&items[0]); got != want {
		t.Errorf("prompt:\n%s\nwant:\n%s", got, want)
	}
	pq, _, _ := ReadFile("testdata/pubmedqa_hf_sample.jsonl", ReadOptions{})
	if got := Prompt(&pq[0]); !strings.HasPrefix(got, "Abstract: Central line") || !strings.HasSuffix(got, "intensive care?\nAnswer:") {
		t.Errorf("pubmedqa prompt: %q", got)
	}
}

func TestExtract(t *testing.T) {
	four := &Item{Options: []string{"a", "b", "c", "d"}, Labels: []string{"A", "B", "C", "D"}, Style: Letters, Answer: []int{1}}
	multi := &Item{Options: []string{"a", "b", "c", "d"}, Labels: []string{"A", "B", "C", "D"}, Style: Letters, Answer: []int{0, 1}, Lang: "zh"}
	yn := &Item{Options: []string{"yes", "no", "maybe"}, Labels: []string{"yes", "no", "maybe"}, Style: Cloze, Answer: []int{0}}
	for _, c := range []struct {
		it   *Item
		out  string
		want []int
	}{
		{four, " B", []int{1}},
		{four, "B. Vitamin D", []int{1}},
		{four, "(C) because", []int{2}},
		{four, "I think the answer is D.", []int{3}},
		{four, "The correct answer: A", []int{0}},
		{four, "Answer is that nobody knows", nil},
		{four, "A, B", nil}, // two letters for one answer: no answer
		{four, "E", nil},    // not an option
		{four, "I would pick C", []int{2}},
		{four, "ｂ", nil},                  // lower-case full-width: not a letter answer
		{four, "答案：Ｃ", []int{2}},          // full-width
		{multi, "答案：ABD", []int{0, 1, 3}}, // graded wrong later, but read
		{multi, "A、B", []int{0, 1}},
		{multi, "正确答案为 B 和 A。", []int{0, 1}},
		{yn, "Yes, it does.", []int{0}},
		{yn, "We do not know; maybe.", []int{2}},
		{yn, "No.", []int{1}},
		{yn, "I know nothing", nil},
	} {
		if got := Extract(c.it, c.out); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Extract(%q) = %v, want %v", c.out, got, c.want)
		}
	}
}

// fakeModel returns log-likelihoods from a table keyed by the continuation's
// text, so the scoring arithmetic can be checked by hand.
type fakeModel struct {
	ll  map[string]float64
	gen map[string]string
}

// Encode maps each byte to a token, so continuations decode back to text.
func (f *fakeModel) Encode(s string) []int32 {
	ids := []int32{1} // BOS
	for _, b := range []byte(s) {
		ids = append(ids, int32(b))
	}
	return ids
}

func (f *fakeModel) LogLikelihoods(_ context.Context, _ []int32, conts [][]int32) ([]float64, error) {
	out := make([]float64, len(conts))
	for i, c := range conts {
		b := make([]byte, len(c))
		for j, id := range c {
			b[j] = byte(id)
		}
		out[i] = f.ll[string(b)]
	}
	return out, nil
}

func (f *fakeModel) Generate(_ context.Context, prompt string, _ int) (string, error) {
	for k, v := range f.gen {
		if strings.Contains(prompt, k) {
			return v, nil
		}
	}
	return "", nil
}

func TestRunArithmetic(t *testing.T) {
	items := []Item{
		// acc picks "no" (−2 > −3), acc_norm picks "maybe" (−3/5 > −2/2).
		{ID: "1", Question: "q1", Options: []string{"yes", "no", "maybe"}, Answer: []int{2}, Style: Cloze},
		// acc picks "yes".
		{ID: "2", Question: "q2", Options: []string{"yes", "no", "maybe"}, Answer: []int{0}, Style: Cloze},
		{ID: "3", Question: "q3", Options: []string{"yes", "no", "maybe"}, Style: Cloze},                 // no key
		{ID: "4", Question: "q4", Options: []string{"a", "b", "c"}, Answer: []int{0, 2}, Style: Letters}, // multi
	}
	for i := range items {
		items[i], _ = finish(items[i])
	}
	m := &fakeModel{ll: map[string]float64{" yes": -4, " no": -2, " maybe": -3}}
	var results []*Result
	s, err := Run(context.Background(), m, items, Options{OnResult: func(r *Result) error { results = append(results, r); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Scored != 2 || s.Skipped != 2 || s.Correct != 0 || s.CorrectNorm != 1 || s.AccNorm != 0.5 {
		t.Errorf("summary %+v", s)
	}
	if r := results[0]; r.Pred != "no" || r.PredNorm != "maybe" || !reflect.DeepEqual(r.LogLik, []float64{-4, -2, -3}) || r.Correct || !r.CorrectNorm {
		t.Errorf("result 1 %+v", r)
	}
	lo, hi := Wilson(0, 2)
	if s.CI95 != [2]float64{lo, hi} {
		t.Errorf("CI %v", s.CI95)
	}
	// Generation mode grades the multi-answer item by its set.
	m.gen = map[string]string{"q4": "答案：A C", "q1": "Maybe.", "q2": "no"}
	s, err = Run(context.Background(), m, items, Options{Mode: ModeGenerate})
	if err != nil {
		t.Fatal(err)
	}
	if s.Scored != 3 || s.Correct != 2 || s.Skipped != 1 {
		t.Errorf("generate summary %+v", s)
	}
}
