package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/engine"
	"dayi/knowledge"
	"dayi/server"
)

// dayi serve's product wiring: knowledge bases, patient memory and the
// clinical workflows reach the server.
func TestServeProductWiring(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	ctx := context.Background()
	doc := filepath.Join(t.TempDir(), "guide.md")
	if err := os.WriteFile(doc, []byte("# Chest pain\nPatients with chest pain and sweating need an ECG within 10 minutes.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := &knowledge.Library{Dir: filepath.Join(home, "kb")}
	kb, err := lib.Open("guide")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kb.Add(ctx, []string{doc}); err != nil {
		t.Fatal(err)
	}
	kb.Close()

	var cfg server.Config
	var pf productFlags
	closeAll, err := pf.wire(ctx, &cfg, engine.Options{Backend: "dayi"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	ps, err := cfg.Knowledge.Retrieve(ctx, "guide", "ECG for chest pain", 200)
	if err != nil || len(ps) == 0 || !strings.Contains(ps[0].Text, "ECG") {
		t.Fatalf("retrieve: %v %+v", err, ps)
	}
	if err := cfg.Memory.Record(ctx, "p1", server.Turn{User: "I am allergic to penicillin."}); err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Memory.Recall(ctx, "p1", "antibiotics", 200)
	if err != nil || !strings.Contains(strings.ToLower(got), "penicillin") {
		t.Fatalf("recall: %v %q", err, got)
	}
	h := cfg.Extra["/api/clinic/"]
	if h == nil {
		t.Fatal("clinic handler not mounted")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/clinic/triage", strings.NewReader(`{"complaint":"crushing chest pain with sweating"}`)))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"emergency"`) {
		t.Fatalf("triage: %d %s", rec.Code, rec.Body.String())
	}
}
