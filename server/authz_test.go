package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dayi/auth"
)

// authServer is testServer without its all-scope anonymous caller: the
// access rules exactly as `dayi serve` applies them.
func authServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs
}

// keysFile writes a keys file with one key per name (scopes given) and
// returns its path and the keys.
func keysFile(t *testing.T, scopes map[string][]auth.Scope) (string, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), auth.FileName)
	kf := &auth.File{}
	keys := map[string]string{}
	for name, sc := range scopes {
		k, err := kf.Add(name, sc, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
	}
	if err := auth.Save(path, kf); err != nil {
		t.Fatal(err)
	}
	return path, keys
}

// do sends a request with optional headers ("Host" sets the Host header).
func do(t *testing.T, hs *httptest.Server, method, path, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, hs.URL+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

// secretMemory holds one patient's history and counts every access.
type secretMemory struct {
	mu      sync.Mutex
	recalls int
	records []string
}

const hivNote = "HIV positive on ART since 2019."

func (m *secretMemory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recalls++
	return hivNote, nil
}

func (m *secretMemory) Record(ctx context.Context, patientID string, t Turn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records = append(m.records, patientID)
	return nil
}

func (m *secretMemory) counts() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recalls, len(m.records)
}

// extraProbe stands in for a handler mounted through Config.Extra (the
// clinic workflows): it records that it ran and the key name outer set.
type extraProbe struct {
	mu    sync.Mutex
	calls int
	keyID string
}

func (e *extraProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.calls++
	e.keyID = info(r).keyID
	e.mu.Unlock()
	io.Copy(io.Discard, r.Body)
	writeJSON(w, 200, map[string]bool{"saved": true})
}

func (e *extraProbe) get() (int, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls, e.keyID
}

// Finding 2: any caller read and wrote any patient's memory. With raw: true
// the recalled notes went into the prompt and came back in `context`.
func TestFinding2_PatientMemoryNeedsScope(t *testing.T) {
	path, keys := keysFile(t, map[string][]auth.Scope{
		"desk":   {auth.Generate},
		"clinic": {auth.Generate, auth.Clinic},
		"nurse":  {auth.Generate, auth.Memory, auth.Clinic},
	})
	mem := &secretMemory{}
	rec := &recorder{}
	probe := &extraProbe{}
	_, hs := authServer(t, Config{KeysFile: path, Memory: mem, NewGenerator: rec.hook(),
		Extra: map[string]http.Handler{"/api/clinic/": probe}})
	gen := `{"model":"dayi-tiny","prompt":"hi","raw":true,"stream":false,"options":{"num_predict":2},"patient_id":"p-9"}`
	for _, c := range []struct{ path, body string }{
		{"/api/generate", gen},
		{"/api/generate", strings.Replace(gen, `"patient_id"`, `"PATIENT_ID"`, 1)}, // encoding/json matches names case-insensitively
		{"/api/generate", strings.Replace(gen, `"patient_id":"p-9"`, `"patient_id":"","patient_id":"p-9"`, 1)},
		{"/api/generate", strings.Replace(gen, `"p-9"`, `9`, 1)},
		{"/api/chat", `{"model":"dayi-tiny","stream":false,"patient_id":"p-9","messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/chat/completions", `{"model":"dayi-tiny","patient_id":"p-9","messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/completions", `{"model":"dayi-tiny","patient_id":"p-9","prompt":"hi"}`},
	} {
		st, body, _ := do(t, hs, "POST", c.path, c.body, "Authorization", "Bearer "+keys["desk"])
		if st != 403 || !strings.Contains(body, `\"memory\" scope`) || !strings.Contains(body, `\"desk\"`) || strings.Contains(body, "HIV") {
			t.Errorf("%s %s: %d %s", c.path, c.body, st, body)
		}
		if strings.HasPrefix(c.path, "/v1/") {
			var oe openaiErr
			if json.Unmarshal([]byte(body), &oe) != nil || !strings.Contains(oe.Error.Message, "memory") {
				t.Errorf("%s: not OpenAI's error shape: %s", c.path, body)
			}
		}
	}
	// A clinic workflow saving to a patient's memory needs memory too, and
	// the handler never runs.
	st, body, _ := do(t, hs, "POST", "/api/clinic/followup", `{"patient_id":"p-9","summary":"x"}`, "Authorization", "Bearer "+keys["clinic"])
	if n, _ := probe.get(); st != 403 || n != 0 || !strings.Contains(body, "memory") {
		t.Fatalf("clinic followup with patient_id: %d %s (handler ran %d times)", st, body, n)
	}
	if recalls, records := mem.counts(); recalls != 0 || records != 0 || rec.last() != "" {
		t.Fatalf("without the scope: %d recalls, %d records, prompt %q", recalls, records, rec.last())
	}
	// Without a patient the clinic key works, and the audit names the key.
	st, _, _ = do(t, hs, "POST", "/api/clinic/followup", `{"summary":"x"}`, "Authorization", "Bearer "+keys["clinic"])
	if n, keyID := probe.get(); st != 200 || n != 1 || keyID != "clinic" {
		t.Fatalf("clinic followup: %d, handler ran %d times, key id %q", st, n, keyID)
	}

	// With the scope the same request works: the memory reaches the prompt
	// and one turn is recorded (so the checks above can fail).
	st, body, _ = do(t, hs, "POST", "/api/generate", gen, "Authorization", "Bearer "+keys["nurse"])
	if st != 200 {
		t.Fatalf("nurse: %d %s", st, body)
	}
	if recalls, records := mem.counts(); recalls != 1 || records != 1 || !strings.Contains(rec.last(), hivNote) {
		t.Fatalf("nurse: %d recalls, %d records, prompt %q", recalls, records, rec.last())
	}

	// With no key configured at all, patient_id is refused and the error
	// says how to make a key.
	mem2 := &secretMemory{}
	_, open := authServer(t, Config{Memory: mem2})
	st, body, _ = do(t, open, "POST", "/api/generate", gen)
	if recalls, records := mem2.counts(); st != 403 || recalls+records != 0 || !strings.Contains(body, "dayi keys add --name NAME --scope memory") {
		t.Fatalf("no keys: %d %s (%d recalls, %d records)", st, body, recalls, records)
	}
}

// The handler-level check refuses a patient_id even if a route reached
// run without outer's body check.
func TestRunRequiresMemoryScope(t *testing.T) {
	mem := &secretMemory{}
	s, _ := authServer(t, Config{Memory: mem})
	r := httptest.NewRequest("POST", "/api/generate", nil)
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, auth.Principal{Name: "desk", Scopes: []auth.Scope{auth.Generate}}))
	_, err := s.run(r.Context(), r, &job{model: "dayi-tiny", prompt: "hi", patientID: "p-9", defaults: ollamaDefaults()}, func(string) error { return nil })
	if statusOf(err) != 403 || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("run: %v", err)
	}
	if recalls, records := mem.counts(); recalls+records != 0 {
		t.Fatalf("%d recalls, %d records", recalls, records)
	}
}

