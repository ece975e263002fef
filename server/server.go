package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"dayi/audit"
	"dayi/auth"
	"dayi/engine"
	"dayi/weights"
)

// Config configures a Server. The zero value (plus defaults) serves the
// embedded model on loopback with no key.
type Config struct {
	Addr       string   // listen address; default 127.0.0.1:11435
	ModelPaths []string // single GGUF files, served under their file names
	// Catalogue is the model store (package store, adapted by cmd/dayi):
	// what /api/tags lists and /api/create, /api/copy and /api/delete
	// change. nil: only the embedded model and ModelPaths are served, and
	// create, copy and delete are refused.
	Catalogue Catalogue
	// ImportDirs are the only directories /api/create may read a GGUF file
	// from (besides models of the catalogue, by name). None: no file is read.
	ImportDirs []string
	// Projectors pairs models with vision projectors (mmproj GGUF files):
	// model name (as served, without ":latest") → file. They override what
	// the catalogue pairs (a sibling mmproj-*.gguf, an Ollama projector
	// layer). `dayi serve --mmproj` and --model siblings fill it.
	Projectors map[string]string

	Engine engine.Options
	// Open says how model files are brought into memory (--no-mmap,
	// --mlock); the zero value maps them.
	Open         weights.OpenOptions
	NewGenerator func(*engine.LM) Generator // nil: an engine.Scheduler (continuous batching) per model
	KeepAlive    time.Duration              // default 5m; < 0 never unload
	// DefaultTemplate is the chat template (by name) for chat requests to a
	// model whose GGUF has none, so chat clients still work (Ollama too
	// always has a template). Default "chatml"; "none" refuses such requests.
	DefaultTemplate string

	MaxActive       int   // generations at once (default 16)
	MaxQueued       int   // generations waiting for a slot (default 64)
	MaxBodyBytes    int64 // request body limit (default 8 MiB)
	MaxPromptTokens int   // 0: the model's context

	// StreamBuffer is how many text pieces each streaming request may have
	// waiting for its client (default 256); SlowReaderTimeout is how long
	// that buffer may stay full before the request is cancelled (default
	// 10s). Generation never waits for a client (issue 15, finding 6).
	StreamBuffer      int
	SlowReaderTimeout time.Duration
	// MaxModelMemory bounds the estimated memory of loaded models in bytes
	// (0: 80 % of the memory available at start; < 0: no limit). A load
	// that would exceed it evicts idle models, least recently used first,
	// or is refused with 503 (issue 15, finding 7).
	MaxModelMemory int64
	// NoCtxShift ends a generation that fills the context with
	// done_reason "length" instead of shifting the context (--no-ctx-shift;
	// per request: options.shift=false).
	NoCtxShift bool
	// Speculation turns on speculative decoding for every model loaded
	// (dayi serve --spec ngram / --draft FILE; registry.go). A model whose
	// vocabulary is not the draft's is served without it (logged).
	Speculation *engine.Speculation

	APIKeys     []string // Bearer keys with every scope (--api-key, DAYI_API_KEYS, --api-key-file)
	TLSCert     string
	TLSKey      string
	CORSOrigins []string // allowed origins ("*" for any); none: no CORS headers, and only same-origin browser requests

	// KeysFile is a keys file of scoped keys (package auth, `dayi keys`),
	// re-read when it changes. Empty: none; missing: no keys yet.
	KeysFile string
	// AllowedHosts are Host names accepted besides loopback and the listen
	// address ("*": any Host). See hostPolicy.
	AllowedHosts []string
	// AnonymousScopes are what a request without a key may do while no key
	// is configured. nil: generate and kb:read (patient data, clinic,
	// knowledge writes and administration need a key).
	AnonymousScopes []auth.Scope
	// InsecureNoKeys lets a server whose address is not loopback start with
	// no key configured; without it New refuses.
	InsecureNoKeys bool
	// RequireKeys refuses to start with no key configured and never serves
	// a caller without a key, even on loopback: behind a reverse proxy on
	// the same machine every client looks like loopback (--require-keys).
	RequireKeys bool

	ReadHeaderTimeout time.Duration // default 10s (slowloris)
	ReadTimeout       time.Duration // whole request body; default 60s
	WriteChunkTimeout time.Duration // per streamed chunk to a slow reader; default 60s
	IdleTimeout       time.Duration // default 120s

	Audit  *audit.Logger // nil: no audit log
	Logger *slog.Logger  // nil: slog.Default()

	// AuditFailOpen serves requests whose audit record cannot be written
	// (the failure is logged). Otherwise the server fails closed: 503.
	AuditFailOpen bool

	FallbackOllama string   // URL of an Ollama server for models dayi cannot run
	FallbackModels []string // names always sent to the fallback

	Knowledge Retriever // nil: requests naming a knowledge base get 400
	Memory    Memory    // nil: requests with patient_id get 400

	// Extra handlers (pattern → handler, e.g. "/api/clinic/") are mounted
	// behind the same auth, limits, audit and metrics.
	Extra map[string]http.Handler

	// WebUI is the clinicians' web app (package webui), served at /ui/
	// without a key (static files only: every call it makes carries the
	// user's key), behind the Host and Origin checks. A browser asking for
	// / (Accept: text/html) is redirected there; other clients still get
	// "Ollama is running". nil: no web app.
	WebUI http.Handler

	Version string
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:11435"
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 5 * time.Minute
	}
	if c.MaxActive <= 0 {
		c.MaxActive = 16
	}
	if c.MaxQueued < 0 {
		c.MaxQueued = 0
	} else if c.MaxQueued == 0 {
		c.MaxQueued = 64
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteChunkTimeout <= 0 {
		c.WriteChunkTimeout = 60 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = 256
	}
	if c.SlowReaderTimeout <= 0 {
		c.SlowReaderTimeout = 10 * time.Second
	}
	if c.MaxModelMemory == 0 {
		c.MaxModelMemory = defaultModelMemory()
	}
	if c.DefaultTemplate == "" {
		c.DefaultTemplate = "chatml"
	}
	if c.Version == "" {
		c.Version = "0.0.0"
	}
}

