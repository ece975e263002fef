package clinic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// failingStore fails as memory.BoltStore does: its error names the store's path and the patient.
type failingStore struct{}

func (failingStore) SaveFollowUp(ctx context.Context, id string, p Plan) error {
	return fmt.Errorf("memory store /srv/dayi-secret/memory.db: patient %q: %w", id, os.ErrPermission)
}

// TestHandlerErrorsHidePatient is issue 15's finding 10 for the clinic workflows: a failing patient memory
// answered 500 with the patient id and the store path. The client now gets the request id only; the log keeps
// the failure without the patient.
func TestHandlerErrorsHidePatient(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-42") // as the server's middleware does
		NewHandler(Deps{Memory: failingStore{}}).ServeHTTP(w, r)
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/clinic/followup", "application/json",
		strings.NewReader(`{"patient_id":"MRN-99887766","start":"2025-01-01"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(body), "MRN-99887766") || strings.Contains(string(body), "dayi-secret") ||
		!strings.Contains(string(body), "req-42") {
		t.Errorf("followup with a failing store: %d %s", resp.StatusCode, body)
	}
	if l := logs.String(); strings.Contains(l, "MRN-99887766") || !strings.Contains(l, "dayi-secret") {
		t.Errorf("log:\n%s", l)
	}
	for _, b := range []string{`{"transcript":"x","max_tokens":10000000000000}`, `{"transcript":"x","temperature":1e30}`} {
		resp, err := http.Post(srv.URL+"/api/clinic/emr", "application/json", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("emr %s: %d %s", b, resp.StatusCode, body)
		}
	}
	resp, err = http.Post(srv.URL+"/api/clinic/triage", "application/json", strings.NewReader(`{"complaint":"cough","temperature":-1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("triage temperature -1: %d", resp.StatusCode)
	}
}