// Finding 4: a web page reached the loopback server by DNS rebinding or a
// cross-site POST (the class of Ollama's CVE-2024-28224).
func TestFinding4_HostAndOrigin(t *testing.T) {
	rec := &recorder{}
	_, hs := authServer(t, Config{NewGenerator: rec.hook(), CORSOrigins: []string{"https://ward.hospital.local"},
		AllowedHosts: []string{"dayi.hospital.local"}})
	gen := `{"model":"dayi-tiny","prompt":"hi","stream":false,"options":{"num_predict":1}}`
	self := strings.TrimPrefix(hs.URL, "http://")
	refused := []struct {
		name string
		hdr  []string
	}{
		{"DNS rebinding", []string{"Host", "evil.example:11435"}},
		{"rebinding name for a loopback IP", []string{"Host", "127.0.0.1.nip.io"}},
		{"other IP", []string{"Host", "10.66.66.66"}},
		{"cross-site form POST", []string{"Origin", "https://evil.example", "Content-Type", "application/x-www-form-urlencoded"}},
		{"cross-site simple POST", []string{"Origin", "https://evil.example", "Content-Type", "text/plain"}},
		{"cross-site JSON POST", []string{"Origin", "http://evil.example"}},
		{"opaque origin", []string{"Origin", "null"}},
		{"other port on localhost", []string{"Origin", "http://localhost:3000"}},
		{"browser without Origin", []string{"Sec-Fetch-Site", "cross-site"}},
	}
	for _, c := range refused {
		st, body, _ := do(t, hs, "POST", "/api/generate", gen, c.hdr...)
		if st != 403 || !strings.Contains(body, "error") {
			t.Errorf("%s: %d %s", c.name, st, body)
		}
	}
	if rec.last() != "" {
		t.Fatal("a refused request reached the model")
	}
	allowed := []struct {
		name string
		hdr  []string
	}{
		{"curl -d (form content type, no Origin)", []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"curl -d without any content type", []string{"Content-Type", ""}},
		{"localhost", []string{"Host", "localhost:11435"}},
		{"LOCALHOST.", []string{"Host", "LOCALHOST."}},
		{"*.localhost", []string{"Host", "app.localhost"}},
		{"127.0.0.2", []string{"Host", "127.0.0.2:80"}},
		{"[::1]", []string{"Host", "[::1]:11435"}},
		{"--allowed-host", []string{"Host", "dayi.hospital.local:11435"}},
		{"same origin", []string{"Origin", "http://" + self, "Sec-Fetch-Site", "same-origin"}},
		{"--cors-origin", []string{"Origin", "https://ward.hospital.local", "Sec-Fetch-Site", "cross-site"}},
	}
	for _, c := range allowed {
		st, body, h := do(t, hs, "POST", "/api/generate", gen, c.hdr...)
		if st != 200 {
			t.Errorf("%s: %d %s", c.name, st, body)
		}
		if c.name == "--cors-origin" && h.Get("Access-Control-Allow-Origin") != "https://ward.hospital.local" {
			t.Errorf("--cors-origin: no CORS header: %v", h)
		}
	}
	// A preflight from a page not allowed is refused too.
	if st, _, h := do(t, hs, "OPTIONS", "/api/chat", "", "Origin", "https://evil.example"); st != 403 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %v", st, h)
	}
	// --allowed-host '*' accepts any Host.
	_, anyHost := authServer(t, Config{AllowedHosts: []string{"*"}})
	if st, body, _ := do(t, anyHost, "GET", "/api/tags", "", "Host", "evil.example"); st != 200 {
		t.Errorf("--allowed-host '*': %d %s", st, body)
	}
}

