// Package kernels holds dayi's CPU compute kernels: quantized matrix-vector and
// matrix-matrix products over raw GGUF weight blocks, and attention over a KV
// cache. Numerics follow ggml-cpu (llama.cpp v0.5.0) so that dayi's logits match
// llama.cpp's: activations are quantized to the weight type's ggml
// "vec_dot_type" with the same rounding as ggml's x86 SIMD quantizers, integer
// parts of dot products are exact, and float parts use a fixed, documented
// accumulation order (see dot.go) that every SIMD variant reproduces bit for bit.
package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// task is work split by Pool.run; implementations are pool-owned structs so
// that dispatching them allocates nothing.
type task interface {
	run(lo, hi, worker int)
}

// funcTask adapts a plain closure (Pool.For) to task.
type funcTask struct{ fn func(lo, hi int) }

func (f *funcTask) run(lo, hi, _ int) { f.fn(lo, hi) }

type span struct{ lo, hi int }

// Pool is a persistent set of worker goroutines plus per-worker scratch
// memory. A decode step runs ~100 small operations, so starting goroutines
// or sleeping on a futex per operation (microseconds each) would dominate:
// workers are started once, spin briefly on an atomic generation counter for
// the next operation and only then park on a channel. A Pool serialises its
// operations: concurrent calls are safe but do not run in parallel with each
// other.
type Pool struct {
	mu      sync.Mutex // held for a whole operation
	threads int
	ws      []poolWorker // helper workers (threads-1); the caller is worker 0
	pending atomic.Int32 // helpers still running the current operation
	waiting atomic.Bool  // the caller parked on done
	done    chan struct{}
	cur     task
	ft      funcTask
	closed  bool
	stop    atomic.Bool

	// Scratch owned by the pool and reused across calls (grown on demand).
	act     []byte      // quantized activations for MatMul
	act16   []uint16    // f16/bf16 activations
	act16f  []float32   // f16 activations as float32
	xpack   []byte      // packed activations (gemm.go)
	x40     []byte      // packed activations (gemm16.go)
	scratch [][]float32 // per-worker float scratch (attention scores, etc.)
	halves  [][]uint16  // per-worker f16 scratch (attention's compact K/V rows)
	dec     []float32   // decode attention's scores and queries (attn_decode.go)
	decV    []uint16    // decode attention's compact V rows
	mm      matmulTask
	// xKey and xSig say what act, act16(f), xpack and x40 hold: the
	// activations keyed xKey, quantized and packed as xSig (XKey).
	xKey   XKey
	xSig   actSig
	plans  map[planKey]*Plan // MatMul's plans by type, layout and shape
	perDot bool              // benchmarks only: MatMul's plans have only the dots path (the reference speed)
	at     attnTask
}

// poolWorker is one helper's mailbox: the dispatcher writes sp, then bumps
// gen; a parked helper (parked set) is woken through wake.
type poolWorker struct {
	gen    atomic.Uint64
	parked atomic.Bool
	wake   chan struct{}
	sp     span
	_      [64]byte // keep mailboxes on separate cache lines
}

// spinner is the bounded busy-wait of workers waiting for the next
// operation and of the dispatcher waiting for its helpers. A decode step
// runs ~150 kernel calls separated by a few microseconds of single-threaded
// graph work; a parked worker costs a futex round trip (~50-100 µs on these
// VMs) to wake, which on llama-1b Q4_0 with 2 threads cost ~20 % of decode
// speed (12.1-13.3 tok/s with a sub-microsecond spin vs 15.2-16.6 with a
// ~1 ms one, BenchmarkDecodeStep, alternating runs). llama.cpp's thread pool
// polls too (ggml-cpu's ggml_graph_compute_poll_for_work). So the wait spins
// for up to spinBudget and only then parks; every spinYieldEvery loads it
// calls sched_yield, so that on an oversubscribed machine (tests running in
// parallel) the spinning thread hands its core to the thread it waits for
// instead of burning its time slice.
type spinner struct {
	i     int
	start time.Time
}

const (
	spinYieldEvery = 1 << 12
	spinBudget     = 2 * time.Millisecond
)