// Server is the HTTP API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reg      *registry
	admit    *admission
	pixels   *byteBudget // decoded image memory of the requests in flight (images.go)
	metrics  *metrics
	fallback *fallback
	keys     *auth.Source
	anon     []auth.Scope // scopes of a caller without a key while no key is configured
	hosts    hostPolicy
	patterns []string // every registered route pattern (the access table must cover them)
	handler  http.Handler
	denied   *deniedTable // pre-route refusals (401s) coalesced per client for the audit log
}

// New builds a server from cfg.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), denied: newDeniedTable()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.reg = newRegistry(&s.cfg, s.log)
	s.reg.onEvict = s.metrics.eviction
	s.admit = newAdmission(cfg.MaxActive, cfg.MaxQueued)
	s.pixels = newByteBudget(maxDecodedImageBytes)
	keys, err := auth.NewSource(cfg.KeysFile, cfg.APIKeys)
	if err != nil {
		return nil, err
	}
	keys.OnError = func(err error) {
		s.log.Error("keys file changed but cannot be loaded; the previous keys stay in force", "err", err)
	}
	s.keys = keys
	s.anon = defaultAnonymous()
	if cfg.AnonymousScopes != nil {
		s.anon = slices.Clone(cfg.AnonymousScopes)
	}
	for _, h := range cfg.AllowedHosts {
		if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/ \t@?#") {
			return nil, fmt.Errorf("--allowed-host %q: give a host name or address as in a URL's host (no scheme or path), or *", h)
		}
	}
	s.hosts = newHostPolicy(cfg.Addr, cfg.AllowedHosts, net.InterfaceAddrs)
	if err := checkRequireKeys(&cfg, keys.Keyring().Len()); err != nil {
		return nil, err
	}
	if (!isLoopbackAddr(cfg.Addr) && !cfg.InsecureNoKeys) || cfg.RequireKeys {
		// Reachable from the network (or told to act so): should every key
		// be removed while it runs, callers get nothing rather than an open
		// server.
		s.anon = nil
	}
	if !isLoopbackAddr(cfg.Addr) && keys.Keyring().Len() == 0 && !cfg.InsecureNoKeys {
		return nil, fmt.Errorf("listening on %s, beyond loopback, with no API key: make one with "+
			"'dayi keys add --name NAME --scope generate' (or pass --api-key-file), or accept an open server with --insecure-no-keys", cfg.Addr)
	}
	if cfg.FallbackOllama != "" {
		fb, err := newFallback(cfg.FallbackOllama, cfg.FallbackModels)
		if err != nil {
			return nil, err
		}
		s.fallback = fb
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the whole API with its middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// Close unloads idle models and records the coalesced refusals still pending.
func (s *Server) Close() {
	s.reg.unload("")
	s.writeSummaries(s.denied.drain())
}

// HTTPServer returns an http.Server with the configured timeouts: slow
// clients cannot hold a connection open by trickling headers or a body.
// Responses have no overall write timeout (a generation may stream for
// minutes); each streamed chunk has its own deadline instead.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.Addr,
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// Serve serves on ln (TLS when a certificate is configured) until ctx ends,
// then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer()
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- hs.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := hs.Shutdown(sctx)
		s.Close()
		return err
	}
}

