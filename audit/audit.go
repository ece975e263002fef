// Package audit writes the server's audit trail: an append-only JSONL file
// sealed with a secret key, so that editing, reordering, deleting or cutting
// records, or rebuilding the file, is detected by Verify
// (`dayi audit verify FILE`).
//
// Every record carries an HMAC-SHA256 of its own bytes, which include its
// sequence number and the previous record's MAC (the chain). A chain alone
// cannot show that its last records were dropped, so after each append a
// signed head (FILE.head: the last sequence number and MAC, and an HMAC over
// them) is written atomically beside the file. Without the key (by default
// $DAYI_HOME/audit.key, mode 0600) nobody can write a record or a head that
// verifies.
//
// What the seal cannot show: someone who can write both files may put back
// an older head together with the matching prefix of the file (a rollback),
// or delete both. Ship the head's sequence number and MAC somewhere the
// server cannot rewrite (a log collector, a printout) if that matters.
//
// Records hold who asked what kind of question of which model and how it
// ended (request id, time, endpoint, model, token counts, client address, key
// id, status). A patient id is stored only as a keyed hash (Key.PatientHash).
// Prompt and output text are recorded only when the server is started with
// --audit-content, and then only after Redact has removed protected health
// information.
package audit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one audited request. Seq, Prev and Time are filled by Append.
type Record struct {
	Seq          uint64    `json:"seq"`
	Prev         string    `json:"prev"`
	Time         time.Time `json:"time"`
	RequestID    string    `json:"request_id"`
	Method       string    `json:"method,omitempty"`
	Endpoint     string    `json:"endpoint"`
	Model        string    `json:"model,omitempty"`
	Backend      string    `json:"backend,omitempty"` // "local" or the fallback peer
	PromptTokens int       `json:"prompt_tokens"`
	OutputTokens int       `json:"output_tokens"`
	Client       string    `json:"client"`
	KeyID        string    `json:"key_id,omitempty"`
	Status       int       `json:"status"`
	DurationMS   float64   `json:"duration_ms"`
	// Count, when above zero, makes this a summary: Count more requests
	// from Client were answered Status in the DurationMS after the record
	// of the first one (repeated 401s coalesced into one record a minute).
	Count int `json:"count,omitempty"`
	// PatientID is the patient the request named. It is never written:
	// Append replaces it by PatientHash.
	PatientID   string `json:"-"`
	PatientHash string `json:"patient_hash,omitempty"`
	Prompt      string `json:"prompt,omitempty"` // only with content auditing, redacted
	Output      string `json:"output,omitempty"` // only with content auditing, redacted
}

// genesis is the Prev of the first record of a file.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// linePrefix starts every line; the 64 hex digits of the record's MAC follow,
// then `",` and the rest of the record's JSON (the bytes the MAC covers,
// with their opening brace).
const linePrefix = `{"mac":"`

// HeadSuffix is appended to a log's path to name its head file.
const HeadSuffix = ".head"

// ErrUnavailable is wrapped by the errors of a logger that cannot write.
var ErrUnavailable = errors.New("audit log unavailable")

// Logger appends records to one file. It is safe for concurrent use.
type Logger struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	key     *Key
	seq     uint64
	prev    string
	size    int64 // bytes of whole records in the file
	content bool
	now     func() time.Time
	// failed is the last write's error, cleared by the next success: the
	// server's fail-closed check (Ready) reads it.
	failed error
	// broken: a record may be half-written and could not be removed, or
	// the logger is closed; nothing more is appended.
	broken error
	// behind is how many records the head lagged when the log was opened.
	behind uint64
	torn   int // bytes of a torn last record Open removed
	// unhealthy mirrors failed != nil || broken != nil, so that Ready, run
	// before every request, does not wait behind an append's fsyncs.
	unhealthy atomic.Bool
	// pg, when set, holds the log in PostgreSQL (OpenPG) instead of f.
	pg *pgLog
}

