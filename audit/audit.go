// Package audit writes the server's audit trail: an append-only JSONL file in
// which every record carries the SHA-256 of its own bytes chained to the
// previous record's hash, so that editing, reordering or deleting a record
// is detected by Verify (`dayi audit verify FILE`).
//
// Records hold who asked what kind of question of which model and how it
// ended (request id, time, endpoint, model, token counts, client address, key
// id, status). Prompt and output text are recorded only when the server is
// started with --audit-content, and then only after Redact has removed
// protected health information.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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
	PatientID    string    `json:"patient_id,omitempty"`
	Prompt       string    `json:"prompt,omitempty"` // only with content auditing, redacted
	Output       string    `json:"output,omitempty"` // only with content auditing, redacted
}

// genesis is the Prev of the first record of a file.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// linePrefix starts every line; the 64 hex digits of the record's hash follow.
const linePrefix = `{"hash":"`

// Logger appends records to one file. It is safe for concurrent use.
type Logger struct {
	mu      sync.Mutex
	f       *os.File
	seq     uint64
	prev    string
	content bool
	now     func() time.Time
}

// Open opens (creating with mode 0600) the audit file at path and continues
// its chain. With content set, redacted prompt and output text is kept;
// otherwise Append drops it. The existing file is verified first: a server
// must not silently extend a chain that was tampered with.
func Open(path string, content bool) (*Logger, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l := &Logger{f: f, prev: genesis, content: content, now: time.Now}
	st, err := Verify(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	l.seq, l.prev = st.Records, st.Last
	if st.Records == 0 {
		l.prev = genesis
	}
	return l, nil
}

// Content reports whether prompt and output text are audited.
func (l *Logger) Content() bool { return l.content }

// Append writes r as the next record. Prompt and Output are redacted, or
// dropped when content auditing is off. The line is written with one write
// call on an O_APPEND file and synced, so a crash loses at most the record
// being written.
func (l *Logger) Append(r Record) error {
	if l.content {
		r.Prompt, r.Output = Redact(r.Prompt), Redact(r.Output)
	} else {
		r.Prompt, r.Output = "", ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Time.IsZero() {
		r.Time = l.now().UTC()
	}
	r.Seq = l.seq + 1
	r.Prev = l.prev
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit record %d: %w", r.Seq, err)
	}
	h := chainHash(l.prev, body)
	line := make([]byte, 0, len(body)+80)
	line = append(line, linePrefix...)
	line = append(line, h...)
	line = append(line, `",`...)
	line = append(line, body[1:]...)
	line = append(line, '\n')
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("audit record %d: %w", r.Seq, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit record %d: %w", r.Seq, err)
	}
	l.seq, l.prev = r.Seq, h
	return nil
}

// Close closes the file.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// chainHash is hex(SHA-256(prev || "\n" || body)), body being the record's
// JSON without the hash field.
func chainHash(prev string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Status summarises a verified file.
type Status struct {
	Records uint64 // records read and verified
	Last    string // hash of the last record (genesis when none)
}

// VerifyError names the first record that breaks the chain.
type VerifyError struct {
	Line   int    // 1-based line number in the file
	Seq    uint64 // the sequence number expected at that line
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("line %d (record %d): %s", e.Line, e.Seq, e.Reason)
}

// ErrTampered is wrapped by every VerifyError, for errors.Is.
var ErrTampered = errors.New("audit chain broken")

// Unwrap lets errors.Is(err, ErrTampered) match.
func (e *VerifyError) Unwrap() error { return ErrTampered }

// Verify reads a whole audit file and checks every record: its hash over its
// own bytes, its link to the previous record and its sequence number. It
// returns the first broken record as a *VerifyError: an edited record fails
// its hash, a deleted one leaves a sequence gap and a broken link.
func Verify(r io.Reader) (Status, error) {
	st := Status{Last: genesis}
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && err == io.EOF {
			return st, nil
		}
		if err != nil && err != io.EOF {
			return st, fmt.Errorf("line %d: %w", line, err)
		}
		want := st.Records + 1
		fail := func(format string, a ...any) (Status, error) {
			return st, &VerifyError{Line: line, Seq: want, Reason: fmt.Sprintf(format, a...)}
		}
		if b[len(b)-1] != '\n' {
			return fail("truncated record (no newline)")
		}
		b = b[:len(b)-1]
		if len(b) < len(linePrefix)+66 || !bytes.HasPrefix(b, []byte(linePrefix)) || string(b[len(linePrefix)+64:len(linePrefix)+66]) != `",` {
			return fail("not an audit record")
		}
		got := string(b[len(linePrefix) : len(linePrefix)+64])
		body := append([]byte{'{'}, b[len(linePrefix)+66:]...)
		var rec Record
		if err := json.Unmarshal(body, &rec); err != nil {
			return fail("malformed record: %v", err)
		}
		if rec.Seq != want {
			if rec.Seq > want {
				return fail("missing record(s) %d..%d", want, rec.Seq-1)
			}
			return fail("sequence number %d out of order", rec.Seq)
		}
		if rec.Prev != st.Last {
			return fail("previous-hash link broken (a record before it was changed or removed)")
		}
		if chainHash(st.Last, body) != got {
			return fail("hash mismatch: record was modified")
		}
		st.Records, st.Last = want, got
	}
}
