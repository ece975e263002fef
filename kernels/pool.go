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
// memory. Starting a goroutine per operation costs microseconds per matmul
// (hundreds per token), so workers are started once and fed through channels.
// A Pool serialises its operations: concurrent calls are safe but do not run
// in parallel with each other.
type Pool struct {
	mu      sync.Mutex // held for a whole operation
	threads int
	work    []chan span // one per helper worker (threads-1); the caller is worker 0
	wg      sync.WaitGroup
	cur     task
	ft      funcTask
	closed  bool

	// Scratch owned by the pool and reused across calls (grown on demand).
	act     []byte      // quantized activations for MatMul
	act16   []uint16    // f16/bf16 activations
	xpack   []byte      // packed activations (gemm.go)
	scratch [][]float32 // per-worker float scratch (attention scores, etc.)
	q16     [][]uint16  // per-worker f16 scratch (attention q/p in f16)
	mm      matmulTask
	perDot  bool // benchmarks only: bypass the packed kernels (the reference speed)
	at      attnTask
}

// NewPool starts a pool of threads workers (the calling goroutine counts as
// one); threads <= 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &Pool{threads: threads}
	p.work = make([]chan span, threads-1)
	for i := range p.work {
		ch := make(chan span, 1)
		p.work[i] = ch
		go p.worker(ch, i+1)
	}
	p.scratch = make([][]float32, threads)
	p.q16 = make([][]uint16, threads)
	return p
}

func (p *Pool) worker(ch chan span, id int) {
	for s := range ch {
		p.cur.run(s.lo, s.hi, id)
		p.wg.Done()
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
	for _, ch := range p.work {
		close(ch)
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
	p.wg.Add(chunks - 1)
	for c := 1; c < chunks; c++ {
		p.work[c-1] <- span{n * c / chunks, n * (c + 1) / chunks}
	}
	t.run(0, n/chunks, 0)
	p.wg.Wait()
	p.cur = nil
}

// floatScratch returns worker w's float scratch of at least n elements.
func (p *Pool) floatScratch(w, n int) []float32 {
	if cap(p.scratch[w]) < n {
		p.scratch[w] = make([]float32, n)
	}
	return p.scratch[w][:n]
}

// halfScratch returns worker w's uint16 scratch of at least n elements.
func (p *Pool) halfScratch(w, n int) []uint16 {
	if cap(p.q16[w]) < n {
		p.q16[w] = make([]uint16, n)
	}
	return p.q16[w][:n]
}
