package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dayi/assets"
	"dayi/auth"
)

// hostileClient is one kind of hostile traffic in TestLoadHostile. do runs
// one such client against hs and returns an error only when the server
// misbehaved (a 500, a hang, an answer that is not a clean refusal); the
// caller runs count of them beside the well-formed streams. To add a case
// from another branch (wrong Host/Origin, a missing scope, …) append a row.
type hostileClient struct {
	name  string
	count int
	do    func(ctx context.Context, hs *httptest.Server) error
}

// expectStatus sends one request and wants one of the statuses.
func expectStatus(method, path, body string, want []int, hdr ...string) func(context.Context, *httptest.Server) error {
	return func(ctx context.Context, hs *httptest.Server) error {
		req, err := http.NewRequestWithContext(ctx, method, hs.URL+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1] // net/http ignores a Host header field
				continue
			}
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if !slices.Contains(want, resp.StatusCode) {
			return fmt.Errorf("status %d, want one of %v: %.200s", resp.StatusCode, want, data)
		}
		return nil
	}
}

// rawClient writes body on a raw connection with a small receive buffer,
// then reads perSecond bytes a second (0: never) for hold, and hangs up.
func rawClient(body string, perSecond int, hold time.Duration) func(context.Context, *httptest.Server) error {
	return func(ctx context.Context, hs *httptest.Server) error {
		d := net.Dialer{Control: smallRcvBuf}
		c, err := d.DialContext(ctx, "tcp", hs.Listener.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /api/generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			hs.Listener.Addr(), len(body), body)
		end := time.Now().Add(hold)
		if perSecond == 0 {
			time.Sleep(hold)
			return nil
		}
		br := bufio.NewReaderSize(c, 16)
		for time.Now().Before(end) {
			c.SetReadDeadline(end)
			if _, err := br.ReadByte(); err != nil {
				return nil // the server hung up on a client this slow: fine
			}
			time.Sleep(time.Second / time.Duration(perSecond))
		}
		return nil
	}
}

// leaver reads one streamed chunk and disconnects.
func leaver(ctx context.Context, hs *httptest.Server) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body := `{"model":"dayi-tiny","prompt":"Once","raw":true,"options":{"num_predict":400}}`
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/api/generate", strings.NewReader(body))
	resp, err := hs.Client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 503 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	bufio.NewReader(resp.Body).ReadString('\n')
	return nil
}

var (
	badRequest4xx = []int{400}
	okOr400       = []int{200, 400}
)

