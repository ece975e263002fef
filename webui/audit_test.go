package webui

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/audit"
)

// The admin page's audit check: a whole chain is intact, an edited record is
// named, a cut tail is named, a record half-written at the end is not taken
// for damage, and an unreadable log is a 500 that names no path.
func TestAuditStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	key, err := audit.LoadKey(filepath.Join(dir, "audit.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(path, key, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Append(audit.Record{Method: "POST", Endpoint: "/api/chat", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	verify := func(p string) AuditVerifier {
		return func(context.Context) (audit.Report, error) { return audit.VerifyFile(p, key) }
	}
	check := func() map[string]any {
		t.Helper()
		code, out := call(t, AuditStatus(verify(path)), "GET", "/api/audit/verify", "")
		if code != 200 {
			t.Fatalf("%d %v", code, out)
		}
		return out
	}
	if out := check(); out["intact"] != true || out["records"].(float64) != 3 {
		t.Fatalf("whole chain: %v", out)
	}
	data, _ := os.ReadFile(path)
	// a record being appended: its first half only
	os.WriteFile(path, append(append([]byte{}, data...), []byte(`{"hash":"abc`)...), 0o600)
	if out := check(); out["intact"] != true || out["records"].(float64) != 3 {
		t.Fatalf("with a half-written last line: %v", out)
	}
	tampered := strings.Replace(string(data), `"status":200`, `"status":201`, 1)
	if tampered == string(data) {
		t.Fatal("test setup: no status field to edit")
	}
	os.WriteFile(path, []byte(tampered), 0o600)
	if out := check(); out["intact"] != false || out["broken_line"].(float64) != 1 {
		t.Fatalf("edited first record: %v", out)
	}
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, []byte(strings.Join(lines[:2], "")), 0o600) // the last record cut off
	if out := check(); out["intact"] != false || out["kind"] != audit.KindCut {
		t.Fatalf("cut tail: %v", out)
	}
	rec := httptest.NewRecorder()
	ioErr := func(context.Context) (audit.Report, error) {
		return audit.Report{}, &os.PathError{Op: "open", Path: path, Err: os.ErrPermission}
	}
	AuditStatus(ioErr).ServeHTTP(rec, httptest.NewRequest("GET", "/api/audit/verify", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "\"intact\"") || strings.Contains(rec.Body.String(), dir) {
		t.Fatalf("unreadable log: %d %s", rec.Code, rec.Body.String())
	}
}
