package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/audit"
	"dayi/engine"
)

// bearer adds an API key to every request of Ollama's client (which has no
// option for one).
type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}

func TestAPIKeys(t *testing.T) {
	_, hs := testServer(t, Config{APIKeys: []string{"k-ward-7", "k-icu-2"}})
	for _, c := range []struct {
		hdr  string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic k-ward-7", 401}, {"Bearer k-ward-7", 200}, {"Bearer k-icu-2", 200}} {
		req, _ := http.NewRequest("GET", hs.URL+"/api/tags", nil)
		if c.hdr != "" {
			req.Header.Set("Authorization", c.hdr)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Authorization %q: status %d, want %d", c.hdr, resp.StatusCode, c.want)
		}
	}
	// OpenAI clients get OpenAI's error shape.
	st, body, _ := post(t, hs, "/v1/chat/completions", `{}`)
	var oe openaiErr
	if st != 401 || json.Unmarshal(body, &oe) != nil || oe.Error.Type != "authentication_error" {
		t.Fatalf("401 body %s", body)
	}
	// The root health probe stays open.
	resp, err := hs.Client().Head(hs.URL + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD /: %v %v", resp, err)
	}
	// Ollama's client with the key works.
	u := hs.URL
	hc := &http.Client{Transport: bearer{key: "k-icu-2", base: hs.Client().Transport}}
	c := api.NewClient(mustURL(t, u), hc)
	if _, err := c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// selfSigned writes a fresh self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dayi test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serveReal runs the server through Serve (real timeouts, TLS) on loopback.
func serveReal(t *testing.T, cfg Config) (addr string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	addr := serveReal(t, Config{TLSCert: cert, TLSKey: key, APIKeys: []string{"secret"}})
	hc := &http.Client{Transport: bearer{key: "secret", base: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	c := api.NewClient(mustURL(t, "https://"+addr), hc)
	stream := false
	var out string
	if err := c.Generate(context.Background(), &api.GenerateRequest{Model: "dayi-tiny", Prompt: "Once upon a time", Raw: true,
		Stream: &stream, Options: greedy(4)}, func(r api.GenerateResponse) error { out = r.Response; return nil }); err != nil {
		t.Fatal(err)
	}
	if out == "" {
		t.Fatal("empty generation over TLS")
	}
	// Plain HTTP to the TLS port fails.
	resp, err := http.Get("http://" + addr + "/api/tags")
	if err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP accepted on the TLS listener")
	}
}

func TestBodyAndPromptLimits(t *testing.T) {
	_, hs := testServer(t, Config{MaxBodyBytes: 4096, MaxPromptTokens: 32})
	big := `{"model":"dayi-tiny","prompt":"` + strings.Repeat("a", 8000) + `"}`
	st, body, _ := post(t, hs, "/api/generate", big)
	if st != 413 || !strings.Contains(string(body), "4096") {
		t.Fatalf("huge body: %d %s", st, body)
	}
	long := map[string]any{"model": "dayi-tiny", "prompt": strings.Repeat("the cat sat. ", 40), "raw": true}
	st, body, _ = post(t, hs, "/api/generate", long)
	if st != 400 || !strings.Contains(string(body), "limit is 32") {
		t.Fatalf("long prompt: %d %s", st, body)
	}
	for _, b := range []string{``, `{`, `[1,2]`, `{"model":"dayi-tiny","options":{"temperature":"hot"}}`, `{"model":5}`, `{"model":"dayi-tiny","prompt":"x","format":{"type":"nope"}}`} {
		st, body, _ = post(t, hs, "/api/generate", b)
		if st != 400 {
			t.Errorf("body %q: %d %s", b, st, body)
		}
	}
	st, body, _ = post(t, hs, "/v1/chat/completions", `{"model":"dayi-tiny","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`)
	if st != 400 || !strings.Contains(string(body), "image_url") || !strings.Contains(string(body), `"type":"invalid_request_error"`) {
		t.Fatalf("image part: %d %s", st, body)
	}
}

// TestSlowloris checks that a client trickling its headers is cut off after
// the header timeout instead of holding the connection.
func TestSlowloris(t *testing.T) {
	addr := serveReal(t, Config{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "POST /api/generate HTTP/1.1\r\nHost: x\r\n")
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			if d > 2*time.Second {
				t.Fatalf("slow client held the connection for %v", d)
			}
			return
		case <-tick.C:
			io.WriteString(conn, "X-Slow: 1\r\n") // one header line at a time, never finishing
			if time.Since(start) > 5*time.Second {
				t.Fatal("slow client never disconnected")
			}
		}
	}
}

// TestNoPromptInLogsMetricsOrAudit captures the server's slog output (debug
// level), its metrics and its audit log over successful, failing and
// streaming requests and checks the prompt and output texts appear in none.
func TestNoPromptInLogsMetricsOrAudit(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(syncWriter{&logs, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	al, path, key := openTestAudit(t, false)
	_, hs := testServer(t, Config{Logger: lg, Audit: al, APIKeys: []string{"key1"}, MaxPromptTokens: 80})
	const secret = "Patient Zhuang Xiaoming MRN 99887766 has chest pain"
	auth := []string{"Authorization", "Bearer key1"}
	var outputs []string
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/api/generate", map[string]any{"model": "dayi-tiny", "prompt": secret, "raw": true, "options": greedy(8), "stream": false}},
		{"/api/chat", map[string]any{"model": "dayi-tiny", "messages": []map[string]string{{"role": "user", "content": secret}}, "options": greedy(8)}},
		{"/v1/chat/completions", map[string]any{"model": "dayi-tiny", "messages": []map[string]string{{"role": "user", "content": secret}}, "max_tokens": 8, "stream": true}},
		{"/api/generate", map[string]any{"model": "dayi-tiny", "prompt": strings.Repeat(secret+" ", 10), "raw": true}}, // too long: 400
		{"/api/generate", map[string]any{"model": "no-such-model", "prompt": secret}},                                  // 404
		{"/api/embed", map[string]any{"model": "dayi-tiny", "input": secret}},
	} {
		st, body, _ := post(t, hs, c.path, c.body, auth...)
		if st >= 500 {
			t.Fatalf("%s: %d %s", c.path, st, body)
		}
		if c.path == "/api/generate" && st == 200 {
			var r generateChunk
			json.Unmarshal(body, &r)
			outputs = append(outputs, r.Response)
		}
	}
	req, _ := http.NewRequest("GET", hs.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer key1")
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	auditData, _ := os.ReadFile(path)
	mu.Lock()
	logText := logs.String()
	mu.Unlock()
	for name, text := range map[string]string{"logs": logText, "metrics": string(metrics), "audit": string(auditData)} {
		for _, needle := range append([]string{"Zhuang", "99887766", "chest pain"}, outputs...) {
			if needle != "" && strings.Contains(text, needle) {
				t.Errorf("%s contain %q:\n%s", name, needle, text)
			}
		}
	}
	if !strings.Contains(logText, "endpoint=/api/chat") || !strings.Contains(string(metrics), `dayi_requests_total{endpoint="/api/generate",status="400"} 1`) {
		t.Errorf("logs or metrics missing the requests:\n%s\n%s", logText, metrics)
	}
	for _, m := range []string{"dayi_generated_tokens_total{model=\"dayi-tiny\"} 24", "dayi_queue_depth 0", "dayi_models_loaded 1",
		"dayi_request_duration_seconds_bucket{endpoint=\"/api/chat\",le=\"+Inf\"} 1", "dayi_time_to_first_token_seconds_count"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("metrics lack %q:\n%s", m, metrics)
		}
	}
	// The audit log has one verified record per request, with the key id and
	// token counts but not the key.
	st, err := audit.VerifyFile(path, key)
	if err != nil || st.Records != 6 {
		t.Fatalf("audit: %d records, %v\n%s", st.Records, err, auditData)
	}
	if strings.Contains(string(auditData), "key1") || !strings.Contains(string(auditData), `"output_tokens":8`) {
		t.Fatalf("audit content:\n%s", auditData)
	}
}

type syncWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestAuditContentRedacted: with content auditing, prompts are kept but PHI
// is not.
func TestAuditContentRedacted(t *testing.T) {
	al, path, _ := openTestAudit(t, true)
	_, hs := testServer(t, Config{Audit: al})
	st, body, _ := post(t, hs, "/api/chat", map[string]any{"model": "dayi-tiny", "stream": false, "options": greedy(4),
		"messages": []map[string]string{{"role": "user", "content": "Mrs Eleanor Rigby, phone 13912345678, DOB 1950-02-03: dizziness"}}})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	data, _ := os.ReadFile(path)
	for _, leak := range []string{"Eleanor", "13912345678", "1950-02-03"} {
		if strings.Contains(string(data), leak) {
			t.Errorf("audit holds %q:\n%s", leak, data)
		}
	}
	if !strings.Contains(string(data), "dizziness") {
		t.Errorf("audit lost the redacted prompt:\n%s", data)
	}
}

func TestCORS(t *testing.T) {
	_, closed := testServer(t, Config{})
	req, _ := http.NewRequest("GET", closed.URL+"/api/tags", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, _ := closed.Client().Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS headers sent with no origin configured")
	}
	_, open := testServer(t, Config{CORSOrigins: []string{"https://ward.hospital.local"}, APIKeys: []string{"k"}})
	req, _ = http.NewRequest("OPTIONS", open.URL+"/api/chat", nil)
	req.Header.Set("Origin", "https://ward.hospital.local")
	resp, _ = open.Client().Do(req)
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://ward.hospital.local" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = open.Client().Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed an unlisted origin")
	}
}

// blockGen blocks every generation until released, to fill the queue.
type blockGen struct {
	started chan struct{}
	release chan struct{}
	done    chan error
}

func (g *blockGen) Generate(ctx context.Context, req *engine.Request, onText func(string) error) (*engine.Result, error) {
	g.started <- struct{}{}
	select {
	case <-g.release:
		return &engine.Result{Text: "ok", DoneReason: "stop"}, nil
	case <-ctx.Done():
		g.done <- ctx.Err()
		return nil, ctx.Err()
	}
}

func TestQueueFull503(t *testing.T) {
	g := &blockGen{started: make(chan struct{}, 4), release: make(chan struct{}), done: make(chan error, 4)}
	_, hs := testServer(t, Config{MaxActive: 1, MaxQueued: 1, NewGenerator: func(*engine.LM) Generator { return g }})
	body := map[string]any{"model": "dayi-tiny", "prompt": "x", "stream": false}
	results := make(chan int, 2)
	go func() { st, _, _ := post(t, hs, "/api/generate", body); results <- st }()
	<-g.started
	go func() { st, _, _ := post(t, hs, "/api/generate", body); results <- st }() // waits in the queue
	time.Sleep(100 * time.Millisecond)
	st, resp, hdr := post(t, hs, "/v1/completions", map[string]any{"model": "dayi-tiny", "prompt": "x"})
	if st != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(string(resp), "busy") {
		t.Fatalf("third request: %d %s %v", st, resp, hdr)
	}
	close(g.release)
	<-g.started
	if a, b := <-results, <-results; a != 200 || b != 200 {
		t.Fatalf("queued requests: %d %d", a, b)
	}
}

// TestDisconnectCancels checks a client that goes away cancels its
// generation.
func TestDisconnectCancels(t *testing.T) {
	g := &blockGen{started: make(chan struct{}, 1), release: make(chan struct{}), done: make(chan error, 1)}
	_, hs := testServer(t, Config{NewGenerator: func(*engine.LM) Generator { return g }})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-g.started
		cancel()
	}()
	c := ollamaClient(t, hs)
	err := c.Chat(ctx, &api.ChatRequest{Model: "dayi-tiny", Messages: []api.Message{{Role: "user", Content: "hi"}}}, func(api.ChatResponse) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v", err)
	}
	select {
	case err := <-g.done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("generation ended with %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("generation not cancelled after the client left")
	}
}

// TestDisconnectStopsRealGeneration: with the real engine, a client that
// reads two chunks and leaves stops the generation long before num_predict.
func TestDisconnectStopsRealGeneration(t *testing.T) {
	rec := &recorder{}
	s, hs := testServer(t, Config{NewGenerator: rec.hook()})
	body, _ := json.Marshal(map[string]any{"model": "dayi-tiny", "prompt": "Once", "raw": true, "options": greedy(400)})
	req, _ := http.NewRequest("POST", hs.URL+"/api/generate", bytes.NewReader(body))
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Scan()
	sc.Scan()
	resp.Body.Close()
	// The request is done once instrumentation has counted it.
	done := func() (bool, uint64) {
		s.metrics.mu.Lock()
		defer s.metrics.mu.Unlock()
		n := uint64(0)
		for k, v := range s.metrics.requests {
			if k[0] == "/api/generate" {
				n += v
			}
		}
		return n == 1, s.metrics.tokensOut["dayi-tiny"]
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		ok, v := done()
		if ok {
			if v >= 400 {
				t.Fatalf("generated %d tokens for a client that left", v)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("generation still running after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
