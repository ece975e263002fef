package server

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// metrics are the Prometheus counters and histograms, written in the text
// exposition format by hand (no client library: the format is small and the
// binary stays dependency-light). Labels carry endpoint patterns, status
// codes and model names only, never request content.
type metrics struct {
	mu        sync.Mutex
	requests  map[[2]string]uint64 // endpoint, status
	tokensIn  map[string]uint64    // model
	tokensOut map[string]uint64
	latency   map[string]*histogram // endpoint
	ttft      map[string]*histogram // model: time to first token
	rejected  uint64
	slow      map[string]uint64 // model: requests cancelled because their client did not read
	evicted   map[string]uint64 // model: idle models unloaded to make room under the memory budget
	kv        kvCounters        // prefix cache and context shift (kvmetrics.go)
}

// latencyBuckets are seconds, from a fast /api/tags to a long generation.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

type histogram struct {
	counts []uint64 // per bucket, cumulative at write time
	sum    float64
	n      uint64
}

func (h *histogram) observe(v float64) {
	for i, b := range latencyBuckets {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += v
	h.n++
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, tokensIn: map[string]uint64{}, tokensOut: map[string]uint64{},
		latency: map[string]*histogram{}, ttft: map[string]*histogram{},
		slow: map[string]uint64{}, evicted: map[string]uint64{}, kv: newKVCounters()}
}

func (m *metrics) request(endpoint string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{endpoint, fmt.Sprint(status)}]++
	h := m.latency[endpoint]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.latency[endpoint] = h
	}
	h.observe(d.Seconds())
	if status == 503 {
		m.rejected++
	}
}

func (m *metrics) tokens(model string, in, out int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokensIn[model] += uint64(in)
	m.tokensOut[model] += uint64(out)
}

func (m *metrics) firstToken(model string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.ttft[model]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.ttft[model] = h
	}
	h.observe(d.Seconds())
}

// gauges are sampled at scrape time.
type gauges struct {
	active, queued int
	loaded         []string
	modelMemory    memoryGauge
}

func (m *metrics) write(w io.Writer, g gauges) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP dayi_requests_total HTTP requests by endpoint and status.")
	fmt.Fprintln(w, "# TYPE dayi_requests_total counter")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "dayi_requests_total{endpoint=%s,status=%q} %d\n", quote(k[0]), k[1], m.requests[k])
	}
	fmt.Fprintln(w, "# HELP dayi_requests_rejected_total Requests refused with 503 because the queue was full.")
	fmt.Fprintln(w, "# TYPE dayi_requests_rejected_total counter")
	fmt.Fprintf(w, "dayi_requests_rejected_total %d\n", m.rejected)
	writeCounter(w, "dayi_prompt_tokens_total", "Prompt tokens evaluated, by model.", m.tokensIn)
	writeCounter(w, "dayi_generated_tokens_total", "Tokens generated, by model.", m.tokensOut)
	writeHist(w, "dayi_request_duration_seconds", "Request latency by endpoint.", "endpoint", m.latency)
	writeHist(w, "dayi_time_to_first_token_seconds", "Time from admission to the first streamed text, by model.", "model", m.ttft)
	fmt.Fprintln(w, "# HELP dayi_requests_active Generations running now.")
	fmt.Fprintln(w, "# TYPE dayi_requests_active gauge")
	fmt.Fprintf(w, "dayi_requests_active %d\n", g.active)
	fmt.Fprintln(w, "# HELP dayi_queue_depth Generations waiting for a slot.")
	fmt.Fprintln(w, "# TYPE dayi_queue_depth gauge")
	fmt.Fprintf(w, "dayi_queue_depth %d\n", g.queued)
	fmt.Fprintln(w, "# HELP dayi_models_loaded Models in memory.")
	fmt.Fprintln(w, "# TYPE dayi_models_loaded gauge")
	fmt.Fprintf(w, "dayi_models_loaded %d\n", len(g.loaded))
	fmt.Fprintln(w, "# HELP dayi_model_loaded 1 for each model in memory.")
	fmt.Fprintln(w, "# TYPE dayi_model_loaded gauge")
	for _, n := range g.loaded {
		fmt.Fprintf(w, "dayi_model_loaded{model=%s} 1\n", quote(n))
	}
	m.writeResources(w, g.modelMemory)
	m.kv.write(w)
}

func writeCounter(w io.Writer, name, help string, m map[string]uint64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{model=%s} %d\n", name, quote(k), m[k])
	}
}

func writeHist(w io.Writer, name, help, label string, m map[string]*histogram) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := m[k]
		var cum uint64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "%s_bucket{%s=%s,le=\"%g\"} %d\n", name, label, quote(k), b, cum)
		}
		fmt.Fprintf(w, "%s_bucket{%s=%s,le=\"+Inf\"} %d\n", name, label, quote(k), h.n)
		fmt.Fprintf(w, "%s_sum{%s=%s} %g\n", name, label, quote(k), h.sum)
		fmt.Fprintf(w, "%s_count{%s=%s} %d\n", name, label, quote(k), h.n)
	}
}

// quote escapes a label value as the exposition format requires (backslash,
// double quote and newline).
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
