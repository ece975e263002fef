package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Kinds of VerifyError, for reports and scripts.
const (
	KindAltered   = "altered"   // a record's MAC fails: its bytes were changed
	KindRebuilt   = "rebuilt"   // no record from this one on verifies with the key: written without it (or the wrong key)
	KindMissing   = "missing"   // a sequence gap: records were deleted
	KindReordered = "reordered" // records out of order or duplicated
	KindLink      = "link"      // a record that verifies but does not follow its predecessor (spliced from another log)
	KindTruncated = "truncated" // a line without its newline (only the last can be, and unsealed it is a torn write, not a problem)
	KindMalformed = "malformed" // a line that is not a record
	KindLegacy    = "legacy"    // an unkeyed record from an older dayi
	KindCut       = "cut"       // the head names more records than the file holds, or the head is missing
	KindHead      = "head"      // the head does not verify or does not match the file
)

// VerifyError names the first problem found in a log.
type VerifyError struct {
	Kind   string `json:"kind"`
	Line   int    `json:"line,omitempty"` // 1-based line of the file; 0 for problems of the file as a whole
	Seq    uint64 `json:"seq,omitempty"`  // the sequence number expected there
	Reason string `json:"reason"`
}

func (e *VerifyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Kind, e.Reason)
	}
	return fmt.Sprintf("line %d (record %d): %s: %s", e.Line, e.Seq, e.Kind, e.Reason)
}

// ErrTampered is wrapped by every VerifyError, for errors.Is.
var ErrTampered = errors.New("audit log does not verify")

// Unwrap lets errors.Is(err, ErrTampered) match.
func (e *VerifyError) Unwrap() error { return ErrTampered }

// HeadInfo describes a log's head file.
type HeadInfo struct {
	Seq  uint64 `json:"seq"`
	Time string `json:"time"`
}

// Report is the outcome of verifying one log.
type Report struct {
	File    string    `json:"file"`
	OK      bool      `json:"ok"`
	Records uint64    `json:"records"` // records that verify, from the first on
	Last    string    `json:"last"`    // MAC of the last of them
	Head    *HeadInfo `json:"head"`    // nil: no head file
	// HeadBehind counts records after the one the head seals. They verify
	// with the key, so only the key holder wrote them: the server stopped
	// (or failed to write the head) between an append and its head update.
	// The next append, or the next Open, seals them.
	HeadBehind uint64 `json:"head_behind,omitempty"`
	// TornBytes is the length of a last line without its newline that
	// the head does not seal: a write cut short by a crash. Records are
	// written before responses (a finished stream's after it), so its
	// request was not answered, or was a stream that had ended. Open
	// removes it.
	TornBytes int          `json:"torn_bytes,omitempty"`
	Problem   *VerifyError `json:"problem,omitempty"`
}

// VerifyFile checks the log at path and its head (path + ".head") with
// key: every record's MAC, sequence number and link to its predecessor, then
// that the head is signed with the key and seals a record the file holds.
// It reports the first problem in Report.Problem and returns it as an error
// wrapping ErrTampered; other errors are I/O errors.
func VerifyFile(path string, key *Key) (Report, error) {
	rep := Report{File: path, Last: genesis}
	h, err := readHead(path+HeadSuffix, key)
	var ve *VerifyError
	if errors.As(err, &ve) {
		rep.Problem = ve
		return rep, ve
	}
	if err != nil {
		return rep, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && h != nil {
		// The whole file is gone but its head is not.
		rep = verify(bytes.NewReader(nil), h, key)
	} else if err != nil {
		return rep, err
	} else {
		defer f.Close()
		rep = verify(f, h, key)
	}
	rep.File = path
	if rep.Problem != nil {
		return rep, rep.Problem
	}
	return rep, nil
}

// readHead reads a head file: nil when there is none, a *VerifyError when it
// is malformed or not signed with key.
func readHead(path string, key *Key) (*head, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit head %s: %w", path, err)
	}
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, &VerifyError{Kind: KindHead, Reason: fmt.Sprintf("head file %s is malformed: %v", path, err)}
	}
	got, err := hex.DecodeString(h.MAC)
	if err != nil || !hmac.Equal(got, h.mac(key)) {
		return nil, &VerifyError{Kind: KindHead, Reason: fmt.Sprintf("head file %s is not signed with this key (rewritten without the key, or the wrong --key)", path)}
	}
	return &h, nil
}

