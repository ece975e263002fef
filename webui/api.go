package webui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"dayi/internal/safename"
	"dayi/knowledge"
	"dayi/memory"
)

// The app needs a few endpoints the Ollama and OpenAI APIs lack: listing
// knowledge bases, opening a cited passage, adding a file to a knowledge
// base, and reviewing and forgetting a patient's memory. They are plain
// handlers; the server mounts them (Config.Extra) behind its
// authentication, access table, limits and audit:
//
//	GET  /api/kb                        kb:read   knowledge bases with their counts
//	GET  /api/kb/{name}/chunks/{id}     kb:read   one passage (a citation's chunk_id)
//	POST /api/kb/{name}/files?filename= kb:write  the body is the file; ingested before the answer
//	POST /api/memory/items              memory    {"patient_id"} → the patient's stored items
//	POST /api/memory/forget             memory    {"patient_id", "seq"} or {"patient_id", "all": true}
//
// Patient ids travel in bodies, never in URLs, so they do not reach access
// logs or browser history.

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{fmt.Sprintf(format, args...)})
}

// Knowledge serves the knowledge-base endpoints from a library.
type Knowledge struct {
	Lib *knowledge.Library
	// FilesDir keeps uploaded files, one folder per knowledge base (the
	// index refers to them by path, so they must stay).
	FilesDir string
}

// Mount adds the knowledge endpoints to extra (server.Config.Extra).
func (k *Knowledge) Mount(extra map[string]http.Handler) {
	extra["GET /api/kb"] = http.HandlerFunc(k.list)
	extra["GET /api/kb/{name}/chunks/{id}"] = http.HandlerFunc(k.passage)
	// its own pattern, not the /api/kb/ subtree, which other handlers may hold
	extra["POST /api/kb/{name}/files"] = http.HandlerFunc(k.upload)
}

// passager is a knowledge base that can open one passage by chunk id (the
// bbolt one can); asserted on any, so it holds whatever type the library's
// Open returns.
type passager interface {
	Passage(id int) (knowledge.Passage, error)
}

// KBInfo is one knowledge base as listed.
type KBInfo struct {
	Name    string   `json:"name"`
	Files   int      `json:"files"`
	Chunks  int      `json:"chunks"`
	Bytes   int64    `json:"bytes"`
	Sources []string `json:"sources"` // document names, never server paths
}

func (k *Knowledge) list(w http.ResponseWriter, r *http.Request) {
	names, err := k.Lib.List()
	if err != nil {
		fail(w, http.StatusInternalServerError, "listing knowledge bases: %v", err)
		return
	}
	out := struct {
		KBs []KBInfo `json:"knowledge_bases"`
	}{KBs: []KBInfo{}}
	for _, n := range names {
		info, err := k.info(n)
		if err != nil {
			fail(w, http.StatusInternalServerError, "knowledge base %q: %v", n, err)
			return
		}
		out.KBs = append(out.KBs, info)
	}
	writeJSON(w, http.StatusOK, out)
}

func (k *Knowledge) info(name string) (KBInfo, error) {
	kb, err := k.Lib.OpenReadOnly(name)
	if err != nil {
		return KBInfo{}, err
	}
	defer kb.Close()
	st, err := kb.Stats()
	if err != nil {
		return KBInfo{}, err
	}
	files, err := kb.Files()
	if err != nil {
		return KBInfo{}, err
	}
	info := KBInfo{Name: name, Files: st.Files, Chunks: st.Chunks, Bytes: st.Bytes, Sources: []string{}}
	for _, f := range files {
		info.Sources = append(info.Sources, docName(f.Source))
	}
	return info, nil
}

func (k *Knowledge) passage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		fail(w, http.StatusBadRequest, "chunk id %.20q: want a positive integer (a citation's chunk_id)", r.PathValue("id"))
		return
	}
	if _, err := k.Lib.Path(name); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	kb, err := k.Lib.OpenReadOnly(name)
	if err != nil {
		fail(w, http.StatusNotFound, "%v", err)
		return
	}
	defer kb.Close()
	pg, ok := any(kb).(passager)
	if !ok {
		fail(w, http.StatusNotImplemented, "knowledge base %q cannot open single passages", name)
		return
	}
	p, err := pg.Passage(id)
	if errors.Is(err, knowledge.ErrNoPassage) {
		fail(w, http.StatusNotFound, "knowledge base %q has no passage %d", name, id)
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "knowledge base %q: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": p.ID, "source": docName(p.Source), "title": p.Title, "location": p.Location, "text": p.Text})
}

// docName is the name of a source document without the folders it was
// read from: the reader needs the document, not the server's layout.
func docName(source string) string { return filepath.Base(filepath.FromSlash(source)) }

