package memory

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Forgetting one turn removes it and the facts found in it, from the
// patient's memory and from the store's file, and leaves the rest (and
// other patients) alone.
func TestForgetRecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "memory.db")
	raw, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	enc, err := OpenEncrypted(ctx, raw, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	m := New(enc, Options{})
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.Record(ctx, "p1", Turn{User: "I am allergic to penicillin.", Time: t0}))
	must(m.Record(ctx, "p1", Turn{User: "I take metformin 500 mg daily.", Time: t0.Add(24 * time.Hour)}))
	must(m.Record(ctx, "p2", Turn{User: "I am allergic to sulfa drugs.", Time: t0}))

	items, err := m.Items(ctx, "p1")
	must(err)
	var allergyTurn int64 = -1
	facts := 0
	for _, it := range items {
		if it.Kind == KindTurn && it.Turn.User == "I am allergic to penicillin." {
			allergyTurn = it.Seq
		}
		if it.Kind == KindFact {
			facts++
		}
	}
	if allergyTurn < 0 || facts < 2 {
		t.Fatalf("items before: %+v", items)
	}
	must(m.ForgetRecord(ctx, "p1", allergyTurn))

	items, err = m.Items(ctx, "p1")
	must(err)
	for _, it := range items {
		if (it.Turn != nil && bytes.Contains([]byte(it.Turn.User), []byte("penicillin"))) ||
			(it.Fact != nil && it.Fact.Subject == "penicillin") {
			t.Fatalf("penicillin still remembered: %+v", it)
		}
	}
	rec, err := m.Recall(ctx, "p1", "medications", 500)
	must(err)
	if !bytes.Contains([]byte(rec), []byte("metformin")) || bytes.Contains([]byte(rec), []byte("penicillin")) {
		t.Fatalf("recall after forgetting one turn: %q", rec)
	}
	rec, err = m.Recall(ctx, "p2", "allergies", 500)
	must(err)
	if !bytes.Contains([]byte(rec), []byte("sulfa")) {
		t.Fatalf("another patient's memory changed: %q", rec)
	}
	if err := m.ForgetRecord(ctx, "p1", 9999); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("unknown seq: %v", err)
	}
	// forgetting the last items of a patient leaves nothing behind
	for _, it := range items {
		if it.Kind == KindTurn {
			must(m.ForgetRecord(ctx, "p1", it.Seq))
		}
	}
	items, err = m.Items(ctx, "p1")
	must(err)
	if len(items) != 0 {
		t.Fatalf("items left after forgetting every turn: %+v", items)
	}
}
