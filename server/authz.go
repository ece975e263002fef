package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ollama/ollama/api"

	"dayi/auth"
)

// accessRule is one row of the access table: a route (a ServeMux pattern)
// or a request feature, and the scope it needs.
type accessRule struct {
	Route   string     // a pattern as registered, e.g. "POST /api/chat"
	Feature string     // or a request feature: "patient_id", "knowledge", "keep_alive<0"
	Scope   auth.Scope // "" for the open health probe
}

// accessTable is the one place that says who may do what. Routes not in it
// need admin (fail closed), so a route added without a row is not open.
// Features are checked on every request body, whatever the route, so a
// handler mounted through Config.Extra that takes a patient_id is covered
// without knowing about it.
func accessTable() []accessRule {
	g, a := auth.Generate, auth.Admin
	return []accessRule{
		{Route: "GET /{$}"}, {Route: "HEAD /{$}"}, // "Ollama is running": clients probe it before anything else
		{Route: "GET /ui/"}, // the web app's static files (no data; its API calls carry the key)
		{Route: "GET /api/kb", Scope: auth.KBRead},
		{Route: "GET /api/kb/{name}/chunks/{id}", Scope: auth.KBRead},
		{Route: "POST /api/kb/{name}/files", Scope: auth.KBWrite}, // the web app's upload
		{Route: "POST /api/generate", Scope: g},
		{Route: "POST /api/chat", Scope: g},
		{Route: "POST /api/embed", Scope: g},
		{Route: "POST /api/embeddings", Scope: g},
		{Route: "GET /api/tags", Scope: g},
		{Route: "POST /api/show", Scope: g},
		{Route: "GET /api/version", Scope: g},
		{Route: "POST /v1/chat/completions", Scope: g},
		{Route: "POST /v1/completions", Scope: g},
		{Route: "POST /v1/embeddings", Scope: g},
		{Route: "POST /v1/rerank", Scope: g},
		{Route: "POST /api/rerank", Scope: g},
		{Route: "GET /v1/models", Scope: g},
		{Route: "GET /v1/models/{model...}", Scope: g},
		{Route: "GET /api/ps", Scope: a},
		{Route: "GET /metrics", Scope: a},
		{Route: "GET /api/audit/verify", Scope: a}, // the web app's audit check (with --audit)
		{Route: "POST /api/copy", Scope: a},
		{Route: "DELETE /api/delete", Scope: a},
		{Route: "POST /api/create", Scope: a},
		{Route: "POST /api/pull", Scope: a},
		{Route: "/api/clinic/", Scope: auth.Clinic},
		{Route: "/api/memory/", Scope: auth.Memory},
		{Route: "/api/kb/", Scope: auth.KBWrite},
		{Feature: "patient_id", Scope: auth.Memory},  // recalls and records a patient's memory
		{Feature: "knowledge", Scope: auth.KBRead},   // reads a knowledge base into the prompt
		{Feature: "keep_alive<0", Scope: auth.Admin}, // pins a model in memory forever
	}
}

// routeScope is the scope a matched pattern needs; known is false for a
// pattern the table lacks (which then needs admin).
func routeScope(pattern string) (s auth.Scope, known bool) {
	for _, r := range accessTable() {
		if r.Route != "" && r.Route == pattern {
			return r.Scope, true
		}
	}
	return auth.Admin, false
}

func featureScope(feature string) auth.Scope {
	for _, r := range accessTable() {
		if r.Feature == feature {
			return r.Scope
		}
	}
	return auth.Admin
}

// defaultAnonymous is what a caller may do while no key is configured:
// generate as Ollama allows on loopback, and read knowledge bases (shared
// guidelines, no patient data). Patient memory, clinic workflows, knowledge
// writes and administration need a key.
func defaultAnonymous() []auth.Scope { return []auth.Scope{auth.Generate, auth.KBRead} }

// checkRequireKeys refuses a --require-keys server that has no key (n is
// how many are configured) or that was also told to run open.
func checkRequireKeys(cfg *Config, n int) error {
	if !cfg.RequireKeys {
		return nil
	}
	if cfg.InsecureNoKeys {
		return errors.New("--require-keys and --insecure-no-keys contradict each other: give one")
	}
	if n == 0 {
		return errors.New("--require-keys: no API key is configured: make one with " +
			"'dayi keys add --name NAME --scope generate' (or pass --api-key-file)")
	}
	return nil
}

type principalKey struct{}

// principalOf is who the request acts as (set by outer).
func principalOf(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}

// forbidden is a 403 naming the missing scope and what needs it. With no
// keys configured it says how to make one.
func (s *Server) forbidden(p auth.Principal, scope auth.Scope, what string) error {
	if p.Name == "" {
		return &reqError{status: http.StatusForbidden, msg: fmt.Sprintf(
			"%s needs the %q scope and this server has no API key configured: make one with "+
				"'dayi keys add --name NAME --scope %s' and send it as 'Authorization: Bearer KEY'", what, scope, scope)}
	}
	return &reqError{status: http.StatusForbidden, msg: fmt.Sprintf("API key %q lacks the %q scope, which %s needs", p.Name, scope, what)}
}

