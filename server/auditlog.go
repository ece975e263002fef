package server

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"dayi/audit"
)

// errAuditDown is what a client gets when its request cannot be audited
// and the server fails closed.
var errAuditDown = errors.New("service unavailable: the audit log cannot be written; an operator must look (the server answers again once it can)")

// auditReady is the fail-closed check run before a route's handler: with an
// audit log that failed its last write (and still fails when retried) the
// request is refused with 503 before any work, so that no generation runs
// unaudited. It reports whether the handler may run.
func (s *Server) auditReady(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Audit == nil {
		return true
	}
	err := s.cfg.Audit.Ready()
	if err == nil {
		return true
	}
	s.log.Error("audit log unavailable", "id", info(r).id, "err", err)
	if s.cfg.AuditFailOpen {
		return true
	}
	w.Header().Set("Retry-After", "10")
	writeErr(w, r, http.StatusServiceUnavailable, errAuditDown)
	return false
}

// appendAudit writes one record and reports whether the request may be
// answered: false when the record could not be written and the server fails
// closed (the caller then answers 503).
func (s *Server) appendAudit(rec audit.Record) bool {
	if s.cfg.Audit == nil {
		return true
	}
	if err := s.cfg.Audit.Append(rec); err != nil {
		s.log.Error("audit log write failed", "id", rec.RequestID, "err", err)
		return s.cfg.AuditFailOpen
	}
	return true
}

func (s *Server) record(r *http.Request, ri *reqInfo, endpoint string, status int, d time.Duration) audit.Record {
	return audit.Record{RequestID: ri.id, Method: r.Method, Endpoint: endpoint, Model: ri.model,
		Backend: ri.backend, PromptTokens: ri.in, OutputTokens: ri.out, Client: r.RemoteAddr, KeyID: ri.keyID,
		Status: status, DurationMS: float64(d.Microseconds()) / 1000, PatientID: ri.patientID,
		Prompt: ri.prompt, Output: ri.output}
}

// streamingResponse reports whether the handler has begun a streamed
// response (newStreamer's content types), whose record is written when the
// stream ends, with its token counts.
func streamingResponse(h http.Header) bool {
	ct := h.Get("Content-Type")
	return strings.HasPrefix(ct, "application/x-ndjson") || strings.HasPrefix(ct, "text/event-stream")
}

// replaceWith503 answers errAuditDown on the real writer in place of the
// response the handler was about to send.
func replaceWith503(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Cache-Control", "X-Accel-Buffering"} {
		h.Del(k)
	}
	h.Set("Retry-After", "10")
	writeErr(w, r, http.StatusServiceUnavailable, errAuditDown)
}

// auditRefusal audits a request refused before it reached a route (no
// valid key: endpoint "unauthorized", 401; a refused Host or Origin, …)
// before the refusal goes out, and reports whether the refusal may be sent
// (false: the audit log failed and the server fails closed; 503 has been
// written).
//
// Such requests cost nothing to send, so each one must not cost an fsync'd
// record: per client (an IPv4 address, or an IPv6 /64) and kind, the first
// refusal in a minute is recorded at once and the rest of that minute's are
// counted and recorded as one record with a count when the minute is over.
func (s *Server) auditRefusal(w http.ResponseWriter, r *http.Request, ri *reqInfo, endpoint string, status int) bool {
	if s.cfg.Audit == nil {
		return true
	}
	first, flush := s.denied.hit(clientKey(r.RemoteAddr), endpoint, status)
	s.writeSummaries(flush)
	if !first {
		return true
	}
	rec := s.record(r, ri, endpoint, status, 0)
	if s.appendAudit(rec) {
		return true
	}
	replaceWith503(w, r)
	return false
}

// writeSummaries records the coalesced refusals of windows that ended.
func (s *Server) writeSummaries(recs []audit.Record) {
	for _, rec := range recs {
		s.appendAudit(rec) // failures are logged; the requests were answered long ago
	}
}

// clientKey is what 401s are coalesced by: the IP address without its port,
// and for IPv6 its /64, since one host usually owns a whole /64.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if len(host) > 64 {
			host = host[:64]
		}
		return host
	}
	if ip.To4() == nil {
		return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
	}
	return ip.String()
}

// deniedWindow is how long repeated refusals of one client share a record.
const deniedWindow = time.Minute

// deniedMax bounds the clients tracked at once. Beyond it new clients share
// one overflow entry, so an attacker with many addresses costs at most
// deniedMax+1 records a minute (plus their summaries) and bounded memory.
const deniedMax = 1024

// overflowClient names the shared entry in records.
const overflowClient = "(other clients: table full)"

// deniedTable counts refusals per client and kind within the current window.
type deniedTable struct {
	mu    sync.Mutex
	now   func() time.Time
	max   int
	m     map[string]*deniedEntry
	order []*deniedEntry // by window start: the expired ones are at the front
}

type deniedEntry struct {
	key        string // client, endpoint and status
	client     string
	endpoint   string
	status     int
	start      time.Time
	suppressed int // refusals after the first, not yet recorded
}

func newDeniedTable() *deniedTable {
	return &deniedTable{now: time.Now, max: deniedMax, m: map[string]*deniedEntry{}}
}

// hit counts one refusal of client (endpoint names the kind). first says
// it opens a window (record it now); flush holds summary records of windows
// that have ended.
func (t *deniedTable) hit(client, endpoint string, status int) (first bool, flush []audit.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	flush = t.expire(now)
	kind := " " + endpoint + " " + strconv.Itoa(status)
	key := client + kind
	if e, ok := t.m[key]; ok {
		e.suppressed++
		return false, flush
	}
	if len(t.m) >= t.max {
		client, key = overflowClient, overflowClient+kind
		if e, ok := t.m[key]; ok {
			e.suppressed++
			return false, flush
		}
	}
	e := &deniedEntry{key: key, client: client, endpoint: endpoint, status: status, start: now}
	t.m[key] = e
	t.order = append(t.order, e)
	return true, flush
}

// expire removes the entries whose window has ended, returning a summary
// record for each that counted refusals beyond the first.
func (t *deniedTable) expire(now time.Time) []audit.Record {
	var out []audit.Record
	i := 0
	for ; i < len(t.order) && now.Sub(t.order[i].start) >= deniedWindow; i++ {
		out = t.summary(out, t.order[i])
		delete(t.m, t.order[i].key)
		t.order[i] = nil
	}
	t.order = t.order[i:]
	return out
}

// drain empties the table (at shutdown), returning the pending summaries.
func (t *deniedTable) drain() []audit.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []audit.Record
	for _, e := range t.order {
		out = t.summary(out, e)
	}
	t.order, t.m = nil, map[string]*deniedEntry{}
	return out
}

func (t *deniedTable) summary(out []audit.Record, e *deniedEntry) []audit.Record {
	if e.suppressed == 0 {
		return out
	}
	return append(out, audit.Record{Endpoint: e.endpoint, Client: e.client, Status: e.status,
		Count: e.suppressed, DurationMS: float64(t.now().Sub(e.start).Microseconds()) / 1000})
}

// due returns the summaries of windows that have ended, so they reach the
// log without waiting for the next refusal.
func (t *deniedTable) due() []audit.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) == 0 {
		return nil
	}
	return t.expire(t.now())
}
