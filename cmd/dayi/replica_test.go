package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReplicasBehindNginx is issue 21's replica check: PostgreSQL, nginx on
// loopback with the streaming settings of docs/replicas.md, and two `dayi
// serve` replicas (this package built as a binary) sharing knowledge bases,
// patient memory and the audit log in one database, with one keys file.
// A document added through one replica is found through the other, a
// patient fact recorded through one is recalled through the other, the
// audit chain both wrote verifies, and SIGKILL of one replica while it
// streams loses nothing acknowledged: the client's retry through nginx
// succeeds on the survivor. Skipped without DAYI_TEST_PG or nginx.
func TestReplicasBehindNginx(t *testing.T) {
	dsn := os.Getenv("DAYI_TEST_PG")
	if dsn == "" {
		t.Skip("DAYI_TEST_PG (a PostgreSQL DSN) is not set; scripts/ci-postgres.sh starts a server")
	}
	nginx := os.Getenv("DAYI_TEST_NGINX")
	if nginx == "" {
		nginx, _ = exec.LookPath("nginx")
	}
	if nginx == "" {
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			nginx = "/usr/sbin/nginx"
		}
	}
	if nginx == "" {
		t.Skip("nginx is not installed (Debian: apt-get install nginx); DAYI_TEST_NGINX names the binary")
	}
	if testing.Short() {
		t.Skip("builds dayi and starts nginx and two servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	db := freshDatabase(t, ctx, dsn)

	bin := filepath.Join(dir, "dayi")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "home")
	env := append(os.Environ(), "DAYI_HOME="+home, "DAYI_API_KEYS=", "DAYI_KB_PG=", "DAYI_AUDIT_PG=")
	keysFile := filepath.Join(dir, "keys.json") // both replicas read this one file
	out, err := runBin(ctx, env, bin, "keys", "add", "--keys", keysFile, "--name", "ward", "--scope", "generate,kb:read,kb:write,memory", "--json")
	if err != nil {
		t.Fatalf("keys add: %v\n%s", err, out)
	}
	var made struct{ Key string }
	if err := json.Unmarshal(out, &made); err != nil || made.Key == "" {
		t.Fatalf("keys add printed %s", out)
	}
	key := made.Key

	// Two replicas: one keys file, and one DAYI_HOME for the audit and
	// memory keys (which every replica must share); everything else in
	// the database.
	ports := []int{freePort(t), freePort(t)}
	replicas := make([]*exec.Cmd, 2)
	start := func(i int) {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("replica%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		cmd := exec.Command(bin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", ports[i]), "--keys", keysFile,
			"--kb-pg", db, "--memory-pg", db, "--audit-pg", db, "--no-clinic", "--ollama-models", "-", "--threads", "2")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		replicas[i] = cmd
		t.Cleanup(func() { stopProcess(cmd, syscall.SIGTERM) })
		waitHTTP(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/", ports[i]), logf.Name())
	}
	start(0) // first alone: it creates the keys and tables
	start(1)
	proxy := startNginx(t, ctx, nginx, dir, ports)

	c := &client{t: t, key: key}
	a, b := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	acked := 0 // requests answered 200: each must be in the audit log

	// A document added through replica A is found through replica B.
	var rep struct{ Added []string }
	c.post(a+"/api/kb/wards/documents", `{"documents":[{"name":"penicillin.md","text":"# Penicillin allergy\n\nAsk about penicillin allergy and do a skin test before amoxicillin. 阿莫西林使用前需做青霉素皮试。\n"}]}`, &rep)
	acked++
	if len(rep.Added) != 1 {
		t.Fatalf("upload through A: %+v", rep)
	}
	var gen struct {
		Citations []struct {
			Source string `json:"source"`
		} `json:"citations"`
		PromptEvalCount int  `json:"prompt_eval_count"`
		Done            bool `json:"done"`
	}
	c.post(b+"/api/generate", `{"model":"dayi-tiny","prompt":"阿莫西林 皮试","knowledge":"wards","stream":false,"options":{"num_predict":4}}`, &gen)
	acked++
	if len(gen.Citations) != 1 || gen.Citations[0].Source != "penicillin.md" {
		t.Fatalf("document added through A not found through B: %+v", gen)
	}

	// A patient fact recorded through B is recalled through A: the
	// prompt grows by the recalled notes for that patient only.
	c.post(b+"/api/generate", `{"model":"dayi-tiny","prompt":"The patient is allergic to penicillin.","patient_id":"P-77","stream":false,"options":{"num_predict":4}}`, &gen)
	acked++
	promptFor := func(base, patient string) int {
		c.post(base+"/api/generate", fmt.Sprintf(`{"model":"dayi-tiny","prompt":"allergy?","patient_id":%q,"stream":false,"options":{"num_predict":1}}`, patient), &gen)
		acked++
		return gen.PromptEvalCount
	}
	if with, without := promptFor(a, "P-77"), promptFor(a, "P-78"); with <= without+5 {
		t.Fatalf("fact recorded through B not recalled through A: prompt %d tokens for the patient, %d for another", with, without)
	}

	// Streams through nginx land on both replicas (round robin); A is
	// killed while they run. Every stream either finishes or breaks, and a
	// broken one's retry through nginx succeeds on B.
	type stream struct {
		body   io.ReadCloser
		done   bool
		broken bool
	}
	streams := make([]*stream, 4)
	for i := range streams {
		resp := c.do(proxy+"/api/generate", fmt.Sprintf(`{"model":"dayi-tiny","prompt":"Once upon a time %d","stream":true,"options":{"num_predict":1500}}`, i))
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
		streams[i] = &stream{body: resp.Body}
	}
	readers := make([]*bufio.Reader, len(streams))
	for i, s := range streams {
		readers[i] = bufio.NewReader(s.body)
		if _, err := readers[i].ReadBytes('\n'); err != nil {
			t.Fatalf("stream %d: first chunk: %v", i, err)
		}
	}
	if err := replicas[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = replicas[0].Wait()
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.body.Close()
			for {
				line, err := readers[i].ReadBytes('\n')
				var chunk struct {
					Done  bool   `json:"done"`
					Error string `json:"error"`
				}
				if len(bytes.TrimSpace(line)) > 0 && json.Unmarshal(line, &chunk) == nil && chunk.Done && chunk.Error == "" {
					s.done = true
					return
				}
				if err != nil || chunk.Error != "" {
					s.broken = true
					return
				}
			}
		}()
	}
	wg.Wait()
	broken := 0
	for i, s := range streams {
		if s.done {
			acked++
			continue
		}
		broken++
		var res struct {
			Done      bool `json:"done"`
			EvalCount int  `json:"eval_count"`
		}
		var err error
		for try := 0; try < 3; try++ {
			if err = c.tryPost(proxy+"/api/generate", fmt.Sprintf(`{"model":"dayi-tiny","prompt":"Once upon a time %d","stream":false,"options":{"num_predict":50}}`, i), &res); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil || !res.Done || res.EvalCount == 0 {
			t.Errorf("stream %d broken by the kill; retry through nginx: %+v %v", i, res, err)
		}
		acked++
	}
	if broken == 0 {
		t.Fatalf("no stream was on the killed replica mid-stream (round robin should have put two there)")
	}

	// Nothing acknowledged is lost: the document and the fact, through
	// nginx, now only B.
	c.post(proxy+"/api/generate", `{"model":"dayi-tiny","prompt":"penicillin skin test","knowledge":"wards","stream":false,"options":{"num_predict":1}}`, &gen)
	acked++
	if len(gen.Citations) != 1 {
		t.Errorf("document lost after the kill: %+v", gen)
	}
	var files struct {
		Files []struct{ Source string } `json:"files"`
	}
	resp := c.do(proxy+"/api/kb/wards/files", "")
	if err := json.NewDecoder(resp.Body).Decode(&files); err != nil || len(files.Files) != 1 {
		t.Errorf("files after the kill: %+v %v", files, err)
	}
	resp.Body.Close()
	acked++
	if with, without := promptFor(proxy, "P-77"), promptFor(proxy, "P-78"); with <= without+5 {
		t.Errorf("patient fact lost after the kill: %d vs %d prompt tokens", with, without)
	}
	stopProcess(replicas[1], syscall.SIGTERM)

	// The one chain both replicas wrote verifies, and holds a record for
	// every acknowledged request.
	out, err = runBin(ctx, env, bin, "audit", "verify", "--pg", db, "--json")
	var vr struct {
		OK      bool   `json:"ok"`
		Records uint64 `json:"records"`
	}
	if jerr := json.Unmarshal(out, &vr); err != nil || jerr != nil || !vr.OK || vr.Records < uint64(acked) {
		t.Fatalf("audit verify --pg: %v %v %s (acknowledged %d requests)", err, jerr, out, acked)
	}
	t.Logf("%d acknowledged requests, %d audit records, %d streams broken by the kill and retried", acked, vr.Records, broken)
}