// loadHostiles is the hostile traffic of the load test. The server runs
// with the anonymous scopes generate and admin (TestLoadHostile), so a
// request naming a patient is a missing scope.
var loadHostiles = []hostileClient{
	{"repeat_last_n 10^13 (finding 1)", 4, expectStatus("POST", "/api/generate",
		`{"model":"dayi-tiny","prompt":"hi","options":{"repeat_last_n":10000000000000}}`, badRequest4xx)},
	{"DNS-rebinding Host (finding 4)", 2, expectStatus("POST", "/api/generate", `{"model":"dayi-tiny","prompt":"hi"}`,
		[]int{403}, "Host", "attacker.example")},
	{"cross-site Origin (finding 4)", 2, expectStatus("POST", "/api/generate", `{"model":"dayi-tiny","prompt":"hi"}`,
		[]int{403}, "Origin", "https://attacker.example")},
	{"missing memory scope (finding 2)", 2, expectStatus("POST", "/api/generate",
		`{"model":"dayi-tiny","prompt":"hi","raw":true,"patient_id":"p-1"}`, []int{403})},
	{"bad JSON", 4, expectStatus("POST", "/api/generate", `{"model":"dayi-tiny","prompt":`, badRequest4xx)},
	{"wrong JSON types", 2, expectStatus("POST", "/api/chat", `{"model":"dayi-tiny","messages":"hi","options":{"top_k":"x"}}`, badRequest4xx)},
	{"body over the limit", 2, expectStatus("POST", "/api/generate", `{"model":"dayi-tiny","prompt":"`+strings.Repeat("a", 2<<20)+`"}`, []int{413})},
	// num_predict 2^40 is left out: the embedded model then runs to the end
	// of its context, seconds of honest work that would only slow the test.
	{"huge options", 4, expectStatus("POST", "/api/generate",
		`{"model":"dayi-tiny","prompt":"hi","stream":false,"options":{"num_predict":64,"top_k":1099511627776,"num_ctx":1099511627776,"repeat_last_n":1048576,"num_batch":1099511627776,"num_keep":-1099511627776}}`, okOr400)},
	{"huge temperature", 2, expectStatus("POST", "/v1/completions", `{"model":"dayi-tiny","prompt":"hi","temperature":1e30}`, badRequest4xx)},
	{"many stop strings", 2, expectStatus("POST", "/api/generate",
		`{"model":"dayi-tiny","prompt":"hi","stream":false,"options":{"num_predict":8,"stop":[`+strings.Repeat(`"xxxxxxxxxxxxxxxx",`, 2000)+`"y"]}}`, okOr400)},
	{"prompt over the context", 2, expectStatus("POST", "/api/generate", `{"model":"dayi-tiny","raw":true,"prompt":"`+strings.Repeat("word ", 4000)+`"}`, badRequest4xx)},
	{"token ids outside the vocabulary", 2, expectStatus("POST", "/api/generate", `{"model":"dayi-tiny","prompt":"x","raw":true,"context":[999999999,-5]}`, badRequest4xx)},
	{"bad format schema", 2, expectStatus("POST", "/api/chat", `{"model":"dayi-tiny","messages":[{"role":"user","content":"hi"}],"format":{"type":"nonsense"}}`, badRequest4xx)},
	{"unknown model", 2, expectStatus("POST", "/api/generate", `{"model":"no-such-model","prompt":"hi"}`, []int{404})},
	{"load-only of an unknown model", 2, expectStatus("POST", "/api/chat", `{"model":"../../etc/passwd"}`, []int{400, 404})},
	{"slow reader (1 byte/s)", 3, rawClient(`{"model":"dayi-tiny","prompt":"The little dog","raw":true,"options":{"num_predict":400}}`, 1, 8*time.Second)},
	{"never-reading client", 3, rawClient(`{"model":"dayi-tiny","prompt":"Lily","raw":true,"options":{"num_predict":400}}`, 0, 8*time.Second)},
	{"client leaving mid-stream", 4, leaver},
	// The server also serves alpha, beta and gamma under a memory budget
	// (see TestLoadHostile): loads and unloads (keep_alive 0) of them run
	// concurrently with everything else, and the budget's count must come
	// out exact. Eviction itself is TestFinding7_ModelMemoryBudget's.
	{"load and unload churn of other models", 6, func(ctx context.Context, hs *httptest.Server) error {
		for _, b := range []string{`{"model":"alpha"}`, `{"model":"beta","keep_alive":0}`, `{"model":"gamma"}`, `{"model":"alpha","keep_alive":0}`} {
			if err := expectStatus("POST", "/api/generate", b, []int{200, 503})(ctx, hs); err != nil {
				return fmt.Errorf("%s: %w", b, err)
			}
		}
		return nil
	}},
	{"embeddings on other models", 3, expectStatus("POST", "/api/embed", `{"model":"gamma","input":["a","b","c"]}`, []int{200, 503})},
}