// require checks, inside a handler, that the request's caller holds scope:
// a second line behind outer's check, for code that acts on a patient.
func (s *Server) require(ctx context.Context, scope auth.Scope, what string) error {
	p, ok := principalOf(ctx)
	if !ok {
		return nil // not behind outer (a direct call in a test of the handler alone)
	}
	if !p.Has(scope) {
		return s.forbidden(p, scope, what)
	}
	return nil
}

// bodyFeatures are the request fields that need more than the route's
// scope. Each is json.RawMessage so no value of the wrong type makes this
// decode fail where the handler's own decoding (same package, same
// case-insensitive field matching, last duplicate wins) would pick it up.
type bodyFeatures struct {
	PatientID json.RawMessage `json:"patient_id"`
	Knowledge json.RawMessage `json:"knowledge"`
	KeepAlive json.RawMessage `json:"keep_alive"`
}

// present is true for any value but null and "".
func present(v json.RawMessage) bool {
	t := strings.TrimSpace(string(v))
	return t != "" && t != "null" && t != `""`
}

// checkFeatures reads the body (within the body limit), puts it back for the
// handler, and returns the first feature p lacks the scope for. Callers that
// hold every feature scope skip it, so admins pay nothing.
func (s *Server) checkFeatures(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	r.Body.Close()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &reqError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("request body exceeds the server's limit of %d bytes", mbe.Limit)}
		}
		return badRequest("reading the request body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	var f bodyFeatures
	if json.NewDecoder(bytes.NewReader(data)).Decode(&f) != nil {
		return nil // not a JSON object: the handler answers 400 and acts on nothing
	}
	if present(f.PatientID) {
		if sc := featureScope("patient_id"); !p.Has(sc) {
			return s.forbidden(p, sc, "patient_id")
		}
	}
	if present(f.Knowledge) {
		if sc := featureScope("knowledge"); !p.Has(sc) {
			return s.forbidden(p, sc, "knowledge")
		}
	}
	if present(f.KeepAlive) {
		var d api.Duration
		if json.Unmarshal(f.KeepAlive, &d) == nil {
			if ka := keepAlive(&d); ka != nil && *ka < 0 {
				if sc := featureScope("keep_alive<0"); !p.Has(sc) {
					return s.forbidden(p, sc, "keep_alive < 0 (pinning the model in memory)")
				}
			}
		}
	}
	return nil
}

// hostPolicy says which Host headers name this server. A browser sends the
// name it resolved, so a DNS-rebinding page (evil.example resolving to
// 127.0.0.1) arrives with Host: evil.example and is refused; IP literals
// cannot be rebound.
type hostPolicy struct {
	any   bool
	names map[string]bool // lower case, no port
	ips   []net.IP
}

// newHostPolicy accepts loopback (localhost, *.localhost, 127.0.0.0/8, ::1),
// the listen address's host, every local interface address when listening on
// all of them (0.0.0.0 or ::), and extra (--allowed-host; "*" for any).
// Names under 0.0.0.0 must be listed: the server cannot know which DNS names
// point at it, and guessing would let a rebinding name in.
func newHostPolicy(listen string, extra []string, ifaceAddrs func() ([]net.Addr, error)) hostPolicy {
	hp := hostPolicy{names: map[string]bool{}}
	add := func(h string) {
		h = normHost(h)
		if h == "" {
			return
		}
		if ip := net.ParseIP(h); ip != nil {
			hp.ips = append(hp.ips, ip)
		} else {
			hp.names[h] = true
		}
	}
	for _, h := range extra {
		if strings.TrimSpace(h) == "*" {
			hp.any = true
		}
		add(h)
	}
	host := listen
	if h, _, err := net.SplitHostPort(listen); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if addrs, err := ifaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					hp.ips = append(hp.ips, n.IP)
				}
			}
		}
	} else {
		add(host)
	}
	return hp
}

// normHost lower-cases a Host value and drops its port, brackets and a
// trailing dot ("LocalHost.:11435" is localhost).
func normHost(h string) string {
	h = strings.TrimSpace(h)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (hp hostPolicy) allowed(hostHeader string) bool {
	if hp.any {
		return true
	}
	h := normHost(hostHeader)
	if h == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || hp.names[h] {
		return true
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback() || slices.ContainsFunc(hp.ips, ip.Equal)
	}
	return false
}

// originAllowed: no Origin (curl, SDKs), an origin --cors-origin allows, or
// the same origin as the (already allowed) Host. A page elsewhere, and
// "null" (sandboxed frames, file://), are refused: a cross-site form POST
// carries its Origin in every current browser, and this check, not the
// content type, is what stops it ("curl -d" sends a form content type too).
func (s *Server) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		// Sec-Fetch-Site is set by browsers only; an unsafe cross-site
		// request without an Origin should not exist, so refuse it
		// (the approach of Go's http.CrossOriginProtection).
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return true
		}
		sfs := r.Header.Get("Sec-Fetch-Site")
		return sfs != "cross-site" && sfs != "same-site"
	}
	if s.corsAllows(o) {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func (s *Server) corsAllows(origin string) bool {
	return slices.Contains(s.cfg.CORSOrigins, "*") || slices.Contains(s.cfg.CORSOrigins, origin)
}

// bearerToken is the key in "Authorization: Bearer KEY" ("" without one).
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}
