// Package webui is the clinicians' web app that `dayi serve` serves at
// /ui/: chat with streaming answers and cited knowledge-base passages,
// patient memory, triage, EMR notes with follow-up plans, and an admin
// page. It is static files embedded in the binary (plain ES modules, no
// build step, nothing fetched from elsewhere: an air-gapped hospital has no
// CDN), served under a strict Content-Security-Policy, plus the few JSON
// endpoints the app needs that the Ollama and OpenAI APIs lack (api.go).
//
// The static files hold no data: the server serves them without a key, and
// every API call the page makes carries the user's key (kept in
// sessionStorage, sent as Authorization: Bearer).
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// CSP allows the page its own scripts, styles and API and nothing else: no
// inline script or style (an injected <script> or style attribute does not
// run), no other origin, no framing, no plugins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the app's files for requests under prefix (e.g. "/ui/").
func Handler(prefix string) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		// the binary is the version: revalidate, so an upgrade shows at once
		h.Set("Cache-Control", "no-cache")
		rest := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(prefix, "/"))
		if rest != "/" && strings.HasSuffix(rest, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	})
}