// streamText runs one greedy streaming generation and returns its text.
// It reads the NDJSON stream itself: Ollama's client allocates 512 KiB per
// stream, which would dwarf the server's own heap in the budget check.
func streamText(ctx context.Context, hs *httptest.Server, prompt string, n int) (string, error) {
	body, _ := json.Marshal(map[string]any{"model": "dayi-tiny", "prompt": prompt, "raw": true, "options": greedy(n)})
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/api/generate", strings.NewReader(string(body)))
	resp, err := hs.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var b strings.Builder
	dec := json.NewDecoder(resp.Body)
	for {
		var ch struct {
			Response string `json:"response"`
			Done     bool   `json:"done"`
			Error    string `json:"error"`
		}
		if err := dec.Decode(&ch); err != nil {
			return b.String(), fmt.Errorf("stream ended before done: %w", err)
		}
		if ch.Error != "" {
			return b.String(), fmt.Errorf("stream error: %s", ch.Error)
		}
		b.WriteString(ch.Response)
		if ch.Done {
			return b.String(), nil
		}
	}
}

// peakRSS is VmHWM from /proc/self/status in bytes (0 where unknown).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}

// TestLoadHostile is issue 15's acceptance load test, on loopback: 32
// well-formed greedy streams of the embedded model run beside the hostile
// clients of loadHostiles. Every stream must complete with the text it gets
// alone, every hostile client must get a clean answer, the process must stay
// within its memory budget, and the server must answer normally afterwards
// with every slot and goroutine back. The budget: peak Go heap under
// 192 MiB and peak RSS (VmHWM, reset first) under 512 MiB for the whole test
// process, clients included; about 80 MiB of each was measured (32 KV
// caches are most of the heap), so the factor of two is GC and scheduling
// slack, not room for a leak. Bounded: 68 clients, a 60 s deadline, about
// 10 s on two cores.
func TestLoadHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	const streams, nPredict = 32, 48
	const heapBudget, rssBudget = 192 << 20, 512 << 20
	dir, fp := twoModels(t)
	os.WriteFile(filepath.Join(dir, "gamma.gguf"), assets.DefaultModel, 0o444)
	const maxActive = 16
	s, hs := smallBufServer(t, Config{Catalogue: dirCat(dir), MaxActive: maxActive, MaxQueued: 256, MaxBodyBytes: 1 << 20,
		SlowReaderTimeout: time.Second, WriteChunkTimeout: 5 * time.Second,
		// Room for all four models and a KV cache for every slot, so that
		// no stream can be refused for memory; the count is checked after.
		MaxModelMemory:  4*fp.Total() + maxActive*fp.KV,
		AnonymousScopes: []auth.Scope{auth.Generate, auth.Admin}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	subjects := []string{"cat", "dog", "bird", "girl", "boy", "tree", "ball", "car"}
	prompts := make([]string, streams)
	for i := range prompts {
		prompts[i] = fmt.Sprintf("Once upon a time there was a %s who %s", subjects[i%len(subjects)], []string{"ran", "sang", "slept", "jumped"}[i/len(subjects)])
	}
	gen := func(p string) (string, error) { return streamText(ctx, hs, p, nPredict) }
	if st, body, _ := post(t, hs, "/api/generate", map[string]any{"model": "dayi-tiny", "keep_alive": -1}); st != 200 {
		t.Fatalf("pinning dayi-tiny: %d %s", st, body)
	}
	solo := make([]string, streams)
	for i, p := range prompts {
		var err error
		if solo[i], err = gen(p); err != nil {
			t.Fatal(err)
		}
	}
	hs.Client().Transport.(*http.Transport).CloseIdleConnections()
	// Return what earlier tests in this binary freed (the image and vision
	// tests' buffers) to the OS, so the RSS peak measured below is this
	// load's, not a high-water mark the heap kept from before.
	debug.FreeOSMemory()
	baseG := runtime.NumGoroutine()
	rssChecked := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil // resets VmHWM
	t.Logf("RSS before the load %.1f MiB", float64(peakRSS())/(1<<20))

	var peakHeap atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(ms.HeapAlloc)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	got, errs := make([]string, streams), make([]error, streams)
	var hostileErrs sync.Map
	hostiles := 0
	for _, h := range loadHostiles {
		for k := range h.count {
			hostiles++
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.do(ctx, hs); err != nil {
					hostileErrs.Store(fmt.Sprintf("%s #%d", h.name, k), err)
				}
			}()
		}
	}
	t0 := time.Now()
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = gen(prompts[i])
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	t.Logf("%d streams beside %d hostile clients in %v", streams, hostiles, time.Since(t0).Round(time.Millisecond))
	for i := range streams {
		if errs[i] != nil {
			t.Errorf("stream %d: %v", i, errs[i])
		} else if got[i] != solo[i] {
			t.Errorf("stream %d: text differs from its solo text\n got %q\nwant %q", i, got[i], solo[i])
		}
	}
	hostileErrs.Range(func(k, v any) bool {
		t.Errorf("hostile client %s: %v", k, v)
		return true
	})

	if p := peakHeap.Load(); p > heapBudget {
		t.Errorf("peak Go heap %d MiB, budget %d MiB", p>>20, heapBudget>>20)
	} else {
		t.Logf("peak Go heap %.1f MiB (budget %d MiB)", float64(p)/(1<<20), heapBudget>>20)
	}
	if raceDetector {
		// The race detector's shadow memory is in the RSS: the plain
		// run (.ci/run runs both) checks this budget.
		rssChecked = false
	}
	if rss := peakRSS(); rssChecked && rss > rssBudget {
		t.Errorf("peak RSS %d MiB, budget %d MiB", rss>>20, rssBudget>>20)
	} else if rssChecked {
		t.Logf("peak RSS %.1f MiB (budget %d MiB)", float64(rss)/(1<<20), rssBudget>>20)
	}

	// The server still answers, and what the hostile clients held is back.
	if text, err := gen(prompts[0]); err != nil || text != solo[0] {
		t.Fatalf("after the load: %q, %v", text, err)
	}
	st, body, _ := post(t, hs, "/api/show", map[string]any{"model": "dayi-tiny"})
	if st != 200 {
		t.Fatalf("/api/show after the load: %d %s", st, body)
	}
	var ps struct {
		Models []json.RawMessage `json:"models"`
	}
	if resp, err := hs.Client().Get(hs.URL + "/api/ps"); err != nil {
		t.Fatal(err)
	} else {
		json.NewDecoder(resp.Body).Decode(&ps)
		resp.Body.Close()
	}
	if len(ps.Models) < 1 {
		t.Fatalf("/api/ps after the load lists %d models", len(ps.Models))
	}
	// The budget's count is exactly the loaded models' footprints: no
	// reservation of a refused, evicted or cancelled request leaked.
	s.reg.mu.Lock()
	var sum int64
	var names []string
	for _, l := range s.reg.loaded {
		sum += l.footprint
		names = append(names, l.src.Name)
	}
	used := s.reg.used
	s.reg.mu.Unlock()
	if used != sum || !slices.Contains(names, "dayi-tiny") {
		t.Fatalf("after the load: budget counts %d bytes, loaded models %v hold %d", used, names, sum)
	}
	t.Logf("loaded after the load: %v (%d bytes counted)", names, used)
	hs.Client().Transport.(*http.Transport).CloseIdleConnections()
	hs.CloseClientConnections()
	for _, m := range []string{"alpha", "beta", "gamma"} { // their schedulers' goroutines were not there before
		s.reg.unload(m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseG+4 || s.admit.active() != 0 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines %d before, %d after; %d slots held\n%s", baseG, runtime.NumGoroutine(), s.admit.active(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The slow and never-reading clients usually hold on past the stall
	// limit and are cancelled; on a slow host (the race detector, a loaded
	// CI machine) their generations may not fill the buffers before they
	// hang up, so the count is reported, not required: cancellation itself
	// is TestFinding6_SlowReaderDoesNotStallOthers's, and what this test
	// requires is that the others finished with their solo text.
	v := metricValue(t, hs, `dayi_slow_reader_cancelled_total{model="dayi-tiny"}`)
	t.Logf("slow readers cancelled: %v", max(v, 0))
}
