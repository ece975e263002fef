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
	err := s.db.Update(func(tx *bolt.Tx) error {
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
	})
	if err != nil {
		return fmt.Errorf("memory store %s: patient %q: %w", s.path, patient, err)
	}
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
		return nil, fmt.Errorf("memory store %s: patient %q: %w", s.path, patient, err)
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
		return fmt.Errorf("memory store %s: forget %q: %w", s.path, patient, err)
	}
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
		return fmt.Errorf("memory store %s: replacing with the compacted copy: %w", s.path, err)
	}
	db, err := openBoltDB(s.path)
	if err != nil {
		return err
	}
	s.db = db
	return nil
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
