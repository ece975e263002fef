package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dayi/audit"
)

// openTestAudit opens a fresh audit log sealed with a fixed test key; the
// test's cleanup closes it.
func openTestAudit(t *testing.T, content bool) (*audit.Logger, string, *audit.Key) {
	t.Helper()
	key, err := audit.NewKey(bytes.Repeat([]byte{0x5a}, audit.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	al, err := audit.Open(path, key, content)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	return al, path, key
}

// auditLines returns the log's records, decoded.
func auditLines(t *testing.T, path string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, r)
	}
	return out
}

func get(t *testing.T, hs *httptest.Server, path string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestFinding5_AuditBeforeResponse: a failed request is on record before
// its client has the answer (it used to be written after the handler
// returned, and a failed write was only logged).
func TestFinding5_AuditBeforeResponse(t *testing.T) {
	al, path, key := openTestAudit(t, false)
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, r, http.StatusInternalServerError, errors.New("workflow failed"))
		w.(http.Flusher).Flush()
		<-release // the handler has not returned when the client reads the status
	})
	_, hs := testServer(t, Config{Audit: al, Extra: map[string]http.Handler{"/api/clinic/": slow}})
	resp, err := hs.Client().Post(hs.URL+"/api/clinic/emr", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	recs := auditLines(t, path)
	close(release)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if len(recs) != 1 || recs[0].Status != 500 || recs[0].Endpoint != "/api/clinic/" || recs[0].RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("records when the client had its answer: %+v", recs)
	}
	if rep, err := audit.VerifyFile(path, key); err != nil || rep.Records != 1 || rep.Head.Seq != 1 {
		t.Fatalf("%v %+v", err, rep)
	}
}

// TestFinding5_AuditFailClosed: when the audit log cannot be written the
// server answers 503 rather than serve unaudited: a failing request (404), a
// successful one, and a streaming generation that must not even start.
func TestFinding5_AuditFailClosed(t *testing.T) {
	al, path, key := openTestAudit(t, false)
	rec := &recorder{}
	_, hs := testServer(t, Config{Audit: al, NewGenerator: rec.hook()})
	if st, _ := get(t, hs, "/api/tags"); st != 200 {
		t.Fatalf("healthy log: %d", st)
	}
	// The head cannot be written (a directory in the way of its temp file:
	// this holds even for root, unlike a read-only directory).
	block := path + audit.HeadSuffix + ".tmp"
	if err := os.Mkdir(block, 0o700); err != nil {
		t.Fatal(err)
	}
	st, body := get(t, hs, "/api/tags")
	if st != 503 || !strings.Contains(string(body), "audit log cannot be written") || strings.Contains(string(body), "models") {
		t.Fatalf("unsealed record: %d %s", st, body)
	}
	st, body, hdr := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "hello", "options": greedy(4)})
	if st != 503 || hdr.Get("Retry-After") == "" || rec.last() != "" {
		t.Fatalf("generation while the log fails: %d %s (engine saw %q)", st, body, rec.last())
	}
	if st, body, _ := post(t, hs, "/v1/chat/completions", map[string]any{"model": "no-such", "messages": []map[string]string{{"role": "user", "content": "x"}}}); st != 503 || !strings.Contains(string(body), "server_overloaded") {
		t.Fatalf("OpenAI error shape: %d %s", st, body)
	}
	// The disk is back: the server recovers by itself and the log verifies,
	// with the record whose head failed sealed again.
	os.Remove(block)
	st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "hello", "options": greedy(4), "stream": false})
	if st != 200 || rec.last() == "" {
		t.Fatalf("after recovery: %d %s", st, body)
	}
	if rep, err := audit.VerifyFile(path, key); err != nil || rep.Records != 3 || rep.HeadBehind != 0 {
		t.Fatalf("%v %+v", err, rep)
	}

	// A closed log (the file itself is gone): a request that fails is
	// refused with 503 too, not answered unaudited with its 404.
	al.Close()
	st, body, _ = post(t, hs, "/api/generate", map[string]any{"model": "no-such-model", "prompt": "x"})
	if st != 503 || strings.Contains(string(body), "no-such-model") {
		t.Fatalf("closed log, failing request: %d %s", st, body)
	}
	if st, _ := get(t, hs, "/api/version"); st != 503 {
		t.Fatalf("closed log: %d", st)
	}
	// /metrics is not audited and stays up for the operator.
	if st, body := get(t, hs, "/metrics"); st != 200 || !strings.Contains(string(body), `status="503"`) {
		t.Fatalf("metrics: %d %s", st, body)
	}
}

