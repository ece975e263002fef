package memory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dayi/knowledge"
)

// backend opens a fresh, empty store for one test.
type backend struct {
	name string
	open func(t *testing.T) Store
	// file, when set, returns the files the store keeps its data in, to
	// check that forgotten text is gone from disk
	file func(s Store) string
}

func testKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func backends(t *testing.T) []backend {
	bolts := func(t *testing.T) Store {
		s, err := OpenBolt(filepath.Join(t.TempDir(), "memory.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	bs := []backend{
		{name: "bolt", open: bolts, file: func(s Store) string { return s.(*BoltStore).path }},
		{name: "bolt+aes", open: func(t *testing.T) Store {
			e, err := OpenEncrypted(context.Background(), bolts(t), testKey(t))
			if err != nil {
				t.Fatal(err)
			}
			return e
		}},
	}
	pgs := func(t *testing.T) Store { return openTestPG(t) }
	bs = append(bs,
		backend{name: "postgres", open: pgs},
		backend{name: "postgres+aes", open: func(t *testing.T) Store {
			e, err := OpenEncrypted(context.Background(), pgs(t), testKey(t))
			if err != nil {
				t.Fatal(err)
			}
			return e
		}},
	)
	return bs
}

// openTestPG opens a fresh table in the PostgreSQL at $DAYI_TEST_PG, dropped
// after the test, or skips the test without one.
func openTestPG(t *testing.T) *PGStore {
	dsn := os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	ctx := context.Background()
	table := fmt.Sprintf("dayi_memory_test_%d", time.Now().UnixNano())
	s, err := OpenPG(ctx, dsn, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.DropTable(ctx)
		s.Close()
	})
	return s
}

// TestStores runs the same suite against every store.
func TestStores(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Run("AppendList", func(t *testing.T) { testAppendList(t, b) })
			t.Run("Forget", func(t *testing.T) { testForget(t, b) })
			t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrent(t, b) })
			t.Run("FiftyVisits", func(t *testing.T) { testFiftyVisits(t, b) })
		})
	}
}