// spin reports whether to keep busy-waiting (false: park now).
func (s *spinner) spin() bool {
	s.i++
	if s.i%spinYieldEvery != 0 {
		return true
	}
	if s.i == spinYieldEvery {
		s.start = time.Now()
	}
	osYield()
	return time.Since(s.start) < spinBudget
}

// NewPool starts a pool of threads workers (the calling goroutine counts as
// one); threads <= 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &Pool{threads: threads, done: make(chan struct{}, 1)}
	p.ws = make([]poolWorker, threads-1)
	for i := range p.ws {
		p.ws[i].wake = make(chan struct{}, 1)
		go p.worker(&p.ws[i], i+1)
	}
	p.scratch = make([][]float32, threads)
	p.halves = make([][]uint16, threads)
	p.mm.kbs = make([]kblock, threads)
	p.mm.kdec = make([][]byte, threads)
	p.mm.res = make([]workerRes, threads)
	return p
}

func (p *Pool) worker(w *poolWorker, id int) {
	var last uint64
	for {
		g := w.gen.Load()
		for sp := (spinner{}); g == last; {
			if sp.spin() {
				g = w.gen.Load()
				continue
			}
			// Park: announce, re-check (the dispatcher bumps gen before it
			// looks at parked), then sleep until woken.
			w.parked.Store(true)
			if g = w.gen.Load(); g == last {
				<-w.wake
				g = w.gen.Load()
			}
			w.parked.Store(false)
			sp = spinner{}
		}
		last = g
		if p.stop.Load() {
			return
		}
		p.cur.run(w.sp.lo, w.sp.hi, id)
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			select {
			case p.done <- struct{}{}:
			default:
			}
		}
	}
}

// Threads reports the number of workers, the caller included.
func (p *Pool) Threads() int { return p.threads }

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.stop.Store(true)
	for i := range p.ws {
		w := &p.ws[i]
		w.gen.Add(1)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// For splits [0,n) into contiguous chunks of at least grain items over the
// workers, runs fn on each chunk and waits for all of them.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ft.fn = fn
	p.run(&p.ft, n, grain)
	p.ft.fn = nil
}

// run executes t over [0,n) in at most p.threads contiguous chunks of at least
// grain items; the caller runs the first chunk. p.mu must be held.
func (p *Pool) run(t task, n, grain int) {
	if grain < 1 {
		grain = 1
	}
	chunks := p.threads
	if p.closed {
		chunks = 1
	}
	if c := n / grain; c < chunks {
		chunks = c
	}
	if chunks <= 1 {
		t.run(0, n, 0)
		return
	}
	p.cur = t
	p.pending.Store(int32(chunks - 1))
	for c := 1; c < chunks; c++ {
		w := &p.ws[c-1]
		w.sp = span{n * c / chunks, n * (c + 1) / chunks}
		w.gen.Add(1)
		if w.parked.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	t.run(0, n/chunks, 0)
	for sp := (spinner{}); p.pending.Load() != 0; {
		if sp.spin() {
			continue
		}
		p.waiting.Store(true)
		if p.pending.Load() != 0 {
			<-p.done
		}
		p.waiting.Store(false)
		sp = spinner{}
	}
	// A wake-up that raced with our own check may be left in done.
	select {
	case <-p.done:
	default:
	}
	p.cur = nil
}

// floatScratch returns worker w's float scratch of at least n elements.
func (p *Pool) floatScratch(w, n int) []float32 {
	if c := cap(p.scratch[w]); c < n {
		p.scratch[w] = make([]float32, scratchCap(c, n))
	}
	return p.scratch[w][:n]
}

// halfScratch returns worker w's f16 scratch of at least n elements.
func (p *Pool) halfScratch(w, n int) []uint16 {
	if c := cap(p.halves[w]); c < n {
		p.halves[w] = make([]uint16, scratchCap(c, n))
	}
	return p.halves[w][:n]
}

// scratchCap is the capacity a scratch of capacity c grows to for n > c
// elements: at least twice c. The attention's scratch grows with the
// context, a little every prefill step; grown to the exact need it was
// reallocated every step, and filling llama-1b's context to 4096 tokens
// in 128-row steps left 70 MB of old scratch on the Go heap (the KV cache
// keeps the GC's target high), 40 MiB of it in the peak RSS.
func scratchCap(c, n int) int { return max(n, 2*c) }
