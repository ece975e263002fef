package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"dayi/knowledge"
)

// kbHandler serves /api/kb/ (the kb:write scope, see the server's access
// table): POST /api/kb/NAME/documents adds uploaded documents to knowledge
// base NAME, so that replicas sharing --kb-pg can be fed through any of
// them; GET /api/kb/NAME/files lists what it holds.
type kbHandler struct{ lib *knowledge.Library }

// Bounds of an upload request: the whole body, and the documents in it.
const (
	maxKBBody = 32 << 20
	maxKBDocs = 256
)

type kbUploadRequest struct {
	Documents []struct {
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"documents"`
}

func (h kbHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/kb/")
	name, what, ok := strings.Cut(rest, "/")
	if !ok || (what != "documents" && what != "files") {
		kbError(w, http.StatusNotFound, "not found: use POST /api/kb/NAME/documents or GET /api/kb/NAME/files")
		return
	}
	if _, err := h.lib.Path(name); err != nil {
		kbError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case what == "files" && r.Method == http.MethodGet:
		kb, err := h.lib.OpenReadOnly(name)
		if err != nil {
			// The library's error names its directory: a server path is
			// none of the client's business (issue 15, finding 10).
			kbError(w, http.StatusNotFound, fmt.Sprintf("knowledge base %q not found", name))
			return
		}
		defer kb.Close()
		files, err := kb.Files()
		if err != nil {
			kbInternal(w, r, err)
			return
		}
		if files == nil {
			files = []knowledge.FileInfo{}
		}
		writeKBJSON(w, map[string]any{"files": files})
	case what == "documents" && r.Method == http.MethodPost:
		var req kbUploadRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxKBBody))
		if err := dec.Decode(&req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				kbError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxKBBody))
				return
			}
			kbError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
		if dec.More() {
			kbError(w, http.StatusBadRequest, "invalid JSON: more than one value")
			return
		}
		if len(req.Documents) == 0 || len(req.Documents) > maxKBDocs {
			kbError(w, http.StatusBadRequest, fmt.Sprintf("documents: %d given, want 1 to %d", len(req.Documents), maxKBDocs))
			return
		}
		docs := make([]knowledge.Upload, len(req.Documents))
		for i, d := range req.Documents {
			docs[i] = knowledge.Upload{Name: d.Name, Data: []byte(d.Text)}
		}
		kb, err := h.lib.Open(name)
		if err != nil {
			kbInternal(w, r, err)
			return
		}
		defer kb.Close()
		rep, err := kb.AddDocs(r.Context(), docs)
		if err != nil {
			kbInternal(w, r, err)
			return
		}
		writeKBJSON(w, rep)
	default:
		w.Header().Set("Allow", map[string]string{"files": "GET", "documents": "POST"}[what])
		kbError(w, http.StatusMethodNotAllowed, r.Method+" not allowed here")
	}
}

func writeKBJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// kbInternal answers a server-side failure without its text (store errors
// name files and database details); the log keeps it, by request id.
func kbInternal(w http.ResponseWriter, r *http.Request, err error) {
	id := w.Header().Get("X-Request-Id")
	slog.Default().Error("knowledge upload failed", "id", id, "path", r.URL.Path, "err", err)
	kbError(w, http.StatusInternalServerError, "internal server error (request id "+id+")")
}

func kbError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