func testAppendList(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []Record{
		{Kind: KindTurn, Time: t0, Body: "第一次"},
		{Kind: KindFact, Time: t0, Key: "k1", Body: "fact one"},
		{Kind: KindFact, Time: t0, Key: "k1", Body: "duplicate in the same append"},
	}
	if err := s.Append(ctx, "p1", recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "p1", []Record{{Kind: KindFact, Time: t0, Key: "k1", Body: "dup later"}, {Kind: KindTurn, Time: t0.Add(time.Hour), Body: "second"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "p2", []Record{{Kind: KindTurn, Time: t0, Body: "other patient"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for i, r := range got {
		bodies = append(bodies, r.Body)
		if i > 0 && r.Seq <= got[i-1].Seq {
			t.Errorf("seq not increasing: %d after %d", r.Seq, got[i-1].Seq)
		}
	}
	if strings.Join(bodies, "|") != "第一次|fact one|second" {
		t.Errorf("bodies %q", bodies)
	}
	if !got[0].Time.Equal(t0) || got[0].Kind != KindTurn {
		t.Errorf("record 0: %+v", got[0])
	}
	if none, err := s.List(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Errorf("unknown patient: %v %v", none, err)
	}
	ps, err := s.Patients(ctx)
	if err != nil || strings.Join(ps, ",") != "p1,p2" {
		t.Errorf("patients %v %v", ps, err)
	}
	if err := s.Append(ctx, "", recs); err == nil {
		t.Errorf("empty patient id accepted")
	}
}

func testForget(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m := New(s, Options{})
	secret := "SECRET-" + hex.EncodeToString(testKey(t)[:8])
	for i := 0; i < 20; i++ {
		if err := m.Record(ctx, "gone", Turn{User: "对青霉素过敏。" + secret, Assistant: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Record(ctx, "kept", Turn{User: "血压 130/80 mmHg"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Forget(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if h, err := m.History(ctx, "gone"); err != nil || len(h.Turns)+len(h.Facts) != 0 {
		t.Errorf("after forget: %+v %v", h, err)
	}
	if h, err := m.History(ctx, "kept"); err != nil || len(h.Turns) != 1 {
		t.Errorf("other patient harmed: %+v %v", h, err)
	}
	if b.file != nil {
		raw, err := os.ReadFile(b.file(s))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("gone")) {
			t.Errorf("forgotten text still in %s", b.file(s))
		}
	}
	// the store still works after compaction
	if err := m.Record(ctx, "kept", Turn{User: "again"}); err != nil {
		t.Fatal(err)
	}
}

func testConcurrent(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m := New(s, Options{})
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// every writer also states the same allergy: stored once
				errs <- m.Record(ctx, "busy", Turn{User: fmt.Sprintf("writer %d turn %d. 对青霉素过敏。", w, i), Time: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)})
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	h, err := m.History(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Turns) != writers*each {
		t.Errorf("%d turns stored, want %d", len(h.Turns), writers*each)
	}
	seen := map[string]bool{}
	for _, tr := range h.Turns {
		seen[tr.User] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct turns, want %d", len(seen), writers*each)
	}
	if len(h.Facts) != 1 || h.Facts[0].Subject != "青霉素" {
		t.Errorf("facts %+v, want one penicillin allergy", h.Facts)
	}
}

// visitNote returns a long, varied clinic note for visit v, so that fifty of
// them are many times the recall budget and the model's context.
func visitNote(v int, lang string) string {
	d := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*v)
	if lang == "en" {
		return fmt.Sprintf("Visit %d on %s. Follow-up for hypertension and type 2 diabetes. "+
			"She reports occasional headaches in the morning and walks thirty minutes most days. "+
			"Home readings have been between 130 and 145 systolic. Diet reviewed with attention to salt and rice portions. "+
			"Feet examined, pulses present, no ulcers. Sleep is fair; she wakes once at night. "+
			"Plan: continue current treatment, repeat labs in three months, return in four weeks.", v, d.Format("2006-01-02"))
	}
	return fmt.Sprintf("第%d次复诊（%s）。高血压、2型糖尿病随访。患者诉近一周晨起偶有头晕，无胸痛、无心悸，"+
		"每天散步约半小时，饮食控制一般，主食偏多。家庭自测血压波动于130至145之间。"+
		"查体：神志清，心肺听诊未见明显异常，双下肢无水肿，足背动脉搏动可。"+
		"睡眠一般，夜间起夜一次。处理：维持目前治疗方案，低盐低脂饮食，三个月后复查血脂和肾功能，四周后门诊随访。", v, d.Format("2006-01-02"))
}

// testFiftyVisits is the acceptance test: an allergy recorded at
// visit 2 of 50 must be in what visit 50 recalls, though the whole history
// is over ten times the budget.
func testFiftyVisits(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m := New(s, Options{})
	for _, lang := range []string{"zh", "en"} {
		patient := "P-50-" + lang
		total := 0
		for v := 1; v <= 49; v++ {
			note := visitNote(v, lang)
			if v == 2 {
				if lang == "zh" {
					note += "患者自述对青霉素过敏，十年前注射后出现全身皮疹和呼吸困难。"
				} else {
					note += " She is allergic to penicillin: hives and wheeze after amoxicillin in 2015."
				}
			}
			if v == 30 {
				if lang == "zh" {
					note += "2023年8月1日查HbA1c 7.9%。"
				} else {
					note += " HbA1c 7.9% on 2023-08-01."
				}
			}
			turn := Turn{User: note, Assistant: strings.Repeat("Noted; plan reviewed. ", 10), Time: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*v)}
			total += knowledge.EstimateTokens(note + turn.Assistant)
			if err := m.Record(ctx, patient, turn); err != nil {
				t.Fatal(err)
			}
		}
		query := "咳嗽发热三天，考虑开阿莫西林胶囊，请给出建议。"
		if lang == "en" {
			query = "Cough and fever for three days; thinking of prescribing amoxicillin. Advice?"
		}
		const budget = 400
		got, err := m.Recall(ctx, patient, query, budget)
		if err != nil {
			t.Fatal(err)
		}
		if total < 10*budget {
			t.Fatalf("history of %d tokens is not long enough for the test", total)
		}
		if n := knowledge.EstimateTokens(got); n > budget {
			t.Errorf("recall of %d tokens > budget %d", n, budget)
		}
		want := "青霉素"
		if lang == "en" {
			want = "penicillin"
		}
		if !strings.Contains(got, want) || !strings.Contains(got, "allergy") {
			t.Errorf("%s: visit-2 allergy missing from recall:\n%s", lang, got)
		}
		if !strings.Contains(got, "7.9%") || !strings.Contains(got, "2023-08-01") {
			t.Errorf("%s: dated HbA1c missing from recall:\n%s", lang, got)
		}
		if !strings.Contains(got, "第49次") && !strings.Contains(got, "Visit 49") {
			t.Errorf("%s: most recent visit missing from recall:\n%s", lang, got)
		}
		if testing.Verbose() && b.name == "bolt" {
			t.Logf("%s: history %d tokens, recall %d tokens:\n%s", lang, total, knowledge.EstimateTokens(got), got)
		}
	}
}

func TestEncryptionAtRest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	raw, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	key := testKey(t)
	enc, _ := NewEncrypted(raw, key)
	m := New(enc, Options{})
	if err := m.Record(ctx, "p", Turn{User: "对青霉素过敏。隐私内容XYZ"}); err != nil {
		t.Fatal(err)
	}
	recs, _ := raw.List(ctx, "p")
	for _, r := range recs {
		if strings.Contains(r.Body, "XYZ") || strings.Contains(r.Body, "青霉素") || strings.Contains(r.Key, "青霉素") {
			t.Errorf("plaintext in store: %+v", r)
		}
	}
	if _, err := New(raw, Options{}).Recall(ctx, "p", "x", 100); err == nil {
		t.Errorf("reading sealed records without the key succeeded")
	}
	other, _ := NewEncrypted(raw, testKey(t))
	if _, err := New(other, Options{}).History(ctx, "p"); err == nil {
		t.Errorf("wrong key opened the records")
	}
	// a record moved to another patient does not open (patient id is bound)
	if err := raw.Append(ctx, "q", recs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.List(ctx, "q"); err == nil {
		t.Errorf("record moved between patients opened")
	}
	h, err := m.History(ctx, "p")
	if err != nil || len(h.Facts) != 1 || !strings.Contains(h.Turns[0].User, "XYZ") {
		t.Errorf("history with the key: %+v %v", h, err)
	}
	kf := filepath.Join(t.TempDir(), "key")
	if err := NewKeyFile(kf); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKey(kf); err != nil || len(k) != 32 {
		t.Errorf("key file: %v", err)
	}
	if err := NewKeyFile(kf); err == nil {
		t.Errorf("key file overwritten")
	}
}

func TestSummarizer(t *testing.T) {
	ctx := context.Background()
	s, _ := OpenBolt(filepath.Join(t.TempDir(), "m.db"))
	defer s.Close()
	calls := 0
	m := New(s, Options{Summarize: func(_ context.Context, prev string, turn Turn) (string, error) {
		calls++
		return strings.TrimSpace(prev + " " + strings.Fields(turn.User)[0]), nil
	}})
	for _, u := range []string{"alpha one", "beta two", "gamma three"} {
		if err := m.Record(ctx, "p", Turn{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := m.History(ctx, "p")
	if h.Summary != "alpha beta gamma" || calls != 3 {
		t.Errorf("summary %q after %d calls", h.Summary, calls)
	}
	got, _ := m.Recall(ctx, "p", "x", 200)
	if !strings.Contains(got, "Summary: alpha beta gamma") {
		t.Errorf("recall lacks the summary:\n%s", got)
	}
}
