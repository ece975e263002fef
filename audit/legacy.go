package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// Logs written before the keyed format (dayi up to 431279e) chain each
// record with an unkeyed SHA-256: anyone who can write the file can cut its
// tail or rebuild it, and it still verifies. They are read only by
// VerifyLegacy (`dayi audit verify --legacy-unkeyed`); Open refuses them.

// legacyPrefix starts every line of an unkeyed log; 64 hex digits follow.
const legacyPrefix = `{"hash":"`

// LegacyStatus summarises an unkeyed log that verified.
type LegacyStatus struct {
	Records uint64 // records read and verified
	Last    string // hash of the last record (genesis when none)
}

// VerifyLegacy checks an unkeyed log: each record's SHA-256 over its own
// bytes, its link to the previous record and its sequence number. A pass
// proves only that the file is self-consistent, not that it is the file the
// server wrote.
func VerifyLegacy(r io.Reader) (LegacyStatus, error) {
	st := LegacyStatus{Last: genesis}
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
		fail := func(kind, format string, a ...any) (LegacyStatus, error) {
			return st, &VerifyError{Kind: kind, Line: line, Seq: want, Reason: fmt.Sprintf(format, a...)}
		}
		if b[len(b)-1] != '\n' {
			return fail(KindTruncated, "truncated record (no newline)")
		}
		b = b[:len(b)-1]
		if len(b) < len(legacyPrefix)+66 || !bytes.HasPrefix(b, []byte(legacyPrefix)) || string(b[len(legacyPrefix)+64:len(legacyPrefix)+66]) != `",` {
			return fail(KindMalformed, "not an unkeyed audit record")
		}
		got := string(b[len(legacyPrefix) : len(legacyPrefix)+64])
		body := append([]byte{'{'}, b[len(legacyPrefix)+66:]...)
		var rec struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(body, &rec); err != nil {
			return fail(KindMalformed, "malformed record: %v", err)
		}
		if rec.Seq != want {
			if rec.Seq > want {
				return fail(KindMissing, "missing record(s) %d..%d", want, rec.Seq-1)
			}
			return fail(KindReordered, "sequence number %d out of order", rec.Seq)
		}
		if rec.Prev != st.Last {
			return fail(KindLink, "previous-hash link broken (a record before it was changed or removed)")
		}
		h := sha256.New()
		h.Write([]byte(st.Last))
		h.Write([]byte{'\n'})
		h.Write(body)
		if hex.EncodeToString(h.Sum(nil)) != got {
			return fail(KindAltered, "hash mismatch: record was modified")
		}
		st.Records, st.Last = want, got
	}
}
