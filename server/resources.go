package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"

	"dayi/engine"
)

// This file holds the server's bounds on shared resources (issue 15,
// findings 6 and 7): the model memory budget and its eviction, and the
// accounting of requests cancelled because their client stopped reading.

// defaultModelMemory is 80 % of the memory available when the server starts
// (MemAvailable on Linux: what can be allocated without swapping), or no
// limit where that cannot be read.
func defaultModelMemory() int64 {
	if avail := memAvailable(); avail > 0 {
		return avail / 10 * 8
	}
	return -1
}

// AvailableMemory is the memory that can be allocated now without swapping
// (0 where it cannot be read): --max-model-memory's percentages use it.
func AvailableMemory() int64 { return memAvailable() }

// memAvailable reads MemAvailable from /proc/meminfo; 0 where there is none
// (other systems): the budget is then off unless --max-model-memory sets it.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil && kb > 0 {
				return kb * 1024
			}
		}
	}
	return 0
}

// memoryGauge is the budget's state for /metrics.
type memoryGauge struct {
	budget, used int64
}

func (m *metrics) slowReader(model string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slow[model]++
}

func (m *metrics) eviction(model string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evicted[model]++
}

// writeResources is called by write with m.mu held.
func (m *metrics) writeResources(w io.Writer, g memoryGauge) {
	writeCounter(w, "dayi_slow_reader_cancelled_total", "Requests cancelled because their client did not read the response, by model.", m.slow)
	writeCounter(w, "dayi_model_evictions_total", "Idle models unloaded to make room under the model memory budget, by model.", m.evicted)
	fmt.Fprintln(w, "# HELP dayi_model_memory_bytes Estimated memory of the loaded models (weights and one KV cache each).")
	fmt.Fprintln(w, "# TYPE dayi_model_memory_bytes gauge")
	fmt.Fprintf(w, "dayi_model_memory_bytes %d\n", g.used)
	fmt.Fprintln(w, "# HELP dayi_model_memory_budget_bytes The model memory budget (-1: none).")
	fmt.Fprintln(w, "# TYPE dayi_model_memory_budget_bytes gauge")
	fmt.Fprintf(w, "dayi_model_memory_budget_bytes %d\n", g.budget)
}

// slowReader turns the scheduler's ErrSlowReader into a logged, counted
// cancellation. The client is not reading, so nothing more is written to it
// (status 499, as for a client that left); the log line says why, and names
// no prompt or patient.
func (s *Server) slowReader(ri *reqInfo, err error) error {
	if !errors.Is(err, engine.ErrSlowReader) {
		return err
	}
	s.metrics.slowReader(ri.model)
	s.log.Warn("request cancelled: client not reading", "id", ri.id, "model", ri.model,
		"buffer_pieces", s.cfg.StreamBuffer, "timeout", s.cfg.SlowReaderTimeout.String())
	return &reqError{status: 499, msg: err.Error()}
}

// withSlot runs next holding a generation slot, for work that is not a
// generation but loads or writes a model (/api/create): it counts against
// the same limit, so a burst of it cannot exhaust memory either.
func (s *Server) withSlot(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		release, err := s.admit.acquire(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer release()
		next(w, r)
	}
}

// errModelMemory is the 503 for a load the budget cannot hold. It says how
// much the model needs and how much is free, and counts (never names) the
// models that could not be evicted.
func errModelMemory(what string, need, budget, used int64, busy, pinned int) error {
	msg := fmt.Sprintf("not enough model memory %s: it needs about %s, %s of the %s budget is free",
		what, mib(need), mib(max(budget-used, 0)), mib(budget))
	if busy+pinned > 0 {
		msg += fmt.Sprintf(" (%d loaded models are in use and %d are pinned by keep_alive < 0; none can be unloaded now)", busy, pinned)
	}
	if need > budget {
		msg += "; raise --max-model-memory or use a smaller context (--ctx)"
	}
	return &reqError{status: http.StatusServiceUnavailable, msg: msg}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// logMemory reports a budget decision without request content.
func logMemory(log *slog.Logger, msg, model string, need, used, budget int64) {
	log.Info(msg, "model", model, "need_mib", need>>20, "used_mib", used>>20, "budget_mib", budget>>20)
}

// reserve counts need bytes against the model memory budget for a load of
// name. When they do not fit it unloads idle models, least recently used
// first; models in use (refs > 0) and models pinned by keep_alive < 0 are
// never evicted. If the model still does not fit, the load is refused with
// a 503 that says how much it needs and how much is free.
func (r *registry) reserve(ctx context.Context, name string, need int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	evicted, err := r.makeRoomLocked(name, need, "to load "+name)
	if err == nil {
		r.used += need
	}
	r.mu.Unlock()
	r.afterEviction(evicted)
	return err
}

// session counts one more KV cache of l against the budget for a request
// beyond its first (the load's footprint holds one), evicting idle models
// as a load does: each concurrent request on a model allocates a KV cache
// for the model's whole context. The returned func ends the session.
func (r *registry) session(l *loaded) (func(), error) {
	r.mu.Lock()
	evicted := 0
	if l.sessions > 0 && r.cfg.MaxModelMemory >= 0 {
		var err error
		if evicted, err = r.makeRoomLocked(l.src.Name, l.kv, "for another concurrent request on "+l.src.Name); err != nil {
			r.mu.Unlock()
			r.afterEviction(evicted)
			return nil, err
		}
		r.used += l.kv
	}
	l.sessions++
	r.mu.Unlock()
	r.afterEviction(evicted)
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			l.sessions--
			if l.sessions > 0 && r.cfg.MaxModelMemory >= 0 {
				r.used -= l.kv
			}
		})
	}, nil
}

// makeRoomLocked evicts idle, unpinned models (least recently used first)
// until need more bytes fit the budget, and returns how many it evicted, or
// the 503 saying why they cannot fit (what says what the bytes are for).
func (r *registry) makeRoomLocked(name string, need int64, what string) (int, error) {
	budget := r.cfg.MaxModelMemory
	if budget < 0 {
		return 0, nil
	}
	evicted := 0
	for r.used+need > budget {
		var victim *loaded
		for _, l := range r.loaded {
			if l.refs > 0 || l.pinned() {
				continue
			}
			if victim == nil || l.lastUsed.Before(victim.lastUsed) {
				victim = l
			}
		}
		if victim == nil || need > budget {
			busy, pinned := 0, 0
			for _, l := range r.loaded {
				switch {
				case l.refs > 0:
					busy++
				case l.pinned():
					pinned++
				}
			}
			logMemory(r.log, "refused: over the model memory budget", name, need, r.used, budget)
			return evicted, errModelMemory(what, need, budget, r.used, busy, pinned)
		}
		logMemory(r.log, "evicting an idle model for the memory budget", victim.src.Name, victim.footprint, r.used, budget)
		r.unloadLocked(victim)
		if r.onEvict != nil {
			r.onEvict(victim.src.Name)
		}
		evicted++
	}
	return evicted, nil
}

// afterEviction collects garbage once models were evicted: their private
// weights are freed by a cleanup that runs after they are collected, and
// the memory is wanted now.
func (r *registry) afterEviction(evicted int) {
	if evicted > 0 {
		runtime.GC()
	}
}

// pinned reports a model kept loaded by keep_alive < 0 (not evictable).
func (l *loaded) pinned() bool { return l.keepAlive < 0 }

// memory is the budget's state for /metrics.
func (r *registry) memory() memoryGauge {
	r.mu.Lock()
	defer r.mu.Unlock()
	return memoryGauge{budget: r.cfg.MaxModelMemory, used: r.used}
}