// TestAuditFailClosedMidResponse: the record is written when the handler
// sends its status; if that write fails the handler's answer is replaced by
// 503 and its body dropped.
func TestAuditFailClosedMidResponse(t *testing.T) {
	al, _, _ := openTestAudit(t, false)
	ran := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		al.Close() // the disk goes away while the handler runs
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "9")
		if _, err := w.Write([]byte("secret ok")); err == nil {
			t.Error("write after a failed audit record succeeded")
		}
	})
	_, hs := testServer(t, Config{Audit: al, Extra: map[string]http.Handler{"/api/clinic/": h}})
	st, body, hdr := post(t, hs, "/api/clinic/triage", "{}")
	if !ran || st != 503 || strings.Contains(string(body), "secret") || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("%v %d %s %v", ran, st, body, hdr)
	}
}

// TestAuditFailOpen: with AuditFailOpen the server logs the failure and
// serves.
func TestAuditFailOpen(t *testing.T) {
	al, _, _ := openTestAudit(t, false)
	var logs bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(syncWriter{&logs, &mu}, nil))
	_, hs := testServer(t, Config{Audit: al, AuditFailOpen: true, Logger: lg})
	al.Close()
	if st, body := get(t, hs, "/api/tags"); st != 200 || !strings.Contains(string(body), "dayi-tiny") {
		t.Fatalf("fail-open: %d %s", st, body)
	}
	st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "hi", "options": greedy(3), "stream": false})
	if st != 200 {
		t.Fatalf("fail-open generation: %d %s", st, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "audit log write failed") {
		t.Fatalf("failure not logged:\n%s", logs.String())
	}
}

