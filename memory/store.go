package memory

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Record kinds.
const (
	KindTurn    = "turn"
	KindFact    = "fact"
	KindSummary = "summary"
)

// Record is one stored item of a patient's memory. Body is opaque to stores
// (the Memory layer puts JSON in it; Encrypted puts ciphertext).
type Record struct {
	Seq  int64     // assigned by the store, increasing in insertion order
	Kind string    // KindTurn, KindFact or KindSummary
	Time time.Time // when it happened (the turn's time)
	// Key, when not empty, is unique per patient: appending a record whose
	// key the patient already has stores nothing (the same fact said twice).
	Key  string
	Body string
}

// Store keeps records per patient. Implementations are safe for concurrent
// use, and Append is atomic: all of recs are stored or none.
type Store interface {
	Append(ctx context.Context, patient string, recs []Record) error
	// List returns the patient's records in Seq order (none: empty, no error).
	List(ctx context.Context, patient string) ([]Record, error)
	Patients(ctx context.Context) ([]string, error)
	// Forget deletes every record of the patient, so that the text cannot
	// be recovered from the store's files afterwards.
	Forget(ctx context.Context, patient string) error
	Close() error
}

// ErrBadPatient is returned for an empty or unreasonable patient id.
var ErrBadPatient = errors.New("invalid patient id")

// checkPatient refuses ids that cannot be stored safely everywhere.
func checkPatient(id string) error {
	if id == "" || len(id) > 200 || !utf8.ValidString(id) {
		return fmt.Errorf("%w: %d bytes (want 1-200 bytes of UTF-8)", ErrBadPatient, len(id))
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: it holds a control character", ErrBadPatient)
		}
	}
	return nil
}
