package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"dayi/knowledge"
)

func kbCall(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, rec.Code, rec.Body.String())
	}
	return rec.Code, v
}

// TestKBHandler: uploads are indexed and listed; hostile names, bodies and
// methods get a 4xx naming what is wrong, and nothing is written.
func TestKBHandler(t *testing.T) {
	lib := &knowledge.Library{Dir: t.TempDir()}
	h := kbHandler{lib: lib}
	code, v := kbCall(t, h, "POST", "/api/kb/wards/documents",
		`{"documents":[{"name":"sepsis.md","text":"# Sepsis\n\nAntibiotics within one hour."},{"name":"../../etc/cron.d/x.txt","text":"x"}]}`)
	if code != 200 || fmt.Sprint(v["Added"]) != "[sepsis.md]" || len(v["Skipped"].([]any)) != 1 {
		t.Fatalf("upload: %d %v", code, v)
	}
	code, v = kbCall(t, h, "GET", "/api/kb/wards/files", "")
	if files, _ := v["files"].([]any); code != 200 || len(files) != 1 || files[0].(map[string]any)["source"] != "sepsis.md" {
		t.Fatalf("files: %d %v", code, v)
	}
	ps, err := lib.Retrieve(t.Context(), "wards", "antibiotics", 0)
	if err != nil || len(ps) != 1 {
		t.Fatalf("retrieve: %+v %v", ps, err)
	}
	many := `{"documents":[` + strings.Repeat(`{"name":"a.txt","text":"a"},`, maxKBDocs) + `{"name":"a.txt","text":"a"}]}`
	for _, c := range []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"POST", "/api/kb/.hidden/documents", `{"documents":[{"name":"a.txt","text":"a"}]}`, 400, "invalid knowledge base name"},
		{"POST", "/api/kb/..%2Fx/documents", `{"documents":[{"name":"a.txt","text":"a"}]}`, 404, "not found"},
		{"POST", "/api/kb/wards/documents", `{"documents":[]}`, 400, "documents: 0 given"},
		{"POST", "/api/kb/wards/documents", many, 400, fmt.Sprintf("documents: %d given", maxKBDocs+1)},
		{"POST", "/api/kb/wards/documents", `{"documents":`, 400, "invalid JSON"},
		{"POST", "/api/kb/wards/documents", `{"documents":[]} {}`, 400, "more than one value"},
		{"POST", "/api/kb/wards/documents", `{"documents":[{"name":"a.txt","text":"` + strings.Repeat("x", maxKBBody) + `"}]}`, 413, "request body over"},
		{"GET", "/api/kb/wards/documents", "", 405, "not allowed"},
		{"POST", "/api/kb/wards/files", "{}", 405, "not allowed"},
		{"GET", "/api/kb/nope/files", "", 404, "not found"},
		{"GET", "/api/kb/wards", "", 404, "not found"},
	} {
		code, v := kbCall(t, h, c.method, c.path, c.body)
		if msg, _ := v["error"].(string); code != c.code || !strings.Contains(msg, c.says) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, code, msg, c.code, c.says)
		} else if strings.Contains(msg, lib.Dir) {
			t.Errorf("%s %s: the answer names a server path: %q", c.method, c.path, msg)
		}
	}
	if names, _ := lib.List(); len(names) != 1 {
		t.Errorf("refused requests made knowledge bases: %v", names)
	}
}
