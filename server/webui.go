package server

import (
	"mime"
	"net/http"
	"strings"
)

// wantsHTML reports whether a GET of / comes from a browser navigating
// there (its Accept lists text/html), as opposed to a client probing for
// "Ollama is running" (Ollama's CLI, curl and SDKs send */* or nothing).
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/html" {
			return true
		}
	}
	return false
}

// openRoute reports whether the request's route needs no key at all (the
// rows of the access table with no scope): a caller without a valid key
// may still reach it.
func openRoute(mux *http.ServeMux, r *http.Request) bool {
	_, pattern := mux.Handler(r)
	if pattern == "" {
		return false
	}
	scope, known := routeScope(pattern)
	return known && scope == ""
}

// NotePatient tells the audit record of a request which patient it acted on,
// for handlers mounted through Config.Extra (the server's own handlers note
// it themselves). Outside the server's middleware it does nothing.
func NotePatient(r *http.Request, patientID string) {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		ri.patientID = patientID
	}
}