// client sends requests with the ward's key.
type client struct {
	t   *testing.T
	key string
}

func (c *client) do(u, body string) *http.Response {
	c.t.Helper()
	method := http.MethodPost
	if body == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	cl := &http.Client{Timeout: 60 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", u, err)
	}
	return resp
}

func (c *client) tryPost(u, body string, v any) error {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, data)
	}
	return json.Unmarshal(data, v)
}

func (c *client) post(u, body string, v any) {
	c.t.Helper()
	if err := c.tryPost(u, body, v); err != nil {
		c.t.Fatal(err)
	}
}

func runBin(ctx context.Context, env []string, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	return out, err
}

// freshDatabase creates a database for the test on the server of dsn and
// returns its DSN; it is dropped afterwards.
func freshDatabase(t *testing.T, ctx context.Context, dsn string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("dayi_replicas_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP waits until u answers, up to 60 s.
func waitHTTP(t *testing.T, ctx context.Context, u, logFile string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("%s did not answer in 60 s; its log:\n%s", u, log)
}

// stopProcess signals a process, and kills it if it has not exited in 10 s.
func stopProcess(cmd *exec.Cmd, sig os.Signal) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// startNginx runs nginx in the foreground on a loopback port in front of
// the replicas, with the configuration docs/replicas.md explains, and
// returns its URL.
func startNginx(t *testing.T, ctx context.Context, bin, dir string, ports []int) string {
	t.Helper()
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers write their temp files under the test's directory
	}
	var upstream strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&upstream, "\t\tserver 127.0.0.1:%d max_fails=1 fail_timeout=30s;\n", p)
	}
	conf := fmt.Sprintf(`%[1]s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	upstream dayi {
%[3]s		keepalive 16;
	}
	server {
		listen 127.0.0.1:%[4]d;
		client_max_body_size 32m;
		location / {
			proxy_pass http://dayi;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_buffering off;
			proxy_cache off;
			gzip off;
			proxy_connect_timeout 2s;
			proxy_send_timeout 600s;
			proxy_read_timeout 600s;
			proxy_next_upstream error timeout http_502 http_503;
			proxy_next_upstream_tries 2;
		}
	}
}
`, user, prefix, upstream.String(), port)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "error.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(cmd, syscall.SIGQUIT) })
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, ctx, u+"/", filepath.Join(prefix, "error.log"))
	return u
}
