package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoRecord is returned by ForgetRecord for a sequence number the patient
// does not have.
var ErrNoRecord = errors.New("no such memory record")

// replacer is a store that can rewrite a patient's records in one
// transaction (both shipped stores can; see markedStore).
type replacer interface {
	Replace(ctx context.Context, patient string, recs []Record) error
}

// ForgetRecord deletes one of the patient's records (by its Seq, as List and
// Records give it). Forgetting a turn also forgets the facts found in it
// (the facts recorded at the same time), so the turn's text does not live on
// in them. The patient's other records are rewritten as they are stored
// (still sealed), in one transaction, and a store that keeps deleted bytes
// in its file is compacted afterwards, as Forget does.
func (m *Memory) ForgetRecord(ctx context.Context, patientID string, seq int64) error {
	if err := checkPatient(patientID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	raw := m.store
	if e, ok := raw.(*Encrypted); ok {
		raw = e.Store // rewrite the ciphertexts unchanged: no key material is needed
	}
	rp, ok := raw.(replacer)
	if !ok {
		return fmt.Errorf("memory store %T cannot delete a single record", raw)
	}
	recs, err := raw.List(ctx, patientID)
	if err != nil {
		return err
	}
	target := -1
	for i, r := range recs {
		if r.Seq == seq {
			target = i
			break
		}
	}
	if target < 0 {
		return fmt.Errorf("%w: %d", ErrNoRecord, seq)
	}
	t := recs[target]
	keep := make([]Record, 0, len(recs)-1)
	for i, r := range recs {
		if i == target || (t.Kind == KindTurn && r.Kind == KindFact && r.Time.Equal(t.Time)) {
			continue
		}
		r.Seq = 0
		keep = append(keep, r)
	}
	if len(keep) == 0 {
		return m.store.Forget(ctx, patientID)
	}
	if err := rp.Replace(ctx, patientID, keep); err != nil {
		return err
	}
	if c, ok := raw.(compacter); ok {
		return c.Compact(ctx)
	}
	return nil
}

// Item is one stored record, decoded, for a person to review: a turn, a
// fact or the running summary.
type Item struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	Time string `json:"time"` // RFC 3339, UTC
	Turn *Turn  `json:"turn,omitempty"`
	Fact *Fact  `json:"fact,omitempty"`
	Text string `json:"text,omitempty"` // the summary
}

// Items lists the patient's records in the order they were stored, with the
// sequence numbers ForgetRecord takes.
func (m *Memory) Items(ctx context.Context, patientID string) ([]Item, error) {
	recs, err := m.store.List(ctx, patientID)
	if err != nil {
		return nil, err
	}
	out := make([]Item, 0, len(recs))
	for _, r := range recs {
		if isSealed(r.Body) {
			return nil, fmt.Errorf("record %d: %w (give the key file)", r.Seq, ErrEncrypted)
		}
		it := Item{Seq: r.Seq, Kind: r.Kind, Time: r.Time.UTC().Format("2006-01-02T15:04:05Z07:00")}
		switch r.Kind {
		case KindTurn:
			it.Turn = new(Turn)
			if err := jsonUnmarshal(r.Body, it.Turn); err != nil {
				return nil, fmt.Errorf("record %d: %w", r.Seq, err)
			}
		case KindFact:
			it.Fact = new(Fact)
			if err := jsonUnmarshal(r.Body, it.Fact); err != nil {
				return nil, fmt.Errorf("record %d: %w", r.Seq, err)
			}
		default:
			it.Text = r.Body
		}
		out = append(out, it)
	}
	return out, nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
