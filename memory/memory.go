package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"dayi/knowledge"
)

// Turn is one exchange of a visit.
type Turn struct {
	User      string    `json:"user"`
	Assistant string    `json:"assistant"`
	Time      time.Time `json:"time"`
}

// Options configure a Memory.
type Options struct {
	// CountTokens measures recalled text against the budget (default
	// knowledge.EstimateTokens; pass the model's tokenizer for exactness).
	CountTokens func(string) int
	// Summarize, when set, updates the running summary after each turn
	// (e.g. by asking the model). Without it the facts are the summary.
	Summarize func(ctx context.Context, previous string, turn Turn) (string, error)
	// Now stamps turns recorded without a time (default time.Now).
	Now func() time.Time
}

// Memory records turns and recalls a patient's history into a prompt.
type Memory struct {
	store Store
	opt   Options
	// mu orders Record against ForgetRecord, which rewrites a patient's
	// records: a turn recorded in between would otherwise be lost.
	mu sync.Mutex
}

// New returns a Memory over store.
func New(store Store, opt Options) *Memory {
	if opt.CountTokens == nil {
		opt.CountTokens = knowledge.EstimateTokens
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Memory{store: store, opt: opt}
}

// Store returns the underlying store.
func (m *Memory) Store() Store { return m.store }

// Record stores a turn and the facts found in what the user wrote. Facts are
// taken from the user's text only: the model's answer is not evidence about
// the patient ("if you were allergic to…" is not an allergy).
func (m *Memory) Record(ctx context.Context, patientID string, turn Turn) error {
	if err := checkPatient(patientID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if turn.Time.IsZero() {
		turn.Time = m.opt.Now()
	}
	turn.Time = turn.Time.UTC()
	body, err := json.Marshal(turn)
	if err != nil {
		return err
	}
	recs := []Record{{Kind: KindTurn, Time: turn.Time, Body: string(body)}}
	for _, f := range ExtractFacts(turn.User, turn.Time) {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		// the same statement of the same fact is stored once
		key := "fact:" + f.Kind + ":" + strings.ToLower(f.Subject) + ":" + f.Date + ":" + f.Text
		recs = append(recs, Record{Kind: KindFact, Time: turn.Time, Key: key, Body: string(b)})
	}
	if m.opt.Summarize != nil {
		h, err := m.History(ctx, patientID)
		if err != nil {
			return err
		}
		s, err := m.opt.Summarize(ctx, h.Summary, turn)
		if err != nil {
			slog.Warn("memory: summary not updated", "err", err) // never the patient id
		} else if s = strings.TrimSpace(s); s != "" {
			recs = append(recs, Record{Kind: KindSummary, Time: turn.Time, Body: s})
		}
	}
	return m.store.Append(ctx, patientID, recs)
}

// History is everything stored for a patient, decoded.
type History struct {
	Patient string `json:"patient"`
	Turns   []Turn `json:"turns"`
	Facts   []Fact `json:"facts"`
	Summary string `json:"summary,omitempty"` // the latest running summary
}

// History returns the patient's stored turns, facts and latest summary.
func (m *Memory) History(ctx context.Context, patientID string) (*History, error) {
	recs, err := m.store.List(ctx, patientID)
	if err != nil {
		return nil, err
	}
	h := &History{Patient: patientID}
	for _, r := range recs {
		if isSealed(r.Body) {
			return nil, fmt.Errorf("record %d: %w (give the key file)", r.Seq, ErrEncrypted)
		}
		switch r.Kind {
		case KindTurn:
			var t Turn
			if err := json.Unmarshal([]byte(r.Body), &t); err != nil {
				return nil, fmt.Errorf("record %d: %w", r.Seq, err)
			}
			h.Turns = append(h.Turns, t)
		case KindFact:
			var f Fact
			if err := json.Unmarshal([]byte(r.Body), &f); err != nil {
				return nil, fmt.Errorf("record %d: %w", r.Seq, err)
			}
			h.Facts = append(h.Facts, f)
		case KindSummary:
			h.Summary = r.Body
		}
	}
	return h, nil
}

// Forget deletes everything stored for the patient.
func (m *Memory) Forget(ctx context.Context, patientID string) error {
	return m.store.Forget(ctx, patientID)
}

// DefaultRecallTokens is the budget when Recall is given none.
const DefaultRecallTokens = 1024

// Recall returns the part of the patient's history to put in the prompt for
// query, within maxTokens: first every allergy (a missed allergy is the
// costliest omission), then the running summary, then the other facts by
// relevance to the query and recency, then earlier turns alternating between
// the most recent and the most relevant. Items are shown with their dates.
// A patient with no history gets "".
func (m *Memory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	h, err := m.History(ctx, patientID)
	if err != nil {
		return "", err
	}
	if len(h.Turns) == 0 && len(h.Facts) == 0 && h.Summary == "" {
		return "", nil
	}
	if maxTokens <= 0 {
		maxTokens = DefaultRecallTokens
	}
	count := m.opt.CountTokens
	header := fmt.Sprintf("Patient history (id %s; %d earlier turns", patientID, len(h.Turns))
	if len(h.Turns) > 0 {
		header += fmt.Sprintf(", %s to %s", day(h.Turns[0].Time), day(h.Turns[len(h.Turns)-1].Time))
	}
	header += "):"
	used := count(header) + 1
	if used > maxTokens {
		return "", nil
	}
	fit := func(line string) bool {
		n := count(line) + 1 // + the newline
		if used+n > maxTokens {
			return false
		}
		used += n
		return true
	}

	facts := latestFacts(h.Facts)
	var allergies, others []Fact
	for _, f := range facts {
		if f.Kind == FactAllergy {
			allergies = append(allergies, f)
		} else {
			others = append(others, f)
		}
	}
	var factLines []string
	for _, f := range allergies {
		if l := factLine(f); fit(l) {
			factLines = append(factLines, l)
		}
	}
	var summary string
	if h.Summary != "" {
		if l := "Summary: " + h.Summary; fit(l) {
			summary = l
		}
	}
	qterms := termSet(query)
	sort.SliceStable(others, func(i, j int) bool {
		si, sj := overlap(qterms, others[i].Subject+" "+others[i].Text), overlap(qterms, others[j].Subject+" "+others[j].Text)
		if si != sj {
			return si > sj
		}
		return others[i].Date > others[j].Date
	})
	for _, f := range others {
		if l := factLine(f); fit(l) {
			factLines = append(factLines, l)
		}
	}

	// turns: alternate most recent and most relevant, shown chronologically
	order := interleave(recentOrder(len(h.Turns)), relevanceOrder(h.Turns, query))
	chosen := map[int]string{}
	for _, i := range order {
		if _, ok := chosen[i]; ok {
			continue
		}
		l := turnLine(h.Turns[i])
		if !fit(l) {
			// a long turn may still fit cut short
			room := maxTokens - used - 1
			if room < 24 {
				continue
			}
			l = cutToTokens(l, room, count)
			if !fit(l) {
				continue
			}
		}
		chosen[i] = l
	}
	var b strings.Builder
	b.WriteString(header)
	b.WriteByte('\n')
	if len(factLines) > 0 {
		for _, l := range factLines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if summary != "" {
		b.WriteString(summary)
		b.WriteByte('\n')
	}
	idx := make([]int, 0, len(chosen))
	for i := range chosen {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		b.WriteString(chosen[i])
		b.WriteByte('\n')
	}
	out := strings.TrimRight(b.String(), "\n")
	// the per-line sums bound the whole for additive counters; a real
	// tokenizer may merge across lines, so check and trim from the end
	for count(out) > maxTokens {
		i := strings.LastIndexByte(out, '\n')
		if i < 0 {
			return "", nil
		}
		out = out[:i]
	}
	return out, nil
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func factLine(f Fact) string {
	return fmt.Sprintf("- [%s] %s: %s — %s", f.Date, f.Kind, f.Subject, f.Text)
}

func turnLine(t Turn) string {
	l := "- [" + day(t.Time) + "] Clinician: " + oneLine(t.User)
	if a := oneLine(t.Assistant); a != "" {
		l += " | Assistant: " + a
	}
	return l
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// latestFacts keeps, for each kind and subject, the most recent statement.
func latestFacts(fs []Fact) []Fact {
	idx := map[string]int{}
	var out []Fact
	for _, f := range fs {
		k := f.Kind + "\x00" + strings.ToLower(f.Subject)
		if f.Kind == FactResult {
			k += "\x00" + f.Date + "\x00" + f.Text
		}
		if i, ok := idx[k]; ok {
			if f.Date >= out[i].Date {
				out[i] = f
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, f)
	}
	return out
}

func termSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, t := range knowledge.Terms(s) {
		m[t] = true
	}
	return m
}

func overlap(q map[string]bool, s string) int {
	n := 0
	for t := range termSet(s) {
		if q[t] {
			n++
		}
	}
	return n
}

func recentOrder(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = n - 1 - i
	}
	return out
}

// relevanceOrder ranks turns by BM25 against the query (turns as documents);
// turns sharing no term with it are left out.
func relevanceOrder(turns []Turn, query string) []int {
	q := termSet(query)
	if len(q) == 0 {
		return nil
	}
	tfs := make([]map[string]int, len(turns))
	df := map[string]int{}
	total := 0
	lens := make([]int, len(turns))
	for i, t := range turns {
		tfs[i] = map[string]int{}
		terms := knowledge.Terms(t.User + "\n" + t.Assistant)
		lens[i] = len(terms)
		total += len(terms)
		for _, term := range terms {
			if q[term] {
				tfs[i][term]++
			}
		}
		for term := range tfs[i] {
			df[term]++
		}
	}
	n := float64(len(turns))
	avg := math.Max(float64(total)/n, 1)
	type sc struct {
		i int
		s float64
	}
	var ranked []sc
	for i, tf := range tfs {
		var s float64
		for term, c := range tf {
			idf := math.Log(1 + (n-float64(df[term])+0.5)/(float64(df[term])+0.5))
			s += idf * float64(c) * 2.2 / (float64(c) + 1.2*(0.25+0.75*float64(lens[i])/avg))
		}
		if s > 0 {
			ranked = append(ranked, sc{i, s})
		}
	}
	sort.SliceStable(ranked, func(a, b int) bool { return ranked[a].s > ranked[b].s })
	out := make([]int, len(ranked))
	for i, r := range ranked {
		out[i] = r.i
	}
	return out
}

func interleave(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

// cutToTokens shortens s to at most n tokens, ending with "…".
func cutToTokens(s string, n int, count func(string) int) string {
	r := []rune(s)
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if count(string(r[:mid])+"…") <= n {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return string(r[:lo]) + "…"
}
