package memory

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"dayi/internal/atomicfile"
)

// BoltStore is the embedded store: one bbolt file, one bucket per patient
// holding the records (by sequence number) and the keys already used.
type BoltStore struct {
	path string
	mu   sync.RWMutex // Forget swaps db for a compacted copy
	db   *bolt.DB
}

var (
	bucketPatients = []byte("patients")
	bucketRecords  = []byte("r")
	bucketKeys     = []byte("k")
	// bucketMeta holds the store's own settings, beside the patients
	bucketMeta = []byte("meta")
	metaMark   = []byte("encryption")
)

// boltRecord is a record as stored (Seq is the key).
type boltRecord struct {
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	Key  string    `json:"key,omitempty"`
	Body string    `json:"body"`
}

// OpenBolt opens (creating) the store file at path. bbolt locks the file, so
// one process at a time holds it; another waits up to ten seconds.
func OpenBolt(path string) (*BoltStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("memory store %s: %w", path, err)
	}
	db, err := openBoltDB(path)
	if err != nil {
		return nil, err
	}
	return &BoltStore{path: path, db: db}, nil
}

func openBoltDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("memory store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketPatients)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("memory store %s: %w", path, err)
	}
	return db, nil
}

// Append implements Store.
func (s *BoltStore) Append(ctx context.Context, patient string, recs []Record) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.Update(func(tx *bolt.Tx) error { return putRecords(tx, patient, recs) })
	if err != nil {
		return fmt.Errorf("memory store %s: %w", s.path, err)
	}
	return nil
}

// putRecords appends recs to the patient's bucket in tx, skipping keys the
// patient has. In a store marked encrypted an unsealed record fails the
// whole transaction.
func putRecords(tx *bolt.Tx, patient string, recs []Record) error {
	if mb := tx.Bucket(bucketMeta); mb != nil && mb.Get(metaMark) != nil {
		for _, r := range recs {
			if !isSealed(r.Body) {
				return ErrPlaintext
			}
		}
	}
	pb, err := tx.Bucket(bucketPatients).CreateBucketIfNotExists([]byte(patient))
	if err != nil {
		return err
	}
	rb, err := pb.CreateBucketIfNotExists(bucketRecords)
	if err != nil {
		return err
	}
	kb, err := pb.CreateBucketIfNotExists(bucketKeys)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Key != "" && kb.Get([]byte(r.Key)) != nil {
			continue
		}
		seq, err := rb.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(boltRecord{Kind: r.Kind, Time: r.Time.UTC(), Key: r.Key, Body: r.Body})
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(nil, seq)
		if err := rb.Put(k, v); err != nil {
			return err
		}
		if r.Key != "" {
			if err := kb.Put([]byte(r.Key), k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Replace implements markedStore: one transaction deletes the patient's
// bucket and writes recs into a new one.
func (s *BoltStore) Replace(ctx context.Context, patient string, recs []Record) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPatients).DeleteBucket([]byte(patient)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return putRecords(tx, patient, recs)
	})
	if err != nil {
		return fmt.Errorf("memory store %s: rewriting a patient's records: %w", s.path, err)
	}
	return nil
}

// EncryptionMark implements markedStore.
func (s *BoltStore) EncryptionMark(ctx context.Context) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var mark string
	err := s.db.View(func(tx *bolt.Tx) error {
		if mb := tx.Bucket(bucketMeta); mb != nil {
			mark = string(mb.Get(metaMark))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("memory store %s: %w", s.path, err)
	}
	return mark, nil
}

// MarkEncrypted implements markedStore: in one transaction it checks that
// every record is sealed and sets the mark.
func (s *BoltStore) MarkEncrypted(ctx context.Context, mark string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	held := mark
	err := s.db.Update(func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if old := mb.Get(metaMark); old != nil {
			held = string(old)
			return nil
		}
		err = tx.Bucket(bucketPatients).ForEachBucket(func(p []byte) error {
			rb := tx.Bucket(bucketPatients).Bucket(p).Bucket(bucketRecords)
			if rb == nil {
				return nil
			}
			return rb.ForEach(func(k, v []byte) error {
				var r boltRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("record %x: corrupt (%v)", k, err)
				}
				if !isSealed(r.Body) {
					return ErrPlaintext
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		return mb.Put(metaMark, []byte(mark))
	})
	if err != nil {
		return "", fmt.Errorf("memory store %s: marking encrypted: %w", s.path, err)
	}
	return held, nil
}

// Compact implements compacter: the file is rewritten without its free
// pages, where bbolt leaves the bytes of deleted and replaced records (the
// plaintext of a store just encrypted). It is the compaction Forget does
// after deleting a patient.
func (s *BoltStore) Compact(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compactLocked()
}

// compactLocked rewrites the file without its free pages and swaps it in
// (the caller holds s.mu). If the swap fails the uncompacted file, still
// whole, is opened again, so the store keeps working.
func (s *BoltStore) compactLocked() error {
	tmp := s.path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("memory store %s: compacting: %w", s.path, err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("memory store %s: compacting: %w", s.path, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("memory store %s: compacting: %w", s.path, err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("memory store %s: %w", s.path, err)
	}
	if err := atomicfile.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		if db, rerr := openBoltDB(s.path); rerr == nil {
			s.db = db // the uncompacted file, still whole
		}
		return fmt.Errorf("memory store %s: replacing with the compacted copy: %w", s.path, err)
	}
	db, err := openBoltDB(s.path)
	if err != nil {
		return err
	}
	s.db = db
	return nil
}

// List implements Store.
func (s *BoltStore) List(ctx context.Context, patient string) ([]Record, error) {
	if err := checkPatient(patient); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bucketPatients).Bucket([]byte(patient))
		if pb == nil {
			return nil
		}
		rb := pb.Bucket(bucketRecords)
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, v []byte) error {
			var r boltRecord
			if err := json.Unmarshal(v, &r); err != nil || len(k) != 8 {
				return fmt.Errorf("record %x: corrupt (%v)", k, err)
			}
			out = append(out, Record{Seq: int64(binary.BigEndian.Uint64(k)), Kind: r.Kind, Time: r.Time, Key: r.Key, Body: r.Body})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("memory store %s: %w", s.path, err)
	}
	return out, nil
}

// Patients implements Store.
func (s *BoltStore) Patients(ctx context.Context) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPatients).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// Forget implements Store. bbolt frees pages without overwriting them, so
// after deleting the patient's bucket the whole file is compacted into a new
// one that replaces it: the deleted text is then gone from the file.
func (s *BoltStore) Forget(ctx context.Context, patient string) error {
	if err := checkPatient(patient); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketPatients).DeleteBucket([]byte(patient))
		if err == nil || errors.Is(err, bolt.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("memory store %s: forget: %w", s.path, err)
	}
	return s.compactLocked()
}

// syncDir makes a rename durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Close implements Store.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}
