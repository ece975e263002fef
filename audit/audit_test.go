package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(t *testing.T, b byte) *Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeLog writes n records with the test key 1 and returns the log's path.
func writeLog(t *testing.T, content bool, n int) (string, *Key) {
	t.Helper()
	key := testKey(t, 1)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	appendRecords(t, path, key, content, 0, n)
	return path, key
}

func appendRecords(t *testing.T, path string, key *Key, content bool, from, n int) {
	t.Helper()
	l, err := Open(path, key, content)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if err := l.Append(Record{RequestID: fmt.Sprintf("r%d", i), Endpoint: "/api/chat", Model: "dayi-tiny",
			PromptTokens: 10 + i, OutputTokens: 5, Client: "127.0.0.1", Status: 200, PatientID: "P-0042-ZHANG",
			Prompt: "Patient Zhang San, phone 13812345678", Output: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	text := ""
	if len(lines) > 0 {
		text = strings.Join(lines, "\n") + "\n"
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantProblem verifies path with key and checks the first problem found,
// and that Open refuses to extend the log.
func wantProblem(t *testing.T, path string, key *Key, kind string, line int, reason string) Report {
	t.Helper()
	rep, err := VerifyFile(path, key)
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) || rep.OK || rep.Problem != ve {
		t.Fatalf("want a VerifyError, got %v (report %+v)", err, rep)
	}
	if ve.Kind != kind || ve.Line != line || !strings.Contains(ve.Reason, reason) {
		t.Fatalf("got %s at line %d: %q; want %s at line %d containing %q", ve.Kind, ve.Line, ve.Reason, kind, line, reason)
	}
	if l, err := Open(path, key, false); err == nil {
		l.Close()
		t.Fatal("Open extended a log that does not verify")
	} else if !strings.Contains(err.Error(), "operator") {
		t.Fatalf("Open's refusal does not say why: %v", err)
	}
	return rep
}

func TestChainVerifies(t *testing.T) {
	path, key := writeLog(t, false, 5)
	rep, err := VerifyFile(path, key)
	if err != nil || !rep.OK || rep.Records != 5 || rep.Head == nil || rep.Head.Seq != 5 || rep.HeadBehind != 0 {
		t.Fatalf("verify: %v, %+v", err, rep)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("Zhang")) || bytes.Contains(data, []byte(`"prompt"`)) {
		t.Fatalf("content recorded without --audit-content:\n%s", data)
	}
	// Reopening continues the chain and the head follows.
	appendRecords(t, path, key, false, 5, 1)
	if rep, err := VerifyFile(path, key); err != nil || rep.Records != 6 || rep.Head.Seq != 6 {
		t.Fatalf("after reopen: %v, %+v", err, rep)
	}
	if fi, err := os.Stat(path + HeadSuffix); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("head file: %v %v", fi, err)
	}
	// An empty new log verifies (its head seals zero records).
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	l, err := Open(empty, key, false)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if rep, err := VerifyFile(empty, key); err != nil || rep.Records != 0 || rep.Head == nil {
		t.Fatalf("empty log: %v %+v", err, rep)
	}
}

// TestPatientIDNotInClear: the log holds a keyed hash of the patient id,
// the same one Key.PatientHash gives an auditor, and never the id itself.
func TestPatientIDNotInClear(t *testing.T) {
	path, key := writeLog(t, true, 2)
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("P-0042")) || bytes.Contains(data, []byte("ZHANG")) {
		t.Fatalf("patient id in clear:\n%s", data)
	}
	h := key.PatientHash("P-0042-ZHANG")
	if len(h) != 64 || strings.Count(string(data), `"patient_hash":"`+h+`"`) != 2 {
		t.Fatalf("patient hash %s not in both records:\n%s", h, data)
	}
	// Not the plain SHA-256 of the id (which anyone could recompute from a
	// list of ids), and different under another key.
	plain := sha256.Sum256([]byte("P-0042-ZHANG"))
	if h == hex.EncodeToString(plain[:]) || h == testKey(t, 2).PatientHash("P-0042-ZHANG") || h == key.PatientHash("P-0042-ZHANg") {
		t.Fatal("patient hash is not keyed")
	}
	if key.PatientHash("") != "" {
		t.Fatal("empty id hashed")
	}
}

func TestTamperDetected(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(lines []string) []string
		kind   string
		line   int
		reason string
	}{
		{"edited field", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"status":200`, `"status":403`, 1)
			return l
		}, KindAltered, 3, "modified"},
		{"edited last record", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"status":200`, `"status":403`, 1)
			return l
		}, KindAltered, 5, "modified"},
		{"deleted record", func(l []string) []string { return append(l[:1], l[2:]...) }, KindMissing, 2, "record(s) 2..2 missing"},
		{"swapped records", func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }, KindReordered, 2, "record 2 found later, at line 3"},
		{"moved back", func(l []string) []string { return []string{l[0], l[2], l[3], l[1], l[4]} }, KindReordered, 2, "found later, at line 4"},
		{"duplicated record", func(l []string) []string { return append(l[:3], l[2], l[3], l[4]) }, KindReordered, 4, "appears after record 3"},
		{"torn last line", func(l []string) []string { l[4] = l[4][:len(l[4])/2]; return l }, KindMalformed, 5, "malformed"},
		{"garbage line", func(l []string) []string { l[0] = "hello"; return l }, KindMalformed, 1, "not an audit record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, key := writeLog(t, false, 5)
			writeLines(t, path, c.edit(readLines(t, path)))
			wantProblem(t, path, key, c.kind, c.line, c.reason)
		})
	}
	t.Run("sealed record cut inside", func(t *testing.T) {
		path, key := writeLog(t, false, 5)
		data, _ := os.ReadFile(path)
		os.WriteFile(path, data[:len(data)-30], 0o600)
		rep := wantProblem(t, path, key, KindCut, 0, "records 5..5 were cut from the end (the file ends inside a record)")
		if rep.TornBytes == 0 {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("spliced from another log", func(t *testing.T) {
		path, key := writeLog(t, false, 5)
		other, _ := writeLog(t, false, 5) // same key, different times: other MACs
		lines, olines := readLines(t, path), readLines(t, other)
		lines[2] = olines[2]
		writeLines(t, path, lines)
		wantProblem(t, path, key, KindLink, 3, "does not follow record 2")
	})
}

// TestFinding5_AuditCutTailDetected (issue 15, finding 5): dropping the last
// records of the file used to verify, because the chain ends wherever the
// file ends. The signed head says how many records there must be.
func TestFinding5_AuditCutTailDetected(t *testing.T) {
	t.Run("last records dropped", func(t *testing.T) {
		path, key := writeLog(t, false, 5)
		writeLines(t, path, readLines(t, path)[:3])
		rep := wantProblem(t, path, key, KindCut, 0, "records 4..5 were cut from the end")
		if rep.Records != 3 || rep.Head == nil || rep.Head.Seq != 5 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("every record dropped", func(t *testing.T) {
		path, key := writeLog(t, false, 5)
		writeLines(t, path, nil)
		wantProblem(t, path, key, KindCut, 0, "holds 0")
	})
	t.Run("file deleted, head kept", func(t *testing.T) {
		path, key := writeLog(t, false, 2)
		os.Remove(path)
		if _, err := VerifyFile(path, key); !errors.Is(err, ErrTampered) {
			t.Fatalf("deleted log verified: %v", err)
		}
	})
	t.Run("head deleted", func(t *testing.T) {
		path, key := writeLog(t, false, 5)
		writeLines(t, path, readLines(t, path)[:3])
		os.Remove(path + HeadSuffix)
		wantProblem(t, path, key, KindCut, 0, "no head file")
	})
	t.Run("tail replaced by a rewrite without the key", func(t *testing.T) {
		path, key := writeLog(t, false, 5)
		lines := readLines(t, path)
		lines[4] = forge(t, lines[4], lines[3])
		writeLines(t, path, lines)
		wantProblem(t, path, key, KindAltered, 5, "modified")
	})
}

// forge rewrites a record the way someone without the key would: a changed
// status, a MAC recomputed with a key of their own, linked to prevLine.
func forge(t *testing.T, line, prevLine string) string {
	t.Helper()
	prevMAC := prevLine[len(linePrefix) : len(linePrefix)+64]
	var r Record
	if err := json.Unmarshal([]byte("{"+line[len(linePrefix)+66:]), &r); err != nil {
		t.Fatal(err)
	}
	r.Status, r.Prev = 204, prevMAC
	body, _ := json.Marshal(r)
	return linePrefix + hex.EncodeToString(mac(testKey(t, 9).chain, body)) + `",` + string(body[1:])
}

// TestFinding5_AuditRebuiltWithoutKeyDetected (issue 15, finding 5): a file
// rebuilt from scratch (records and chain recomputed) used to verify. Under
// the key it no longer does, whether the head is rebuilt too or kept.
func TestFinding5_AuditRebuiltWithoutKeyDetected(t *testing.T) {
	path, key := writeLog(t, false, 5)
	// The attacker writes their own log, with their own key, from the
	// same requests (minus the one they want gone).
	fake := filepath.Join(t.TempDir(), "audit.jsonl")
	appendRecords(t, fake, testKey(t, 7), false, 1, 4)
	data, _ := os.ReadFile(fake)
	headData, _ := os.ReadFile(fake + HeadSuffix)

	t.Run("file and head rebuilt", func(t *testing.T) {
		os.WriteFile(path, data, 0o600)
		os.WriteFile(path+HeadSuffix, headData, 0o600)
		wantProblem(t, path, key, KindHead, 0, "not signed with this key")
	})
	t.Run("file rebuilt, head kept", func(t *testing.T) {
		p2, _ := writeLog(t, false, 5) // same key 1, a genuine head
		os.WriteFile(p2, data, 0o600)
		wantProblem(t, p2, key, KindRebuilt, 1, "rebuilt without the key")
	})
	t.Run("rebuilt from record 3 on", func(t *testing.T) {
		p3, _ := writeLog(t, false, 5)
		lines := readLines(t, p3)
		for i := 2; i < 5; i++ {
			lines[i] = forge(t, lines[i], lines[i-1])
		}
		writeLines(t, p3, lines)
		wantProblem(t, p3, key, KindRebuilt, 3, "no record from here to the end verifies")
	})
	t.Run("rebuilt in the old unkeyed format", func(t *testing.T) {
		p4, _ := writeLog(t, false, 5)
		writeLines(t, p4, legacyLines(3))
		wantProblem(t, p4, key, KindLegacy, 1, "--legacy-unkeyed")
	})
	// The right log with the wrong key does not verify either.
	p5, _ := writeLog(t, false, 2)
	if _, err := VerifyFile(p5, testKey(t, 3)); !errors.Is(err, ErrTampered) {
		t.Fatalf("verified with the wrong key: %v", err)
	}
}

// legacyLines builds an unkeyed log as dayi wrote it before the key: each
// line's hash is SHA-256(prev || "\n" || body).
func legacyLines(n int) []string {
	prev := genesis
	var out []string
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf(`{"seq":%d,"prev":"%s","time":"2026-01-02T03:04:05Z","request_id":"r%d","endpoint":"/api/chat","prompt_tokens":1,"output_tokens":2,"client":"127.0.0.1","status":200,"duration_ms":1}`, i, prev, i)
		h := sha256.Sum256([]byte(prev + "\n" + body))
		prev = hex.EncodeToString(h[:])
		out = append(out, legacyPrefix+prev+`",`+body[1:])
	}
	return out
}

func TestLegacyLogs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.jsonl")
	lines := legacyLines(4)
	writeLines(t, path, lines)
	f, _ := os.Open(path)
	st, err := VerifyLegacy(f)
	f.Close()
	if err != nil || st.Records != 4 {
		t.Fatalf("legacy verify: %v %+v", err, st)
	}
	// Open refuses to continue an unkeyed log.
	if l, err := Open(path, testKey(t, 1), false); err == nil || !strings.Contains(err.Error(), "legacy") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Open continued an unkeyed log: %v", err)
	}
	// The legacy check still finds an edit.
	lines[1] = strings.Replace(lines[1], `"status":200`, `"status":500`, 1)
	writeLines(t, path, lines)
	f, _ = os.Open(path)
	_, err = VerifyLegacy(f)
	f.Close()
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Line != 2 || ve.Kind != KindAltered {
		t.Fatalf("legacy edit: %v", err)
	}
}

// TestHeadUpdateInterrupted: the head is written after the record, so a
// crash in between leaves a head one record behind. verify reports the log
// as valid with HeadBehind = 1 (the extra record verifies with the key, so
// only the key holder wrote it); Open seals it again.
func TestHeadUpdateInterrupted(t *testing.T) {
	path, key := writeLog(t, false, 4)
	oldHead, _ := os.ReadFile(path + HeadSuffix)
	appendRecords(t, path, key, false, 4, 1)
	// The crash: record 5 is in the file, the rename of the new head never happened.
	os.WriteFile(path+HeadSuffix, oldHead, 0o600)
	rep, err := VerifyFile(path, key)
	if err != nil || !rep.OK || rep.Records != 5 || rep.Head.Seq != 4 || rep.HeadBehind != 1 {
		t.Fatalf("verify after crash: %v %+v", err, rep)
	}
	l, err := Open(path, key, false)
	if err != nil {
		t.Fatal(err)
	}
	if l.HeadBehind() != 1 || l.Records() != 5 {
		t.Fatalf("resumed %d records, head behind %d", l.Records(), l.HeadBehind())
	}
	l.Close()
	if rep, err := VerifyFile(path, key); err != nil || rep.HeadBehind != 0 || rep.Head.Seq != 5 {
		t.Fatalf("after reopen: %v %+v", err, rep)
	}
	// A crash in the middle of writing the head leaves only the temp file:
	// the head in place is whole, the old or the new one.
	os.WriteFile(path+HeadSuffix+".tmp", []byte(`{"seq":`), 0o600)
	if _, err := VerifyFile(path, key); err != nil {
		t.Fatalf("a torn temp head matters: %v", err)
	}
}

// TestTornWrite: a crash in the middle of writing a record leaves the
// file ending in part of a line that no head seals. verify calls the log
// valid and reports the torn bytes; Open removes them and goes on.
func TestTornWrite(t *testing.T) {
	path, key := writeLog(t, false, 3)
	lines := readLines(t, path)
	appendRecords(t, path, key, false, 3, 1)
	full := readLines(t, path)[3]
	// The head from before record 4, and half of record 4 in the file.
	writeLines(t, path, lines)
	headData, _ := os.ReadFile(path + HeadSuffix)
	var h head
	json.Unmarshal(headData, &h)
	if h.Seq != 4 {
		t.Fatalf("head %+v", h)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(full[:len(full)/2])
	f.Close()
	writeHeadAt := func(seq uint64, last string) {
		h := head{Seq: seq, Last: last, Time: "2026-01-01T00:00:00Z"}
		h.MAC = hex.EncodeToString(h.mac(key))
		b, _ := json.Marshal(h)
		os.WriteFile(path+HeadSuffix, b, 0o600)
	}
	writeHeadAt(3, lines[2][len(linePrefix):len(linePrefix)+64])
	rep, err := VerifyFile(path, key)
	if err != nil || !rep.OK || rep.Records != 3 || rep.TornBytes != len(full)/2 {
		t.Fatalf("verify a torn write: %v %+v", err, rep)
	}
	l, err := Open(path, key, false)
	if err != nil {
		t.Fatal(err)
	}
	if l.TornBytes() != len(full)/2 {
		t.Fatalf("torn %d", l.TornBytes())
	}
	if err := l.Append(Record{RequestID: "after", Endpoint: "/api/tags", Status: 200}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if rep, err := VerifyFile(path, key); err != nil || rep.Records != 4 || rep.TornBytes != 0 || rep.HeadBehind != 0 {
		t.Fatalf("after Open: %v %+v", err, rep)
	}
	// A torn line in the middle is no crash: it is malformed.
	lines = readLines(t, path)
	lines[1] = lines[1][:40]
	writeLines(t, path, lines)
	wantProblem(t, path, key, KindMalformed, 2, "not an audit record")
}

// TestHeadWriteFails: when the head cannot be written the record stays, the
// error says the log is unavailable, Ready keeps failing until the head can
// be written again, and the log then verifies whole.
func TestHeadWriteFails(t *testing.T) {
	path, key := writeLog(t, false, 2)
	l, err := Open(path, key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A directory where the head's temp file goes: even root cannot open it for writing.
	block := path + HeadSuffix + ".tmp"
	if err := os.Mkdir(block, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Record{RequestID: "x", Endpoint: "/api/tags", Status: 200}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with an unwritable head: %v", err)
	}
	if err := l.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready: %v", err)
	}
	if rep, err := VerifyFile(path, key); err != nil || rep.Records != 3 || rep.HeadBehind != 1 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	os.Remove(block)
	if err := l.Ready(); err != nil {
		t.Fatalf("Ready after the disk came back: %v", err)
	}
	if rep, err := VerifyFile(path, key); err != nil || rep.Records != 3 || rep.HeadBehind != 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

func TestClosedLoggerFails(t *testing.T) {
	path, key := writeLog(t, false, 1)
	l, err := Open(path, key, false)
	if err != nil {
		t.Fatal(err)
	}
	// One process per log: a second Open is refused while the first holds it.
	if l2, err := Open(path, key, false); err == nil {
		l2.Close()
		t.Fatal("two loggers on one file")
	}
	l.Close()
	if err := l.Append(Record{Endpoint: "/api/tags"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append after close: %v", err)
	}
	if err := l.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready after close: %v", err)
	}
	if rep, err := VerifyFile(path, key); err != nil || rep.Records != 1 {
		t.Fatalf("%v %+v", err, rep)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "audit.key")
	k1, err := LoadKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, err := LoadKey(path, false)
	if err != nil || k1.PatientHash("p") != k2.PatientHash("p") {
		t.Fatalf("reloaded key differs: %v", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "none"), false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing key without create: %v", err)
	}
	os.Chmod(path, 0o640)
	if _, err := LoadKey(path, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key accepted: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("0123456789"), 0o600)
	if _, err := LoadKey(short, false); err == nil {
		t.Fatal("10-byte key accepted")
	}
}

func TestContentIsRedacted(t *testing.T) {
	path, _ := writeLog(t, true, 1)
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("Zhang")) || bytes.Contains(data, []byte("13812345678")) {
		t.Fatalf("PHI in audit log:\n%s", data)
	}
	if !bytes.Contains(data, []byte("[NAME]")) || !bytes.Contains(data, []byte("[PHONE]")) {
		t.Fatalf("redaction labels missing:\n%s", data)
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, secret string }{
		{"Dr. Wang Wei saw the patient", "Wang Wei"},
		{"Mrs Eleanor Rigby, 72, chest pain", "Eleanor Rigby"},
		{"patient Li Na reports cough", "Li Na"},
		{"call 138-1234-5678 tomorrow", "1234-5678"},
		{"call +86 13812345678", "13812345678"},
		{"tel (021) 6432-1234", "6432-1234"},
		{"US number +1 415 555 2671", "555 2671"},
		{"mail zhang.san@hospital.cn please", "zhang.san@hospital.cn"},
		{"身份证 11010519491231002X 已核验", "11010519491231002X"},
		{"ID 440524188001010014", "440524188001010014"},
		{"MRN: 00123456 admitted", "00123456"},
		{"medical record number A-778812", "778812"},
		{"病历号：ZY20240311 住院", "ZY20240311"},
		{"DOB 1961-03-14", "1961-03-14"},
		{"date of birth: 14 March 1961", "14 March 1961"},
		{"born on March 14, 1961", "March 14, 1961"},
		{"出生日期：1961年3月14日", "1961年3月14日"},
		{"王伟先生今天复诊", "王伟先生"},
		{"患者张三主诉头痛", "张三"},
	}
	for _, c := range cases {
		if got := Redact(c.in); strings.Contains(got, c.secret) {
			t.Errorf("Redact(%q) = %q still contains %q", c.in, got, c.secret)
		}
	}
	// Clinical text without PHI stays readable.
	for _, s := range []string{"Take 500 mg amoxicillin three times a day for 7 days.", "BP 120/80, HR 72."} {
		if got := Redact(s); got != s {
			t.Errorf("Redact(%q) = %q, want unchanged", s, got)
		}
	}
}
