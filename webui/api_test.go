package webui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/knowledge"
	"dayi/memory"
)

func call(t *testing.T, h http.Handler, method, target, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, target, rec.Code, rec.Body.String())
	}
	return rec.Code, out
}

func knowledgeMux(t *testing.T) (*http.ServeMux, *Knowledge) {
	dir := t.TempDir()
	k := &Knowledge{Lib: &knowledge.Library{Dir: filepath.Join(dir, "kb")}, FilesDir: filepath.Join(dir, "kb-files")}
	extra := map[string]http.Handler{}
	k.Mount(extra)
	mux := http.NewServeMux()
	for p, h := range extra {
		mux.Handle(p, h)
	}
	return mux, k
}

// An uploaded document is indexed, listed by name (never by server path),
// and its passages open by chunk id.
func TestKnowledgeUploadListPassage(t *testing.T) {
	mux, k := knowledgeMux(t)
	doc := "# Chest pain\n\nPatients with chest pain and sweating need an ECG within 10 minutes.\n"
	st, out := call(t, mux, "POST", "/api/kb/guide/files?filename=Chest%20pain%20guide.md", doc)
	if st != 200 || out["chunks"].(float64) < 1 {
		t.Fatalf("upload: %d %v", st, out)
	}
	st, out = call(t, mux, "GET", "/api/kb", "")
	kbs, _ := out["knowledge_bases"].([]any)
	if st != 200 || len(kbs) != 1 {
		t.Fatalf("list: %d %v", st, out)
	}
	kb := kbs[0].(map[string]any)
	if kb["name"] != "guide" || kb["files"].(float64) != 1 || mustJSON(t, kb["sources"]) != `["Chest pain guide.md"]` {
		t.Fatalf("list entry: %v", kb)
	}
	hits, err := k.Lib.Retrieve(context.Background(), "guide", "ECG chest pain", 0)
	if err != nil || len(hits) == 0 {
		t.Fatalf("retrieve: %v %v", err, hits)
	}
	st, out = call(t, mux, "GET", "/api/kb/guide/chunks/"+itoa(hits[0].ID), "")
	if st != 200 || !strings.Contains(out["text"].(string), "ECG within 10 minutes") || out["source"] != "Chest pain guide.md" {
		t.Fatalf("passage: %d %v", st, out)
	}
	for _, c := range []struct {
		target string
		want   int
	}{
		{"/api/kb/guide/chunks/999999", 404},
		{"/api/kb/guide/chunks/-1", 400},
		{"/api/kb/guide/chunks/1e9", 400},
		{"/api/kb/nothere/chunks/1", 404},
		{"/api/kb/..%2fetc/chunks/1", 400},
	} {
		if st, out := call(t, mux, "GET", c.target, ""); st != c.want {
			t.Errorf("GET %s: %d %v, want %d", c.target, st, out, c.want)
		}
	}
}

// Upload names are document names: no path escapes the upload folder, no
// hidden files, only the types the index reads.
func TestKnowledgeUploadRefusesBadNames(t *testing.T) {
	mux, k := knowledgeMux(t)
	for _, name := range []string{"", "../escape.md", "..%2Fescape.md", "a/b.md", ".hidden.md", "x.md%00.txt",
		"evil.sh", "x..md", strings.Repeat("a", 200) + ".md", "a\nb.md"} {
		st, out := call(t, mux, "POST", "/api/kb/guide/files?filename="+url.QueryEscape(name), "text")
		if st != 400 || !strings.Contains(out["error"].(string), "filename") {
			t.Errorf("filename %q: %d %v", name, st, out)
		}
	}
	if st, out := call(t, mux, "POST", "/api/kb/..%2F..%2Fetc/files?filename=x.md", "text"); st != 400 {
		t.Errorf("knowledge base name escaping the library: %d %v", st, out)
	}
	// nothing was written anywhere
	if _, err := os.Stat(k.FilesDir); !os.IsNotExist(err) {
		t.Errorf("refused uploads left %s behind (%v)", k.FilesDir, err)
	}
}

func TestMemoryAPI(t *testing.T) {
	ctx := context.Background()
	st, err := memory.OpenBolt(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := memory.New(st, memory.Options{})
	if err := m.Record(ctx, "p1", memory.Turn{User: "I am allergic to penicillin."}); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(ctx, "p2", memory.Turn{User: "I am allergic to latex."}); err != nil {
		t.Fatal(err)
	}
	var noted []string
	h := MemoryAPI(m, func(_ *http.Request, id string) { noted = append(noted, id) })
	code, out := call(t, h, "POST", "/api/memory/items", `{"patient_id":"p1"}`)
	items, _ := out["items"].([]any)
	if code != 200 || len(items) < 2 || strings.Contains(mustJSON(t, out), "latex") {
		t.Fatalf("items: %d %v", code, out)
	}
	var turnSeq float64
	for _, it := range items {
		if it := it.(map[string]any); it["kind"] == "turn" {
			turnSeq = it["seq"].(float64)
		}
	}
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"patient_id":"p1"}`, 400},                    // neither seq nor all
		{`{"patient_id":"p1","seq":1,"all":true}`, 400}, // both
		{`{"patient_id":"p1","seq":424242}`, 404},
		{`{"patient_id":"","all":true}`, 400},
		{`{"patient_id":"p1","all":true,"extra":1}`, 400},
		{`[1]`, 400},
	} {
		if code, out := call(t, h, "POST", "/api/memory/forget", c.body); code != c.want {
			t.Errorf("forget %s: %d %v, want %d", c.body, code, out, c.want)
		}
	}
	if code, out := call(t, h, "POST", "/api/memory/forget", `{"patient_id":"p1","seq":`+itoa(int(turnSeq))+`}`); code != 200 {
		t.Fatalf("forget one: %d %v", code, out)
	}
	if _, out := call(t, h, "POST", "/api/memory/items", `{"patient_id":"p1"}`); strings.Contains(mustJSON(t, out), "penicillin") {
		t.Fatalf("forgotten turn still listed: %v", out)
	}
	if _, out := call(t, h, "POST", "/api/memory/items", `{"patient_id":"p2"}`); !strings.Contains(mustJSON(t, out), "latex") {
		t.Fatalf("the other patient lost memory: %v", out)
	}
	if len(noted) == 0 || noted[0] != "p1" {
		t.Errorf("patients noted for the audit log: %q", noted)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/memory/items", nil))
	if rec.Code != 405 {
		t.Errorf("GET items: %d", rec.Code)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