// TestFinding5_Audit401Coalesced: a flood of unauthenticated requests from
// one client costs one record a minute and a summary with the count, not
// one fsync'd record each.
func TestFinding5_Audit401Coalesced(t *testing.T) {
	al, path, key := openTestAudit(t, false)
	s, hs := testServer(t, Config{Audit: al, APIKeys: []string{"k1"}})
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var cmu sync.Mutex
	s.denied.now = func() time.Time { cmu.Lock(); defer cmu.Unlock(); return clock }
	advance := func(d time.Duration) { cmu.Lock(); clock = clock.Add(d); cmu.Unlock() }
	for i := 0; i < 50; i++ {
		if st, _ := get(t, hs, "/api/tags", "Authorization", "Bearer wrong"); st != 401 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	recs := auditLines(t, path)
	if len(recs) != 1 || recs[0].Status != 401 || recs[0].Endpoint != "unauthorized" || recs[0].Count != 0 {
		t.Fatalf("50 refusals in a minute: %+v", recs)
	}
	// An authenticated request in the meantime is audited normally.
	if st, _ := get(t, hs, "/api/version", "Authorization", "Bearer k1"); st != 200 {
		t.Fatal(st)
	}
	advance(61 * time.Second)
	// The next request (any) writes the summary of the minute that ended;
	// the next refusal opens a new window with a record of its own.
	if st, _ := get(t, hs, "/api/version", "Authorization", "Bearer k1"); st != 200 {
		t.Fatal(st)
	}
	get(t, hs, "/api/tags")
	recs = auditLines(t, path)
	if len(recs) != 5 {
		t.Fatalf("records: %+v", recs)
	}
	sum := recs[3]
	if sum.Status != 401 || sum.Count != 49 || sum.Client != "127.0.0.1" || sum.DurationMS != 61000 {
		t.Fatalf("summary record: %+v", sum)
	}
	if recs[4].Status != 401 || recs[4].Count != 0 {
		t.Fatalf("new window: %+v", recs[4])
	}
	// Shutdown writes what is pending.
	get(t, hs, "/api/tags")
	s.Close()
	recs = auditLines(t, path)
	if last := recs[len(recs)-1]; len(recs) != 6 || last.Count != 1 {
		t.Fatalf("after close: %+v", recs)
	}
	if _, err := audit.VerifyFile(path, key); err != nil {
		t.Fatal(err)
	}
	// Fail closed here too: a refusal that cannot be audited is a 503.
	advance(2 * time.Minute)
	al.Close()
	if st, _ := get(t, hs, "/api/tags"); st != 503 {
		t.Fatalf("401 with a closed log: %d", st)
	}
}

// TestDeniedTableBounded: many client addresses cannot grow the table past
// its bound, nor cost more than one record per tracked client plus one for
// all the rest; IPv6 clients are grouped by /64.
func TestDeniedTableBounded(t *testing.T) {
	tb := newDeniedTable()
	tb.max = 8
	now := time.Unix(1e9, 0)
	tb.now = func() time.Time { return now }
	firsts := 0
	for i := 0; i < 10000; i++ {
		if first, _ := tb.hit(clientKey(fmt.Sprintf("10.%d.%d.%d:999", i>>16&255, i>>8&255, i&255)), "unauthorized", 401); first {
			firsts++
		}
	}
	if len(tb.m) != 9 || len(tb.order) != 9 || firsts != 9 {
		t.Fatalf("table %d, order %d, records %d", len(tb.m), len(tb.order), firsts)
	}
	if e := tb.m[overflowClient+" unauthorized 401"]; e == nil || e.suppressed != 10000-9 {
		t.Fatalf("overflow entry: %+v", e)
	}
	now = now.Add(deniedWindow)
	recs := tb.due()
	if len(tb.m) != 0 || len(tb.order) != 0 || len(recs) != 1 || recs[0].Count != 10000-9 || recs[0].Client != overflowClient {
		t.Fatalf("after the window: %d entries, %+v", len(tb.m), recs)
	}
	// Another kind of refusal from the same client has a window of its own.
	if first, _ := tb.hit("192.0.2.1", "unauthorized", 401); !first {
		t.Fatal("first 401")
	}
	if first, _ := tb.hit("192.0.2.1", "forbidden host", 403); !first {
		t.Fatal("first 403 coalesced with the 401s")
	}
	if first, _ := tb.hit("192.0.2.1", "forbidden host", 403); first {
		t.Fatal("second 403 recorded")
	}
	for _, c := range []struct{ addr, key string }{
		{"[2001:db8:1:2:aaaa::1]:5", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:6", "2001:db8:1:2::/64"},
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7"},
		{"@", "@"},
	} {
		if got := clientKey(c.addr); got != c.key {
			t.Errorf("clientKey(%q) = %q, want %q", c.addr, got, c.key)
		}
	}
}

// TestAuditPatientHashed: a request naming a patient leaves the keyed hash
// in the log, never the id.
func TestAuditPatientHashed(t *testing.T) {
	al, path, key := openTestAudit(t, false)
	_, hs := testServer(t, Config{Audit: al})
	st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "prompt": "x", "patient_id": "PID-778899"})
	if st != 400 {
		t.Fatalf("%d %s", st, body)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "778899") || !strings.Contains(string(data), `"patient_hash":"`+key.PatientHash("PID-778899")+`"`) {
		t.Fatalf("audit:\n%s", data)
	}
}