// Listening on every interface accepts the machine's own addresses but no
// DNS name unless it is listed.
func TestHostPolicyAllInterfaces(t *testing.T) {
	ifaces := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("10.1.2.3"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)}}, nil
	}
	for _, listen := range []string{"0.0.0.0:11435", "[::]:11435", ":11435"} {
		hp := newHostPolicy(listen, []string{"Ward7.Hospital.Local"}, ifaces)
		for host, want := range map[string]bool{
			"10.1.2.3:11435": true, "[fe80::1]:11435": true, "127.0.0.1": true, "localhost": true,
			"ward7.hospital.local": true, "WARD7.hospital.local.:11435": true,
			"10.1.2.4": false, "evil.example": false, "hospital.local": false, "ward7.hospital.local.evil.example": false,
		} {
			if hp.allowed(host) != want {
				t.Errorf("listen %s, Host %q: allowed=%v, want %v", listen, host, !want, want)
			}
		}
	}
	hp := newHostPolicy("10.1.2.3:11435", nil, ifaces)
	if !hp.allowed("10.1.2.3") || hp.allowed("10.1.2.4") || !hp.allowed("[::1]") {
		t.Error("listen on one address")
	}
	if hp := newHostPolicy("dayi.ward:11435", nil, ifaces); !hp.allowed("dayi.ward:11435") || hp.allowed("10.1.2.3") {
		t.Error("listen on a name")
	}
	for _, bad := range []string{"http://ward7.hospital.local", "ward7/x", "", "a b"} {
		_, err := New(Config{AllowedHosts: []string{bad}})
		if err == nil || !strings.Contains(err.Error(), "--allowed-host") {
			t.Errorf("--allowed-host %q: %v", bad, err)
		}
	}
}

