package auth

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Source is a server's keys: a keys file, re-read when it changes so that
// `dayi keys add` and `dayi keys rm` take effect without a restart (a
// revoked key stops working within Interval), plus the plain keys given at
// start (--api-key and friends), which never change.
type Source struct {
	// Interval is the most a change to the file waits before it is seen;
	// each request stats the file at most once per Interval.
	Interval time.Duration
	// OnError is told when a changed file cannot be loaded; the previous
	// keys stay in force (a file written by Save is never torn, so this is
	// an operator's hand edit).
	OnError func(error)

	path  string
	plain []string

	cur     atomic.Pointer[Keyring]
	checked atomic.Int64 // unix nanoseconds of the last stat
	mu      sync.Mutex   // one reload at a time
	last    fs.FileInfo  // nil: no file
}

// NewSource loads path (empty: no keys file; missing: no keys yet) and the
// plain keys. An unreadable or invalid file is an error naming it.
func NewSource(path string, plain []string) (*Source, error) {
	s := &Source{Interval: 2 * time.Second, path: path, plain: plain}
	if err := s.reload(); err != nil {
		return nil, err
	}
	s.checked.Store(time.Now().UnixNano())
	return s, nil
}

// Path is the keys file ("" when there is none).
func (s *Source) Path() string { return s.path }

// Keyring returns the keys in force, re-reading the file first when it may
// have changed.
func (s *Source) Keyring() *Keyring {
	if s.path != "" {
		now := time.Now().UnixNano()
		if now-s.checked.Load() >= int64(s.Interval) && s.mu.TryLock() {
			s.checked.Store(now)
			if s.changed() {
				if err := s.reloadLocked(); err != nil && s.OnError != nil {
					s.OnError(err)
				}
			}
			s.mu.Unlock()
		}
	}
	return s.cur.Load()
}

// changed reports whether the file differs from the one last loaded (an
// atomic rename gives it a new inode; an edit in place a new time or size).
func (s *Source) changed() bool {
	fi, err := os.Stat(s.path)
	if err != nil {
		return s.last != nil
	}
	return s.last == nil || !os.SameFile(fi, s.last) || !fi.ModTime().Equal(s.last.ModTime()) || fi.Size() != s.last.Size()
}

func (s *Source) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked()
}

func (s *Source) reloadLocked() error {
	var keys []Key
	var fi fs.FileInfo
	if s.path != "" {
		var err error
		fi, err = os.Stat(s.path)
		kf, lerr := Load(s.path)
		switch {
		case errors.Is(lerr, fs.ErrNotExist):
			fi = nil
		case lerr != nil:
			if fi != nil && err == nil {
				s.last = fi // do not retry (and report) the same bad file on every request
			}
			return lerr
		default:
			keys = kf.Keys
		}
	}
	kr, err := NewKeyring(keys, s.plain)
	if err != nil {
		return err
	}
	s.cur.Store(kr)
	s.last = fi
	return nil
}