// reqInfo is what a handler reports for metrics and the audit log.
type reqInfo struct {
	id        string
	model     string
	backend   string
	prompt    string // only kept when content auditing is on
	output    string
	patientID string
	in, out   int
	keyID     string
}

type infoKey struct{}

func info(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// statusWriter records the status code, and runs beforeHeader once, just
// before the status line goes out, so the audit record of a response is
// written before the client sees it.
type statusWriter struct {
	http.ResponseWriter
	status int
	// beforeHeader, when set, sees the final status first; returning
	// false means it has answered on the underlying writer instead, and
	// the handler's header and body are dropped.
	beforeHeader func(code int) bool
	headerOut    bool
	dropped      bool
}

// errDropped is what a handler's writes return once its response was
// replaced (the audit log could not be written).
var errDropped = errors.New("response replaced: audit log unavailable")

func (w *statusWriter) WriteHeader(code int) {
	if w.dropped {
		return
	}
	if w.status == 0 {
		w.status = code
	}
	if !w.headerOut && code >= 200 {
		w.headerOut = true
		if w.beforeHeader != nil && !w.beforeHeader(code) {
			w.dropped = true
			w.status = http.StatusServiceUnavailable
			return
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.headerOut {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropped {
		return 0, errDropped
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if !w.headerOut {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropped {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn http.HandlerFunc) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, s.instrument(pattern, fn))
	}
	s.patterns = append(s.patterns, "GET /{$}", "HEAD /{$}")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.WebUI != nil && wantsHTML(r) {
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		// Clients (and Ollama's own CLI) probe the root for this exact text.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Ollama is running"))
	})
	mux.HandleFunc("HEAD /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	})
	h("POST /api/generate", s.handleGenerate)
	h("POST /api/chat", s.handleChat)
	h("POST /api/embed", s.handleEmbed)
	h("POST /api/embeddings", s.handleEmbeddings)
	h("GET /api/tags", s.handleTags)
	h("POST /api/show", s.handleShow)
	h("GET /api/ps", s.handlePs)
	h("GET /api/version", s.handleVersion)
	h("POST /api/copy", s.handleCopy)
	h("DELETE /api/delete", s.handleDelete)
	h("POST /api/create", s.withSlot(s.handleCreate)) // creating reads and writes a whole model
	h("POST /api/pull", s.handlePull)
	h("POST /v1/chat/completions", s.handleOAChat)
	h("POST /v1/completions", s.handleOACompletions)
	h("POST /v1/embeddings", s.handleOAEmbeddings)
	h("POST /v1/rerank", s.handleRerank) // llama.cpp server's, Jina's and Cohere's shape
	h("POST /api/rerank", s.handleRerank)
	h("GET /v1/models", s.handleOAModels)
	h("GET /v1/models/{model...}", s.handleOAModel)
	h("GET /metrics", s.handleMetrics)
	if s.cfg.WebUI != nil {
		// Not instrumented: static files are neither metrics nor audit records.
		s.patterns = append(s.patterns, "GET /ui/")
		mux.Handle("GET /ui/", s.cfg.WebUI)
	}
	for pattern, handler := range s.cfg.Extra {
		if _, known := routeScope(pattern); !known {
			s.log.Warn("route not in the access table: it needs the admin scope", "pattern", pattern)
		}
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, s.instrument(pattern, handler.ServeHTTP))
	}
	return s.outer(mux)
}

// outer applies, in order: the request id, the Host check (DNS
// rebinding), the Origin check (cross-site requests) and CORS (preflights
// answered before auth), authentication (401), authorization by the access
// table and the body's features (403), and the body limit.
func (s *Server) outer(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &reqInfo{id: r.Header.Get("X-Request-Id")}
		if ri.id == "" || len(ri.id) > 64 {
			var b [12]byte
			rand.Read(b[:])
			ri.id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", ri.id)
		// refuse answers a request stopped before its route: audited first
		// (coalesced per client and kind, so a flood costs one record a
		// minute), 503 instead if the audit log cannot be written.
		refuse := func(status int, endpoint string, err error) {
			if !s.auditRefusal(w, r, ri, endpoint, status) {
				s.metrics.request(endpoint, http.StatusServiceUnavailable, 0)
				return
			}
			writeErr(w, r, status, err)
			s.metrics.request(endpoint, status, 0)
		}
		if !s.hosts.allowed(r.Host) {
			h := normHost(r.Host)
			if len(h) > 253 { // longer than any DNS name: do not echo it all back
				h = h[:253] + "…"
			}
			refuse(http.StatusForbidden, "forbidden_host", fmt.Errorf("host %q is not allowed: this server answers to loopback names, "+
				"its listen address and the names given with --allowed-host", h))
			return
		}
		if !s.originAllowed(r) {
			refuse(http.StatusForbidden, "forbidden_origin", errors.New("cross-origin request refused: allow the page's origin with --cors-origin"))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && s.corsAllows(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Vary", "Origin")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE, HEAD, OPTIONS")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		kr := s.keys.Keyring()
		p := auth.Principal{Scopes: s.anon}
		if kr.Len() > 0 {
			var ok bool
			if p, ok = kr.Lookup(bearerToken(r)); !ok {
				if openRoute(mux, r) {
					p = auth.Principal{} // the health probe and the web app's static files stay open
				} else {
					w.Header().Set("WWW-Authenticate", `Bearer realm="dayi"`)
					refuse(http.StatusUnauthorized, "unauthorized", errors.New("unauthorized: missing or invalid API key (Authorization: Bearer KEY)"))
					return
				}
			}
			ri.keyID = p.Name
		}
		if _, pattern := mux.Handler(r); pattern != "" {
			if scope, _ := routeScope(pattern); scope != "" && !p.Has(scope) {
				refuse(http.StatusForbidden, "forbidden", s.forbidden(p, scope, pattern))
				return
			}
			if !(p.Has(auth.Memory) && p.Has(auth.KBRead) && p.Has(auth.Admin)) {
				if err := s.checkFeatures(w, r, p); err != nil {
					endpoint := "forbidden"
					if st := statusOf(err); st != http.StatusForbidden {
						endpoint = "bad_request"
					}
					refuse(statusOf(err), endpoint, err)
					return
				}
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		ctx := context.WithValue(context.WithValue(r.Context(), infoKey{}, ri), principalKey{}, p)
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isLoopbackAddr reports whether a listen address only accepts local
// connections (127.0.0.0/8, ::1, localhost).
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// instrument wraps a route with metrics, the request log line and the audit
// record. None of them sees request or response bodies.
//
// The audit record is written before the response's status line goes out
// (statusWriter.beforeHeader), so a request is on record before its client
// learns the outcome; if it cannot be written the client gets 503 instead
// (fail closed, unless AuditFailOpen). Streamed responses are recorded when
// the stream ends, with their token counts; Ready, checked before the
// handler runs, keeps a generation from starting while the log is failing.
func (s *Server) instrument(pattern string, next http.HandlerFunc) http.Handler {
	endpoint := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		endpoint = p
	}
	audited := endpoint != "/metrics" && s.cfg.Audit != nil
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		recorded := false
		if audited {
			if !s.auditReady(w, r) {
				s.metrics.request(endpoint, http.StatusServiceUnavailable, time.Since(start))
				return
			}
			sw.beforeHeader = func(code int) bool {
				if code < 400 && streamingResponse(w.Header()) {
					return true // recorded at the end of the stream
				}
				recorded = true
				if s.appendAudit(s.record(r, info(r), endpoint, code, time.Since(start))) {
					return true
				}
				replaceWith503(w, r)
				return false
			}
		}
		next(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		ri := info(r)
		s.metrics.request(endpoint, sw.status, d)
		if ri.backend != "" { // a model that exists: request-chosen names never become labels
			s.metrics.tokens(ri.model, ri.in, ri.out)
		}
		s.log.Info("request", "id", ri.id, "method", r.Method, "endpoint", endpoint, "model", ri.model,
			"status", sw.status, "prompt_tokens", ri.in, "output_tokens", ri.out, "ms", d.Milliseconds())
		if audited {
			if !recorded {
				s.auditRecord(sw, r, ri, endpoint, sw.status, d)
			}
			s.writeSummaries(s.denied.due())
		}
	})
}

// auditRecord writes the record of a request whose status line went out
// without one (a stream, or a client gone) or never went out (the handler
// wrote nothing: then a failed record still turns the answer into 503).
func (s *Server) auditRecord(sw *statusWriter, r *http.Request, ri *reqInfo, endpoint string, status int, d time.Duration) {
	if s.appendAudit(s.record(r, ri, endpoint, status, d)) || sw.headerOut {
		return
	}
	sw.headerOut, sw.dropped, sw.status = true, true, http.StatusServiceUnavailable
	replaceWith503(sw.ResponseWriter, r)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, l := range s.reg.running() {
		names = append(names, l.src.Name)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, gauges{active: s.admit.active(), queued: s.admit.queued(), loaded: names, modelMemory: s.reg.memory()})
}