func TestUnauthorizedVsForbidden(t *testing.T) {
	path, keys := keysFile(t, map[string][]auth.Scope{"desk": {auth.Generate}, "clinic-only": {auth.Clinic}})
	_, hs := authServer(t, Config{KeysFile: path, APIKeys: []string{"legacy-all-scopes"}})

	// No key, or a wrong one: 401 in each API's shape.
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer dayi_wrong"}, {"Authorization", "Basic " + keys["desk"]}} {
		st, body, h := do(t, hs, "GET", "/api/tags", "", hdr...)
		var oe ollamaErr
		if st != 401 || h.Get("WWW-Authenticate") == "" || json.Unmarshal([]byte(body), &oe) != nil || !strings.Contains(oe.Error, "API key") {
			t.Errorf("%v: %d %s", hdr, st, body)
		}
	}
	st, body, _ := do(t, hs, "GET", "/v1/models", "")
	var oe openaiErr
	if st != 401 || json.Unmarshal([]byte(body), &oe) != nil || oe.Error.Type != "authentication_error" {
		t.Errorf("/v1 401: %d %s", st, body)
	}

	// A key without the scope: 403 naming the key and the scope.
	st, body, _ = do(t, hs, "GET", "/api/ps", "", "Authorization", "Bearer "+keys["desk"])
	var ole ollamaErr
	if st != 403 || json.Unmarshal([]byte(body), &ole) != nil || !strings.Contains(ole.Error, `"admin" scope`) || !strings.Contains(ole.Error, `"desk"`) {
		t.Errorf("ps with desk: %d %s", st, body)
	}
	st, body, _ = do(t, hs, "GET", "/v1/models", "", "Authorization", "bearer "+keys["clinic-only"])
	oe = openaiErr{}
	if st != 403 || json.Unmarshal([]byte(body), &oe) != nil || !strings.Contains(oe.Error.Message, `"generate" scope`) {
		t.Errorf("/v1/models with clinic-only: %d %s", st, body)
	}
	for _, c := range []struct {
		method, path, body, key string
		want                    int
	}{
		{"GET", "/api/tags", "", "desk", 200},
		{"GET", "/metrics", "", "desk", 403},
		{"POST", "/api/copy", `{"source":"dayi-tiny","destination":"x"}`, "desk", 403},
		{"DELETE", "/api/delete", `{"model":"x"}`, "desk", 403},
		{"POST", "/api/create", `{"model":"x","from":"/etc/shadow"}`, "desk", 403},
		{"POST", "/api/pull", `{"model":"x"}`, "desk", 403},
		{"GET", "/api/ps", "", "legacy-all-scopes", 200},
		{"GET", "/metrics", "", "legacy-all-scopes", 200},
	} {
		key := keys[c.key]
		if key == "" {
			key = c.key
		}
		if st, body, _ := do(t, hs, c.method, c.path, c.body, "Authorization", "Bearer "+key); st != c.want {
			t.Errorf("%s %s with %s: %d %s, want %d", c.method, c.path, c.key, st, body, c.want)
		}
	}
	// The health probe stays open.
	if st, _, _ := do(t, hs, "GET", "/", ""); st != 200 {
		t.Errorf("GET /: %d", st)
	}
}