// Open opens (creating with mode 0600) the audit log at path, sealed with
// key, and continues its chain. With content set, redacted prompt and output
// text is kept; otherwise Append drops it.
//
// The existing file is verified against its head first, and a log that does
// not verify is refused: a server must not silently extend a chain that was
// tampered with or cut; an operator must look (`dayi audit verify`). A head
// that lags the file by records that verify (a crash between an append and
// its head update) is brought up to date; HeadBehind reports it. A last
// record cut short by a crash, which the head does not seal, is removed;
// TornBytes reports it.
func Open(path string, key *Key, content bool) (*Logger, error) {
	if key == nil {
		return nil, fmt.Errorf("audit log %s: no key", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: another process has it open: %w", path, err)
	}
	refuse := func(err error) (*Logger, error) {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w; refusing to append until an operator has checked it (dayi audit verify %s)", path, err, path)
	}
	h, err := readHead(path+HeadSuffix, key)
	if err != nil {
		return refuse(err)
	}
	rep := verify(f, h, key)
	if rep.Problem != nil {
		return refuse(rep.Problem)
	}
	size, err := f.Seek(0, 2)
	if err == nil && rep.TornBytes > 0 {
		// A record cut short by a crash, never sealed.
		size -= int64(rep.TornBytes)
		if err = f.Truncate(size); err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l := &Logger{path: path, f: f, key: key, seq: rep.Records, prev: rep.Last, size: size, content: content,
		now: time.Now, behind: rep.HeadBehind, torn: rep.TornBytes}
	if h == nil || rep.HeadBehind > 0 {
		if err := l.writeHead(); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit log %s: %w", path, err)
		}
	}
	return l, nil
}

// Path is the log's file.
func (l *Logger) Path() string { return l.path }

// Content reports whether prompt and output text are audited.
func (l *Logger) Content() bool { return l.content }

// HeadBehind is how many records the head lagged when Open found it (a
// crash or a failed head write between an append and its head update).
func (l *Logger) HeadBehind() uint64 { return l.behind }

// TornBytes is the length of the unsealed, half-written last record (a
// crash during a write) that Open removed.
func (l *Logger) TornBytes() int { return l.torn }

// Records is the number of records in the log.
func (l *Logger) Records() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Append writes r as the next record and then the head. Prompt and Output
// are redacted, or dropped when content auditing is off; PatientID is
// replaced by its keyed hash.
//
// The line is written with one write call on an O_APPEND file and synced.
// If that fails, the bytes are cut off again so that the chain stays whole;
// if even that fails the logger refuses every later record. If the head
// cannot be written the record stays (it verifies on its own) and the error
// is returned: the log is then not sealed up to that record.
func (l *Logger) Append(r Record) error {
	if l.content {
		r.Prompt, r.Output = Redact(r.Prompt), Redact(r.Output)
	} else {
		r.Prompt, r.Output = "", ""
	}
	r.PatientHash, r.PatientID = l.key.PatientHash(r.PatientID), ""
	if l.pg != nil {
		return l.appendPG(r)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return l.broken
	}
	if r.Time.IsZero() {
		r.Time = l.now().UTC()
	}
	r.Seq = l.seq + 1
	r.Prev = l.prev
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit record %d: %w", r.Seq, err)
	}
	m := hex.EncodeToString(mac(l.key.chain, body))
	line := make([]byte, 0, len(body)+80)
	line = append(line, linePrefix...)
	line = append(line, m...)
	line = append(line, `",`...)
	line = append(line, body[1:]...)
	line = append(line, '\n')
	_, err = l.f.Write(line)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		// A record that may not be durable is taken back, so the file
		// never holds half a line followed by more records.
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = fmt.Errorf("audit log %s: %w: record %d half-written and not removed (%v): %w", l.path, ErrUnavailable, r.Seq, terr, err)
		}
		l.failed = fmt.Errorf("audit record %d: %w: %w", r.Seq, ErrUnavailable, err)
		l.unhealthy.Store(true)
		return l.failed
	}
	l.seq, l.prev, l.size = r.Seq, m, l.size+int64(len(line))
	if err := l.writeHead(); err != nil {
		l.failed = fmt.Errorf("audit head after record %d: %w: %w", r.Seq, ErrUnavailable, err)
		l.unhealthy.Store(true)
		return l.failed
	}
	l.failed = nil
	l.unhealthy.Store(false)
	return nil
}

// Ready reports whether the log can take records. After a failed write it
// tries again (syncs the file and rewrites the head), so a server that
// refuses requests while the log is unavailable resumes by itself once the
// disk is back. It writes no record.
func (l *Logger) Ready() error {
	if !l.unhealthy.Load() {
		return nil
	}
	if l.pg != nil {
		return l.readyPG()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return l.broken
	}
	if l.failed == nil {
		l.unhealthy.Store(false)
		return nil
	}
	err := l.f.Sync()
	if err == nil {
		err = l.writeHead()
	}
	if err != nil {
		l.failed = fmt.Errorf("audit log %s: %w: %w", l.path, ErrUnavailable, err)
		return l.failed
	}
	l.failed = nil
	l.unhealthy.Store(false)
	return nil
}

// Close closes the file; later appends fail.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken == nil {
		l.broken = fmt.Errorf("audit log %s: %w: closed", l.path, ErrUnavailable)
	}
	l.unhealthy.Store(true)
	if l.pg != nil {
		l.pg.pool.Close()
		return nil
	}
	return l.f.Close()
}

// head is the content of FILE.head.
type head struct {
	Seq  uint64 `json:"seq"`
	Last string `json:"last"` // MAC of record Seq (genesis when 0)
	Time string `json:"time"` // when it was written, RFC 3339, UTC
	MAC  string `json:"mac"`
}

func (h *head) mac(k *Key) []byte {
	return mac(k.head, []byte("dayi audit head\n"), strconv.AppendUint(nil, h.Seq, 10), []byte("\n"+h.Last+"\n"+h.Time))
}

// writeHead seals the log up to its last record: temp file, fsync, rename,
// fsync of the directory, so that after a crash the head is the old one or
// the new one, never a torn mix.
func (l *Logger) writeHead() error {
	h := head{Seq: l.seq, Last: l.prev, Time: l.now().UTC().Format(time.RFC3339Nano)}
	h.MAC = hex.EncodeToString(h.mac(l.key))
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return writeAtomic(l.path+HeadSuffix, append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}
