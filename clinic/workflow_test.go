package clinic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dayi/assets"
	"dayi/engine"
	"dayi/engine/jsonschema"
	"dayi/engine/sample"
	"dayi/weights"
)

// tinyDeps loads the embedded tiny model once per test binary.
var tiny struct {
	once sync.Once
	lm   *engine.LM
	err  error
}

func tinyDeps(t testing.TB) Deps {
	t.Helper()
	tiny.once.Do(func() {
		f, err := weights.Parse(assets.DefaultModel)
		if err != nil {
			tiny.err = err
			return
		}
		m, err := engine.Load(f, engine.Options{})
		if err != nil {
			tiny.err = err
			return
		}
		tiny.lm, tiny.err = engine.NewLM(m)
	})
	if tiny.err != nil {
		t.Fatal(tiny.err)
	}
	lm := tiny.lm
	return Deps{
		Generate: lm.Generate, Template: "chatml", ContextLength: lm.Ctx,
		CountTokens: func(r *engine.Request) (int, error) {
			ids, _, err := lm.PromptTokens(r)
			return len(ids), err
		},
	}
}

func validate(t *testing.T, name string, doc []byte) {
	t.Helper()
	schema, err := Schema(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonschema.Validate(schema, doc); err != nil {
		t.Errorf("%s: %v\n%s", name, err, doc)
	}
}

// TestEMRSchemaValid50Seeds: the SOAP note from the tiny story model (which knows nothing of medicine or
// JSON) validates against the shipped schema for 50 different seeds.
func TestEMRSchemaValid50Seeds(t *testing.T) {
	deps := tinyDeps(t)
	transcripts := []string{
		"Doctor: What brings you in? Patient: I have had a cough and a sore throat for three days. Doctor: Any fever? Patient: A little, 37.8. Doctor: Any medicines? Patient: Only ibuprofen. Allergic to penicillin.",
		"医生：哪里不舒服？患者：咳嗽三天，嗓子疼。医生：发烧吗？患者：有点低烧，37.8度。医生：吃过什么药？患者：布洛芬。青霉素过敏。",
	}
	start := time.Now()
	// The LM serves concurrent Generate calls; a few workers keep the test short on a multi-core machine.
	results := make([]*EMRResult, 50)
	errs := make([]error, 50)
	var wg sync.WaitGroup
	seeds := make(chan int64)
	for range 4 {
		wg.Go(func() {
			for seed := range seeds {
				sp := sample.DefaultOptions()
				sp.Seed = seed
				results[seed], errs[seed] = EMR(context.Background(), deps, transcripts[seed%2], EMROptions{Sampling: &sp, MaxTokens: 600})
			}
		})
	}
	for seed := range int64(50) {
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	attempts := map[int]int{}
	tokens := 0
	distinct := map[string]bool{}
	for seed, res := range results {
		if errs[seed] != nil {
			t.Fatalf("seed %d: %v", seed, errs[seed])
		}
		attempts[res.Attempts]++
		tokens += res.Tokens
		distinct[string(res.Note)] = true
		validate(t, "emr_soap", res.Note)
		var note map[string]map[string]any
		if err := json.Unmarshal(res.Note, &note); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, k := range []string{"subjective", "objective", "assessment", "plan"} {
			if note[k] == nil {
				t.Errorf("seed %d: no %s", seed, k)
			}
		}
		if !res.Draft {
			t.Error("an EMR note must be marked as a draft")
		}
	}
	if len(distinct) < 40 {
		t.Errorf("only %d distinct notes from 50 seeds: the seeds do not reach the sampler", len(distinct))
	}
	t.Logf("50 notes valid; attempts %v; %d tokens in %v", attempts, tokens, time.Since(start))
}

// TestFitSchemaBound checks the bound itself: a tightened schema's worst-case document fits the budget,
// limits never grow, and property order survives (the grammar emits properties in schema order).
func TestFitSchemaBound(t *testing.T) {
	schema, _ := Schema("emr_soap")
	for _, budget := range []int{600, 1500, 4000, 100000} {
		out, err := fitSchema(schema, budget, escapedChar)
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		root, _ := jsonschema.DecodeOrdered(out)
		n, _ := maxBytes(root, escapedChar, "$")
		if n+maxWS > budget {
			t.Errorf("budget %d: bound %d", budget, n)
		}
		if _, err := jsonschema.Compile(out); err != nil {
			t.Errorf("budget %d: tightened schema does not compile: %v", budget, err)
		}
		if i, j := bytes.Index(out, []byte(`"subjective"`)), bytes.Index(out, []byte(`"plan"`)); i < 0 || j < i {
			t.Errorf("budget %d: property order lost", budget)
		}
	}
	if _, err := fitSchema(schema, 50, escapedChar); err == nil {
		t.Error("a 50-token budget cannot hold the SOAP skeleton; want an error")
	}
	// Unchanged when it already fits.
	out, _ := fitSchema(schema, 1<<30, escapedChar)
	var a, b any
	_ = json.Unmarshal(schema, &a)
	_ = json.Unmarshal(out, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("fitSchema changed a schema that fits")
	}
}

// TestWorstCaseDocumentFits writes, for a tightened schema, a document that uses every limit with escaped
// characters and full white space, and checks that the engine's grammar accepts it and it is within budget:
// the bound is a real upper bound of what the grammar allows, not an estimate.
func TestWorstCaseDocumentFits(t *testing.T) {
	schema, _ := Schema("emr_soap")
	const budget = 1200
	out, err := fitSchema(schema, budget, escapedChar)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := jsonschema.DecodeOrdered(out)
	var doc bytes.Buffer
	doc.WriteString("  ")
	worstDoc(&doc, root)
	g, err := jsonschema.Compile(out)
	if err != nil {
		t.Fatal(err)
	}
	st := g.NewState()
	if err := st.Advance(doc.Bytes()); err != nil {
		t.Fatalf("grammar rejects the worst-case document: %v\n%s", err, doc.Bytes())
	}
	if !st.Done() {
		t.Fatalf("worst-case document incomplete:\n%s", doc.Bytes())
	}
	if doc.Len() > budget {
		t.Errorf("worst-case document is %d bytes, budget %d", doc.Len(), budget)
	}
	t.Logf("worst-case document %d bytes for a %d budget", doc.Len(), budget)
}

func worstDoc(b *bytes.Buffer, v any) {
	o := v.(*jsonschema.Object)
	if e, ok := o.Get("enum").([]any); ok {
		longest := ""
		for _, x := range e {
			if s := x.(string); len(s) > len(longest) {
				longest = s
			}
		}
		fmt.Fprintf(b, "%q", longest)
		return
	}
	switch o.Get("type") {
	case "string":
		b.WriteByte('"')
		b.WriteString(strings.Repeat(`\u4e2d`, intOf(o, "maxLength", 0)))
		b.WriteByte('"')
	case "array":
		if intOf(o, "maxItems", 0) == 0 {
			b.WriteString("[  ]")
			return
		}
		b.WriteString("[  ")
		for i := range intOf(o, "maxItems", 0) {
			if i > 0 {
				b.WriteString("  ,  ")
			}
			worstDoc(b, o.Get("items"))
		}
		b.WriteString("  ]")
	case "object":
		b.WriteString("{  ")
		props := o.Get("properties").(*jsonschema.Object)
		for i, k := range props.Keys() {
			if i > 0 {
				b.WriteString("  ,  ")
			}
			fmt.Fprintf(b, "%q  :  ", k)
			worstDoc(b, props.Get(k))
		}
		b.WriteString("  }")
	}
}

func TestTriage(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		complaint, urgency, dept string
		flags                    []string
	}{
		{"Chest pain radiating to my left arm and sweating", Emergency, "Emergency Department", []string{"chest_pain_cardiac"}},
		{"胸痛伴大汗", Emergency, "急诊科", []string{"chest_pain_cardiac"}},
		{"I have had a cough with yellow phlegm for a week", Routine, "Respiratory Medicine", nil},
		{"拉肚子两天，肚子疼", Routine, "消化内科", nil},
		{"toothache since yesterday", Routine, "Dentistry", nil},
		{"I fell and I think my wrist has a fracture", Urgent, "Orthopedics", nil},
		{"发烧39.8度，咳嗽", Urgent, "呼吸内科", nil},
		{"I feel a bit off", Routine, "General Practice", nil},
		{"no cough, but itchy rash on my arms", Routine, "Dermatology", nil},
	}
	for _, c := range cases {
		res, err := Triage(ctx, Deps{}, c.complaint, TriageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res)
		validate(t, "triage", b)
		if res.Urgency != c.urgency || res.Department != c.dept || !slices.Equal(res.RedFlags, append([]string{}, c.flags...)) {
			t.Errorf("%q: got %s", c.complaint, b)
		}
		if c.urgency == Emergency && (!strings.Contains(res.Advice, "120") || len(res.Questions) != 0) {
			t.Errorf("%q: emergency advice must be the rule's fixed text: %s", c.complaint, b)
		}
	}
}

// TestTriageModelCannotOverride: whatever the model would say, a red flag is answered by the rules, and for
// other complaints the model only picks among the routing table's candidates.
func TestTriageModelCannotOverride(t *testing.T) {
	called := 0
	evil := func(ctx context.Context, req *engine.Request, on func(string) error) (*engine.Result, error) {
		called++
		return &engine.Result{Text: `{"department":"Emergency Department","questions":["Is it fine to ignore?"]}`, DoneReason: "stop"}, nil
	}
	deps := Deps{Generate: evil}
	res, err := Triage(context.Background(), deps, "sudden slurred speech", TriageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if called != 0 || res.Urgency != Emergency || !slices.Equal(res.RedFlags, []string{"stroke_signs"}) {
		t.Errorf("red flag went to the model (%d calls) or lost: %+v", called, res)
	}
	res, err = Triage(context.Background(), deps, "cough for a week", TriageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 || res.Department != "Respiratory Medicine" || res.Urgency != Routine {
		t.Errorf("model changed the table's department: %+v", res)
	}
	failing := func(ctx context.Context, req *engine.Request, on func(string) error) (*engine.Result, error) {
		return nil, errors.New("model crashed")
	}
	res, err = Triage(context.Background(), Deps{Generate: failing}, "cough for a week", TriageOptions{})
	if err != nil || len(res.Questions) == 0 || res.Department != "Respiratory Medicine" {
		t.Errorf("a failing model must fall back to the table: %+v %v", res, err)
	}
}

// TestTriageTinyModel runs the real constrained refinement on the tiny model: the result keeps the table's
// department and urgency and is valid for the triage schema.
func TestTriageTinyModel(t *testing.T) {
	deps := tinyDeps(t)
	sp := sample.DefaultOptions()
	sp.Seed = 7
	for _, c := range []string{"stomach ache and diarrhoea, and also a headache", "头痛三天"} {
		res, err := Triage(context.Background(), deps, c, TriageOptions{Sampling: &sp})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res)
		validate(t, "triage", b)
		if res.Urgency != Routine || len(res.Questions) == 0 || len(res.Questions) > 3 {
			t.Errorf("%q: %s", c, b)
		}
	}
}

func TestIntake(t *testing.T) {
	answers := map[string]string{}
	var step *IntakeStep
	script := []string{"Cough and sore throat", "Three days ago, getting worse", "Dry cough, throat pain 4/10, worse at night",
		"ibuprofen, vitamin C and lisinopril", "none", "high blood pressure"}
	for i := 0; ; i++ {
		var err error
		step, err = Intake(Deps{}, IntakeRequest{Answers: answers})
		if err != nil {
			t.Fatal(err)
		}
		if step.Done {
			break
		}
		if i >= len(script) || step.Step != IntakeSteps[i] || step.Question == "" {
			t.Fatalf("step %d: %+v", i, step)
		}
		answers[step.Step] = script[i]
	}
	s := step.Summary
	b, _ := json.Marshal(s)
	validate(t, "intake", b)
	if !slices.Equal(s.Medications, []string{"ibuprofen", "vitamin C", "lisinopril"}) || len(s.Allergies) != 0 ||
		s.ChiefComplaint != "Cough and sore throat" || s.Language != LangEN || !strings.Contains(s.HPI, "worse at night") {
		t.Errorf("summary: %s", b)
	}

	// Chinese, with a red flag in a later answer: the dialogue stops with the emergency advice.
	step, err := Intake(Deps{}, IntakeRequest{Answers: map[string]string{
		StepChiefComplaint: "头痛", StepOnset: "今天早上突然剧烈头痛，从来没有这么痛过"}})
	if err != nil {
		t.Fatal(err)
	}
	if !step.Done || step.Urgency != Emergency || !slices.Equal(step.RedFlags, []string{"thunderclap_headache"}) || !strings.Contains(step.Advice, "120") {
		t.Errorf("red flag in intake: %+v", step)
	}
	b, _ = json.Marshal(step.Summary)
	validate(t, "intake", b)
	step, _ = Intake(Deps{}, IntakeRequest{Answers: map[string]string{StepChiefComplaint: "胸口痛"}})
	if step.Question != intakeQuestions[StepOnset].ZH {
		t.Errorf("Chinese dialogue asked %q", step.Question)
	}
}

type memStore struct {
	mu    sync.Mutex
	plans map[string][]Plan
}

func (m *memStore) SaveFollowUp(ctx context.Context, id string, p Plan) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plans[id] = append(m.plans[id], p)
	return nil
}

func TestFollowUp(t *testing.T) {
	mem := &memStore{plans: map[string][]Plan{}}
	deps := Deps{Memory: mem}
	plan, err := FollowUp(context.Background(), deps, FollowUpRequest{PatientID: "P-001", Start: "2025-02-20", OnMedication: true,
		Summary: "Hypertension, started amlodipine",
		Items:   []PlanItem{{DaysAfter: 7, Kind: KindTest, Action: "Home blood pressure log review"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(plan)
	validate(t, "followup", b)
	wantDates := []string{"2025-02-23", "2025-02-27", "2025-03-06", "2025-03-22"} // +3, +7, +14, +30 (2025 is not a leap year)
	var got []string
	for _, it := range plan.Items {
		got = append(got, it.Date)
	}
	if !slices.Equal(got, wantDates) || !plan.Saved || len(mem.plans["P-001"]) != 1 {
		t.Errorf("plan %s; saved %v", b, mem.plans)
	}
	if _, err := FollowUp(context.Background(), deps, FollowUpRequest{Start: "20/02/2025"}); err == nil {
		t.Error("bad date accepted")
	}
	plan, err = FollowUp(context.Background(), Deps{}, FollowUpRequest{PatientID: "P-2", Summary: "高血压复诊"})
	if err != nil || plan.Saved || plan.Language != LangZH {
		t.Errorf("no store: %+v %v", plan, err)
	}
	// With the tiny model proposing items: still valid, dates computed here.
	td := tinyDeps(t)
	sp := sample.DefaultOptions()
	sp.Seed = 3
	plan, err = FollowUp(context.Background(), td, FollowUpRequest{Start: "2025-01-01", Summary: "Sprained ankle", UseModel: true, Sampling: &sp})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(plan)
	validate(t, "followup", b)
}

func TestHandler(t *testing.T) {
	h := NewHandler(Deps{Memory: &memStore{plans: map[string][]Plan{}}})
	srv := httptest.NewServer(http.StripPrefix("", h))
	defer srv.Close()
	post := func(path, body string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := post("/api/clinic/triage", `{"complaint":"my baby is 6 weeks old and has a fever"}`); code != 200 || m["urgency"] != Emergency {
		t.Errorf("triage: %d %v", code, m)
	}
	if code, m := post("/api/clinic/intake", `{"answers":{}}`); code != 200 || m["step"] != StepChiefComplaint {
		t.Errorf("intake: %d %v", code, m)
	}
	if code, m := post("/api/clinic/followup", `{"patient_id":"x","start":"2025-01-01"}`); code != 200 || m["saved"] != true {
		t.Errorf("followup: %d %v", code, m)
	}
	if code, _ := post("/api/clinic/emr", `{"transcript":"hello"}`); code != http.StatusServiceUnavailable {
		t.Errorf("emr without a model: %d", code)
	}
	for body, want := range map[string]int{`{`: 400, `{"complaint":""}`: 400, `{"complain":"x"}`: 400, ``: 400,
		`{"complaint":"` + strings.Repeat("a", maxBody) + `"}`: 413} {
		if code, _ := post("/api/clinic/triage", body); code != want {
			t.Errorf("body %.20q: %d, want %d", body, code, want)
		}
	}
	if code, _ := post("/api/clinic/nope", `{}`); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
	resp, _ := http.Get(srv.URL + "/api/clinic/triage")
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp.Body.Close()
}