// With no key configured generation works on loopback as with Ollama, but
// patient data, clinic workflows and administration answer 403 saying how to
// make a key; beyond loopback the server does not start at all.
func TestNoKeysLoopbackRules(t *testing.T) {
	probe := &extraProbe{}
	_, hs := authServer(t, Config{Extra: map[string]http.Handler{"/api/clinic/": probe}, Knowledge: &fakeKB{}})
	gen := `{"model":"dayi-tiny","prompt":"hi","stream":false,"options":{"num_predict":1}}`
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/generate", gen},
		{"POST", "/api/generate", strings.Replace(gen, `"hi"`, `"hi","knowledge":"guidelines"`, 1)},
		{"GET", "/api/tags", ""},
		{"GET", "/v1/models", ""},
		{"GET", "/api/version", ""},
	} {
		if st, body, _ := do(t, hs, c.method, c.path, c.body); st != 200 {
			t.Errorf("%s %s: %d %s", c.method, c.path, st, body)
		}
	}
	for _, c := range []struct{ method, path, body, scope string }{
		{"GET", "/api/ps", "", "admin"},
		{"GET", "/metrics", "", "admin"},
		{"POST", "/api/create", `{"model":"x","from":"dayi-tiny"}`, "admin"},
		{"POST", "/api/copy", `{"source":"dayi-tiny","destination":"x"}`, "admin"},
		{"DELETE", "/api/delete", `{"model":"x"}`, "admin"},
		{"POST", "/api/clinic/triage", `{"complaint":"chest pain"}`, "clinic"},
		{"POST", "/api/generate", strings.Replace(gen, `"hi"`, `"hi","keep_alive":-1`, 1), "admin"},
	} {
		st, body, _ := do(t, hs, c.method, c.path, c.body)
		if st != 403 || !strings.Contains(body, "dayi keys add --name NAME --scope "+c.scope) {
			t.Errorf("%s %s: %d %s", c.method, c.path, st, body)
		}
	}
	if n, _ := probe.get(); n != 0 {
		t.Fatal("the clinic handler ran without a key")
	}

	cfg := Config{Addr: "0.0.0.0:11435", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "dayi keys add") || !strings.Contains(err.Error(), "--insecure-no-keys") {
		t.Fatalf("open server beyond loopback: %v", err)
	}
	for _, ok := range []Config{{InsecureNoKeys: true}, {APIKeys: []string{"k"}}} {
		ok.Addr, ok.Logger = cfg.Addr, cfg.Logger
		if _, err := New(ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	if _, err := New(Config{Addr: "localhost:0", Logger: cfg.Logger}); err != nil {
		t.Errorf("localhost: %v", err)
	}

	// A network server started with keys serves nobody without one, even
	// once every key is removed while it runs.
	path, _ := keysFile(t, map[string][]auth.Scope{"ops": {auth.Admin}})
	s, err := New(Config{Addr: "0.0.0.0:11435", KeysFile: path, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Save(path, &auth.File{}); err != nil {
		t.Fatal(err)
	}
	s.keys.Interval = 0
	rr := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/tags", nil)
	req.Host = "127.0.0.1"
	s.Handler().ServeHTTP(rr, req)
	if rr.Code != 403 || !strings.Contains(rr.Body.String(), "dayi keys add") {
		t.Fatalf("network server after the last key is removed: %d %s", rr.Code, rr.Body)
	}
}

// keep_alive < 0 pins a model in memory forever: admin only.
func TestKeepAliveForeverNeedsAdmin(t *testing.T) {
	path, keys := keysFile(t, map[string][]auth.Scope{"desk": {auth.Generate}, "ops": {auth.Generate, auth.Admin}})
	_, hs := authServer(t, Config{KeysFile: path})
	for _, c := range []struct {
		path, body, key string
		want            int
	}{
		{"/api/generate", `{"model":"dayi-tiny","keep_alive":-1}`, "desk", 403},
		{"/api/generate", `{"model":"dayi-tiny","keep_alive":"-5m"}`, "desk", 403},
		{"/api/generate", `{"model":"dayi-tiny","keep_alive":"2000000h"}`, "desk", 403}, // past MaxInt64/2: the server treats it as forever
		{"/api/chat", `{"model":"dayi-tiny","keep_alive":-1}`, "desk", 403},
		{"/api/embed", `{"model":"dayi-tiny","input":"x","keep_alive":-1}`, "desk", 403},
		{"/api/embeddings", `{"model":"dayi-tiny","prompt":"x","KEEP_ALIVE":-1}`, "desk", 403},
		{"/api/generate", `{"model":"dayi-tiny","keep_alive":"5m"}`, "desk", 200},
		{"/api/generate", `{"model":"dayi-tiny","keep_alive":0}`, "desk", 200},
		{"/api/generate", `{"model":"dayi-tiny","keep_alive":-1}`, "ops", 200},
	} {
		st, body, _ := do(t, hs, "POST", c.path, c.body, "Authorization", "Bearer "+keys[c.key])
		if st != c.want || (st == 403 && !strings.Contains(body, `\"admin\" scope`)) {
			t.Errorf("%s %s as %s: %d %s, want %d", c.path, c.body, c.key, st, body, c.want)
		}
	}
}

// Every registered route has its own row in the access table (a missing row
// would silently mean admin-only).
func TestAccessTableCoversRoutes(t *testing.T) {
	s, _ := authServer(t, Config{Extra: map[string]http.Handler{"/api/clinic/": &extraProbe{}}})
	if len(s.patterns) < 20 {
		t.Fatalf("only %d patterns recorded", len(s.patterns))
	}
	for _, p := range s.patterns {
		if _, known := routeScope(p); !known {
			t.Errorf("route %q has no row in accessTable", p)
		}
	}
	if sc, known := routeScope("POST /api/secret-new-thing"); known || sc != auth.Admin {
		t.Errorf("unknown route: %q %v", sc, known)
	}
}

// The body check answers an oversized body with 413 before reading past the
// limit, like the handlers' own decoding.
func TestFeatureCheckBodyLimit(t *testing.T) {
	_, hs := authServer(t, Config{MaxBodyBytes: 1024})
	st, body, _ := do(t, hs, "POST", "/api/generate", `{"model":"dayi-tiny","prompt":"`+strings.Repeat("a", 4096)+`"}`)
	if st != 413 || !strings.Contains(body, "1024") {
		t.Fatalf("%d %s", st, body)
	}
}