// uploadName reports whether fn is a file name a person would give a
// guideline: no path, no leading dot, no control or shell-special
// characters, 128 characters at most.
func uploadName(fn string) bool { return safename.Valid(fn, 127, " _.()+-") }

func (k *Knowledge) upload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := k.Lib.Path(name); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	fn := r.URL.Query().Get("filename")
	if !uploadName(fn) || strings.Contains(fn, "..") {
		fail(w, http.StatusBadRequest, "filename %.80q: give the document's name (letters, digits, space _ . ( ) + -; at most 128; no path)", fn)
		return
	}
	if !knowledge.Supported(fn) {
		fail(w, http.StatusBadRequest, "filename %.80q: unsupported type (want .txt, .md, .html, .jsonl)", fn)
		return
	}
	folder := filepath.Join(k.FilesDir, name)
	if err := os.MkdirAll(folder, 0o700); err != nil {
		fail(w, http.StatusInternalServerError, "upload folder: %v", err)
		return
	}
	path := filepath.Join(folder, fn)
	if err := saveBody(r.Body, path); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, http.StatusRequestEntityTooLarge, "file exceeds the server's limit of %d bytes", mbe.Limit)
			return
		}
		fail(w, http.StatusInternalServerError, "saving %s: %v", fn, err)
		return
	}
	kb, err := k.Lib.Open(name)
	if err != nil {
		fail(w, http.StatusInternalServerError, "knowledge base %q: %v", name, err)
		return
	}
	defer kb.Close()
	rep, err := kb.Add(r.Context(), []string{path})
	if err != nil {
		fail(w, http.StatusInternalServerError, "knowledge base %q: adding %s: %v", name, fn, err)
		return
	}
	skipped := []string{}
	for _, s := range rep.Skipped {
		skipped = append(skipped, s.Reason)
	}
	writeJSON(w, http.StatusOK, map[string]any{"knowledge_base": name, "file": fn,
		"added": len(rep.Added), "updated": len(rep.Updated), "unchanged": len(rep.Unchanged),
		"chunks": rep.Chunks, "skipped": skipped})
}

// saveBody writes the upload next to path and renames it in place, so a
// broken upload never replaces a good file.
func saveBody(body io.Reader, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// PatientMemory is what the memory endpoints use (*memory.Memory).
type PatientMemory interface {
	Items(ctx context.Context, patientID string) ([]memory.Item, error)
	ForgetRecord(ctx context.Context, patientID string, seq int64) error
	Forget(ctx context.Context, patientID string) error
}

// MemoryAPI serves /api/memory/items and /api/memory/forget. note, when
// not nil, is told the patient each request acts on, for the audit log
// (server.NotePatient).
func MemoryAPI(m PatientMemory, note func(r *http.Request, patientID string)) http.Handler {
	if note == nil {
		note = func(*http.Request, string) {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/memory/items", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			PatientID string `json:"patient_id"`
		}
		if !decode(w, r, &req) {
			return
		}
		note(r, req.PatientID)
		items, err := m.Items(r.Context(), req.PatientID)
		if err != nil {
			memoryFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"patient_id": req.PatientID, "items": items})
	})
	mux.HandleFunc("POST /api/memory/forget", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			PatientID string `json:"patient_id"`
			Seq       *int64 `json:"seq"`
			All       bool   `json:"all"`
		}
		if !decode(w, r, &req) {
			return
		}
		note(r, req.PatientID)
		var err error
		switch {
		case req.All && req.Seq == nil:
			err = m.Forget(r.Context(), req.PatientID)
		case !req.All && req.Seq != nil:
			err = m.ForgetRecord(r.Context(), req.PatientID, *req.Seq)
		default:
			fail(w, http.StatusBadRequest, `give either "seq" (one item) or "all": true (everything), not both`)
			return
		}
		if err != nil {
			memoryFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"forgotten": true})
	})
	return mux
}

// decode reads a JSON object body with no unknown fields and a patient id.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, http.StatusRequestEntityTooLarge, "request body exceeds the server's limit of %d bytes", mbe.Limit)
			return false
		}
		fail(w, http.StatusBadRequest, "request body: %v", err)
		return false
	}
	return true
}

func memoryFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, memory.ErrBadPatient):
		fail(w, http.StatusBadRequest, "patient_id: %v", err)
	case errors.Is(err, memory.ErrNoRecord):
		fail(w, http.StatusNotFound, "seq: %v", err)
	default:
		// never echo the patient id: errors from the store name records by number
		fail(w, http.StatusInternalServerError, "patient memory: %v", err)
	}
}
