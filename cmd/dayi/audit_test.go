package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/audit"
)

// TestServeAuditDefaults: serve's audit log is on by default, under
// $DAYI_HOME with a fresh 0600 key, and --no-audit turns it off.
func TestServeAuditDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := (&auditFlags{}).open(lg)
	if err != nil {
		t.Fatal(err)
	}
	if l == nil || l.Path() != filepath.Join(home, "audit", "audit.jsonl") {
		t.Fatalf("default log: %v", l)
	}
	if err := l.Append(audit.Record{Endpoint: "/api/tags", Status: 200, PatientID: "MRN-31337"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for path, mode := range map[string]os.FileMode{"audit.key": 0o600, "audit": 0o700 | os.ModeDir, "audit/audit.jsonl": 0o600, "audit/audit.jsonl.head": 0o600} {
		fi, err := os.Stat(filepath.Join(home, path))
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v %v, want %v", path, fi.Mode(), err, mode)
		}
	}
	if l, err := (&auditFlags{off: true}).open(lg); err != nil || l != nil {
		t.Fatalf("--no-audit: %v %v", l, err)
	}
	if _, err := (&auditFlags{off: true, content: true}).open(lg); err == nil {
		t.Fatal("--no-audit with --audit-content accepted")
	}

	// verify: OK with --json, then a cut tail fails with a non-zero exit.
	logPath := filepath.Join(home, "audit", "audit.jsonl")
	out, err := runDayiCmd(t, "audit", "verify", logPath, "--json")
	var rep audit.Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.Records != 1 {
		t.Fatalf("verify: %v %s", err, out)
	}
	// find-patient, with the id on stdin.
	root := newRootCmd()
	var buf bytes.Buffer
	root.SetOut(&buf)
	root.SetIn(strings.NewReader("MRN-31337\n"))
	root.SetArgs([]string{"audit", "find-patient", "-", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var found struct {
		PatientHash string            `json:"patient_hash"`
		Records     []json.RawMessage `json:"records"`
	}
	key, _ := audit.LoadKey(filepath.Join(home, "audit.key"), false)
	if json.Unmarshal(buf.Bytes(), &found) != nil || len(found.Records) != 1 || found.PatientHash != key.PatientHash("MRN-31337") {
		t.Fatalf("find-patient: %s", buf.String())
	}
	if out, err := runDayiCmd(t, "audit", "find-patient", "MRN-00000", logPath); err != nil || out != "" {
		t.Fatalf("another patient: %v %q", err, out)
	}

	os.WriteFile(logPath, nil, 0o600)
	out, err = runDayiCmd(t, "audit", "verify", logPath, "--json")
	if err == nil || json.Unmarshal([]byte(out), &rep) != nil || rep.OK || rep.Problem == nil || rep.Problem.Kind != audit.KindCut {
		t.Fatalf("cut log: %v %s", err, out)
	}
	if _, err := runDayiCmd(t, "audit", "verify", logPath); err == nil || !strings.Contains(err.Error(), "cut from the end") {
		t.Fatalf("cut log, text: %v", err)
	}
	// serve refuses to extend it.
	if _, err := (&auditFlags{}).open(lg); err == nil || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("serve on a cut log: %v", err)
	}
	// A key others may read is refused.
	os.Chmod(filepath.Join(home, "audit.key"), 0o644)
	if _, err := runDayiCmd(t, "audit", "verify", logPath); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
}