// verify reads a whole log and checks it against its head (nil: none).
func verify(r io.Reader, h *head, key *Key) Report {
	rep := Report{Last: genesis}
	if h != nil {
		rep.Head = &HeadInfo{Seq: h.Seq, Time: h.Time}
	}
	var headMAC string // MAC of record h.Seq, once read
	if h != nil && h.Seq == 0 {
		headMAC = genesis
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var pending *VerifyError // first problem; the rest of the file refines its kind
	var lookFor uint64       // a missing sequence number, to tell a reorder from a deletion
	anyLaterMACOK, later := false, 0
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			rep.Problem = &VerifyError{Kind: KindMalformed, Line: line, Seq: rep.Records + 1, Reason: err.Error()}
			return rep
		}
		rec, macOK, perr := parseLine(b, key)
		if perr != nil && perr.Kind == KindTruncated && pending == nil {
			// The last line: whether the head sealed it decides below.
			rep.TornBytes = len(b)
			break
		}
		if pending != nil { // only diagnosing now
			later++
			if perr == nil {
				if macOK {
					anyLaterMACOK = true
				}
				if lookFor != 0 && rec.Seq == lookFor {
					pending.Kind = KindReordered
					pending.Reason = fmt.Sprintf("record %d found later, at line %d: records were reordered", lookFor, line)
					lookFor = 0
				}
			}
			continue
		}
		want := rep.Records + 1
		fail := func(kind, format string, a ...any) {
			pending = &VerifyError{Kind: kind, Line: line, Seq: want, Reason: fmt.Sprintf(format, a...)}
		}
		switch {
		case perr != nil:
			fail(perr.Kind, "%s", perr.Reason)
		case !macOK:
			fail(KindAltered, "MAC does not verify with this key: the record was modified")
		case rec.Seq > want:
			fail(KindMissing, "record(s) %d..%d missing: deleted from the file", want, rec.Seq-1)
			lookFor = want
		case rec.Seq < want:
			fail(KindReordered, "record %d appears after record %d: records were reordered or duplicated", rec.Seq, want-1)
		case rec.Prev != rep.Last:
			fail(KindLink, "record does not follow record %d (spliced from another log sealed with the same key)", want-1)
		}
		if pending != nil {
			continue
		}
		rep.Records, rep.Last = want, hex.EncodeToString(rec.mac)
		if h != nil && want == h.Seq {
			headMAC = rep.Last
		}
	}
	if pending != nil {
		if pending.Kind == KindAltered && !anyLaterMACOK && (later > 0 || rep.Records == 0) {
			pending.Kind = KindRebuilt
			pending.Reason = "no record from here to the end verifies with this key: the file was rebuilt without the key (or this is the wrong --key)"
		}
		rep.Problem = pending
		return rep
	}
	switch {
	case h == nil && rep.Records > 0:
		rep.Problem = &VerifyError{Kind: KindCut, Reason: fmt.Sprintf("no head file beside %d records: the head was deleted or the log cut before it", rep.Records)}
	case h != nil && h.Seq > rep.Records:
		what := "cut from the end"
		if rep.TornBytes > 0 {
			what = "cut from the end (the file ends inside a record)"
		}
		rep.Problem = &VerifyError{Kind: KindCut, Seq: rep.Records + 1,
			Reason: fmt.Sprintf("the head seals %d records but the file holds %d: records %d..%d were %s", h.Seq, rep.Records, rep.Records+1, h.Seq, what)}
	case h != nil && headMAC != h.Last:
		rep.Problem = &VerifyError{Kind: KindHead, Seq: h.Seq,
			Reason: fmt.Sprintf("record %d is not the record the head sealed: the file was rewritten, or the head belongs to another log", h.Seq)}
	case h != nil:
		rep.HeadBehind = rep.Records - h.Seq
	}
	rep.OK = rep.Problem == nil
	return rep
}

// parsed is the part of a record verify needs.
type parsed struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	mac  []byte
}

// parseLine reads one line (with its newline): the record's sequence
// number, link and MAC, and whether the MAC verifies over the line's bytes.
func parseLine(b []byte, key *Key) (rec parsed, macOK bool, perr *VerifyError) {
	if b[len(b)-1] != '\n' {
		return rec, false, &VerifyError{Kind: KindTruncated, Reason: "the last record has no newline: cut inside a record, or a write torn by a crash"}
	}
	b = b[:len(b)-1]
	if bytes.HasPrefix(b, []byte(legacyPrefix)) {
		return rec, false, &VerifyError{Kind: KindLegacy, Reason: "an unkeyed record written by an older dayi: verify such a log with --legacy-unkeyed, and start a new log for the keyed format"}
	}
	if len(b) < len(linePrefix)+66 || !bytes.HasPrefix(b, []byte(linePrefix)) || string(b[len(linePrefix)+64:len(linePrefix)+66]) != `",` {
		return rec, false, &VerifyError{Kind: KindMalformed, Reason: "not an audit record"}
	}
	m, err := hex.DecodeString(string(b[len(linePrefix) : len(linePrefix)+64]))
	if err != nil {
		return rec, false, &VerifyError{Kind: KindMalformed, Reason: "MAC is not hex"}
	}
	body := append([]byte{'{'}, b[len(linePrefix)+66:]...)
	if err := json.Unmarshal(body, &rec); err != nil {
		return rec, false, &VerifyError{Kind: KindMalformed, Reason: "malformed record: " + strconv.Quote(err.Error())}
	}
	rec.mac = m
	return rec, hmac.Equal(m, mac(key.chain, body)), nil
}
