package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Regression tests for issue 15, finding 8: patient memory was plaintext
// by default, and once a key was set plaintext records were still accepted.
// They run on the raw stores (bbolt always, PostgreSQL with DAYI_TEST_PG),
// with a hook that writes beneath each store's own checks, as an attacker
// with the file or the database would.

type rawBackend struct {
	name string
	open func(t *testing.T) Store
	// inject stores a record bypassing the store's checks.
	inject func(t *testing.T, s Store, patient, body string)
	// file, when set, is the file holding the data.
	file func(s Store) string
}

func rawBackends() []rawBackend {
	return []rawBackend{
		{
			name: "bolt",
			open: func(t *testing.T) Store {
				s, err := OpenBolt(filepath.Join(t.TempDir(), "memory.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			},
			inject: func(t *testing.T, s Store, patient, body string) {
				b := s.(*BoltStore)
				err := b.db.Update(func(tx *bolt.Tx) error {
					pb, err := tx.Bucket(bucketPatients).CreateBucketIfNotExists([]byte(patient))
					if err != nil {
						return err
					}
					rb, err := pb.CreateBucketIfNotExists(bucketRecords)
					if err != nil {
						return err
					}
					seq, _ := rb.NextSequence()
					v, _ := json.Marshal(boltRecord{Kind: KindTurn, Time: time.Now().UTC(), Body: body})
					return rb.Put(binary.BigEndian.AppendUint64(nil, seq), v)
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			file: func(s Store) string { return s.(*BoltStore).path },
		},
		{
			name: "postgres",
			open: func(t *testing.T) Store { return openTestPG(t) },
			inject: func(t *testing.T, s Store, patient, body string) {
				p := s.(*PGStore)
				ctx := context.Background()
				// The sealed constraint refuses the row; a database owner
				// could drop it, so the reader must refuse it too.
				if _, err := p.pool.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s`, p.table, p.sealedConstraint())); err != nil {
					t.Fatal(err)
				}
				if _, err := p.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (patient, kind, at, body) VALUES ($1, 'turn', now(), $2)`, p.table), patient, body); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
}

const plainTurn = `{"user":"Injected: allergic to nothing","assistant":"","time":"2024-01-01T00:00:00Z"}`

func TestFinding8_PlaintextRecordRejected(t *testing.T) {
	ctx := context.Background()
	for _, b := range rawBackends() {
		t.Run(b.name, func(t *testing.T) {
			raw := b.open(t)
			key := testKey(t)
			enc, err := OpenEncrypted(ctx, raw, key)
			if err != nil {
				t.Fatal(err)
			}
			m := New(enc, Options{})
			if err := m.Record(ctx, "p1", Turn{User: "对青霉素过敏。"}); err != nil {
				t.Fatal(err)
			}
			// Writing plaintext into the marked store is refused by the
			// store itself, through Append and through Replace.
			plain := []Record{{Kind: KindTurn, Time: time.Now(), Body: plainTurn}}
			if err := raw.Append(ctx, "p1", plain); !errors.Is(err, ErrPlaintext) {
				t.Errorf("plaintext Append to an encrypted store: %v, want ErrPlaintext", err)
			}
			if err := raw.Append(ctx, "p2", plain); !errors.Is(err, ErrPlaintext) {
				t.Errorf("plaintext Append for a new patient: %v, want ErrPlaintext", err)
			}
			if err := raw.(markedStore).Replace(ctx, "p1", plain); !errors.Is(err, ErrPlaintext) {
				t.Errorf("plaintext Replace: %v, want ErrPlaintext", err)
			}
			if h, err := m.History(ctx, "p1"); err != nil || len(h.Turns) != 1 || len(h.Facts) != 1 {
				t.Fatalf("refused writes harmed the patient's records: %+v %v", h, err)
			}
			// Plaintext slipped in beneath the store is an error on reading,
			// never part of the patient's history.
			b.inject(t, raw, "p1", plainTurn)
			if h, err := m.History(ctx, "p1"); !errors.Is(err, ErrPlaintext) {
				t.Errorf("history with an injected plaintext record: %+v, %v; want ErrPlaintext", h, err)
			}
			if got, err := m.Recall(ctx, "p1", "allergy", 200); err == nil || strings.Contains(got, "Injected") {
				t.Errorf("recall with an injected plaintext record: %q, %v", got, err)
			}
			// The key is checked against the store's mark before any record.
			if _, err := OpenEncrypted(ctx, raw, testKey(t)); !errors.Is(err, ErrEncrypted) || !strings.Contains(err.Error(), "another key") {
				t.Errorf("wrong key: %v, want ErrEncrypted", err)
			}
			if _, err := OpenEncrypted(ctx, raw, key); err != nil {
				t.Errorf("reopening with the right key: %v", err)
			}
			if _, err := Encrypt(ctx, raw, testKey(t), nil); !errors.Is(err, ErrEncrypted) {
				t.Errorf("Encrypt with another key on a marked store: %v", err)
			}
		})
	}
}

// TestFinding8_EncryptMigration: a store written before encryption is
// refused until migrated; the migration seals every record, survives an
// interruption and runs again to completion, and leaves no plaintext in
// the bbolt file.
func TestFinding8_EncryptMigration(t *testing.T) {
	ctx := context.Background()
	for _, b := range rawBackends() {
		t.Run(b.name, func(t *testing.T) {
			raw := b.open(t)
			plainMem := New(raw, Options{})
			secret := "SECRET-" + fmt.Sprintf("%x", testKey(t)[:6])
			for _, p := range []string{"a", "b", "c"} {
				for i := 0; i < 3; i++ {
					if err := plainMem.Record(ctx, p, Turn{User: fmt.Sprintf("对青霉素过敏。%s visit %d", secret, i)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			key := testKey(t)
			if _, err := OpenEncrypted(ctx, raw, key); !errors.Is(err, ErrNotEncrypted) {
				t.Fatalf("opening an old plaintext store encrypted: %v, want ErrNotEncrypted", err)
			}
			if _, err := Encrypt(ctx, raw, []byte("short"), nil); err == nil {
				t.Error("Encrypt accepted a short key")
			}
			// Interrupted after the first patient: that patient is wholly
			// sealed, the others untouched, the store still unmarked.
			cctx, cancel := context.WithCancel(ctx)
			_, err := Encrypt(cctx, raw, key, func(done, total int) {
				if done == 1 {
					cancel()
				}
			})
			cancel()
			if err == nil {
				t.Fatal("cancelled Encrypt reported success")
			}
			sealed, plain := 0, 0
			for _, p := range []string{"a", "b", "c"} {
				recs, err := raw.List(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if isSealed(r.Body) {
						sealed++
					} else {
						plain++
					}
				}
			}
			if sealed == 0 || plain == 0 {
				t.Fatalf("after the interruption %d sealed, %d plain records; want some of each", sealed, plain)
			}
			if _, err := OpenEncrypted(ctx, raw, key); !errors.Is(err, ErrNotEncrypted) {
				t.Errorf("half-migrated store opened: %v", err)
			}
			// A half-migrated store refuses a different key.
			if _, err := Encrypt(ctx, raw, testKey(t), nil); !errors.Is(err, ErrEncrypted) {
				t.Errorf("resuming with another key: %v, want ErrEncrypted", err)
			}
			st, err := Encrypt(ctx, raw, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if st.Records != plain || st.Sealed != sealed {
				t.Errorf("resumed migration: %+v, want %d sealed now and %d already", st, plain, sealed)
			}
			enc, err := OpenEncrypted(ctx, raw, key)
			if err != nil {
				t.Fatal(err)
			}
			m := New(enc, Options{})
			for _, p := range []string{"a", "b", "c"} {
				h, err := m.History(ctx, p)
				if err != nil || len(h.Turns) != 3 || len(h.Facts) != 1 || !strings.Contains(h.Turns[2].User, "visit 2") {
					t.Errorf("patient %s after migration: %+v %v", p, h, err)
				}
				recs, _ := raw.List(ctx, p)
				for _, r := range recs {
					if !isSealed(r.Body) || strings.Contains(r.Body+r.Key, secret) || strings.Contains(r.Key, "青霉素") {
						t.Errorf("patient %s: record not sealed after migration: %+v", p, r)
					}
				}
			}
			// New facts still de-duplicate against migrated ones.
			if err := m.Record(ctx, "a", Turn{User: "对青霉素过敏。"}); err != nil {
				t.Fatal(err)
			}
			if h, _ := m.History(ctx, "a"); len(h.Facts) != 1 {
				t.Errorf("migrated fact keys do not de-duplicate: %d facts", len(h.Facts))
			}
			if b.file != nil {
				data, err := os.ReadFile(b.file(raw))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(data, []byte(secret)) {
					t.Errorf("plaintext still in %s after migration", b.file(raw))
				}
			}
			if st, err := Encrypt(ctx, raw, key, nil); err != nil || st.Records != 0 {
				t.Errorf("second migration: %+v %v", st, err)
			}
		})
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "memory.key")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created || len(k1) != 32 {
		t.Fatalf("first use: created=%v len=%d err=%v", created, len(k1), err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode(), err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Errorf("second use: created=%v same=%v err=%v", created, bytes.Equal(k1, k2), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("key directory holds %d entries, want the key only", len(ents))
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("key file mode %04o: %v, want a refusal", mode, err)
		}
		if _, _, err := LoadOrCreateKey(path); err == nil {
			t.Errorf("LoadOrCreateKey with mode %04o succeeded", mode)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKey(path); err != nil || !bytes.Equal(k, k1) {
		t.Errorf("read-only key: %v", err)
	}
}

// TestErrorsNameNoPatient: memory errors end up in logs and responses, so
// they name records and files, never the patient (issue 15, finding 10).
func TestErrorsNameNoPatient(t *testing.T) {
	ctx := context.Background()
	for _, b := range rawBackends() {
		t.Run(b.name, func(t *testing.T) {
			raw := b.open(t)
			enc, err := OpenEncrypted(ctx, raw, testKey(t))
			if err != nil {
				t.Fatal(err)
			}
			const id = "MRN-4242-ZHANG"
			m := New(enc, Options{})
			if err := m.Record(ctx, id, Turn{User: "hello"}); err != nil {
				t.Fatal(err)
			}
			b.inject(t, raw, id, plainTurn)
			errs := map[string]error{}
			_, errs["history"] = m.History(ctx, id)
			errs["append"] = raw.Append(ctx, id, []Record{{Kind: KindTurn, Body: "x"}})
			errs["bad id"] = m.Record(ctx, id+"\x01", Turn{User: "x"})
			_, errs["wrong key"] = New(raw, Options{}).History(ctx, id)
			for what, err := range errs {
				if err == nil {
					t.Errorf("%s: no error", what)
				} else if strings.Contains(err.Error(), "MRN") {
					t.Errorf("%s: error names the patient: %v", what, err)
				}
			}
		})
	}
}
