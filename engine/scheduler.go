package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by Scheduler.Generate when the active set and the
// queue are full (the server answers 503 with Retry-After).
var ErrBusy = errors.New("server busy: too many requests")

// ErrSlowReader is returned by Scheduler.Generate when the request's output
// buffer stayed full for longer than the scheduler's stall limit: its client
// is not reading, and the request is cancelled so its slot and KV cache are
// not held for a reader that may never come back.
var ErrSlowReader = errors.New("client is not reading the response")

// Scheduler runs many generations of one LM with continuous batching: every
// step decodes one token for each active request in a single batched graph
// execution, so the weights are read once per step however many requests
// share it. Requests join after their prefill and leave when done, between
// steps. Each request's text is exactly what LM.Generate gives it alone
// (sampling is per request; the batched step computes each sequence as the
// single one does).
type Scheduler struct {
	lm       *LM
	maxBatch int
	admit    chan struct{} // capacity: active + queued requests
	slots    chan struct{} // capacity: active requests

	mu      sync.Mutex
	cond    *sync.Cond
	active  int       // registered generations (past prefill)
	pending []*ticket // tokens submitted for the next step
	closed  bool
	done    chan struct{}

	outBuf int           // pieces buffered per request between a step and its client (0: none)
	stall  time.Duration // how long a full buffer may wait for its client
}

// SchedulerOption configures NewScheduler.
type SchedulerOption func(*Scheduler)

// WithOutputBuffer puts a buffer of up to pieces text pieces between each
// request's steps and its onText, delivered by a goroutine of its own, so a
// client that reads slowly never delays a step of the other requests
// (issue 15, finding 6: without it, every step waited for each request's
// onText, which writes to that request's HTTP client). A request whose
// buffer is full leaves the batch while it waits; if the buffer is still
// full after stall, the request ends with ErrSlowReader.
func WithOutputBuffer(pieces int, stall time.Duration) SchedulerOption {
	return func(s *Scheduler) {
		s.outBuf = max(pieces, 0)
		s.stall = stall
		if s.stall <= 0 {
			s.stall = 10 * time.Second
		}
	}
}

type ticket struct {
	g   *generation
	id  int32
	err chan error
}

// NewScheduler starts a scheduler that decodes up to maxActive requests
// together and queues up to maxQueued more.
func (lm *LM) NewScheduler(maxActive, maxQueued int, opts ...SchedulerOption) *Scheduler {
	maxActive = max(maxActive, 1)
	s := &Scheduler{
		lm:       lm,
		maxBatch: maxActive,
		admit:    make(chan struct{}, maxActive+max(maxQueued, 0)),
		slots:    make(chan struct{}, maxActive),
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.cond = sync.NewCond(&s.mu)
	go s.loop()
	return s
}

// Close stops the scheduler after the requests in flight finish their step.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	<-s.done
}

// Stats reports the requests decoding and waiting.
func (s *Scheduler) Stats() (active, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active, len(s.admit) - s.active
}

// Generate is LM.Generate through the scheduler.
func (s *Scheduler) Generate(ctx context.Context, req *Request, onText func(string) error) (res *Result, err error) {
	select {
	case s.admit <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	defer func() { <-s.admit }()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.slots }()

	emit := onText
	if s.outBuf > 0 {
		out := s.newOutput(ctx, onText)
		emit = out.push
		// Runs after the request has left the active set (the defer
		// below is registered later, so it runs first): draining the
		// buffer to a slow client never holds a step.
		defer func() {
			if ferr := out.finish(err); ferr != nil && err == nil {
				res, err = nil, ferr
			}
		}()
	}
	g, err := s.lm.start(ctx, req, emit)
	if err != nil {
		return nil, err
	}
	defer g.close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("scheduler closed")
	}
	s.active++
	s.mu.Unlock()
	defer s.leave()
	t := &ticket{g: g, err: make(chan error, 1)}
	for {
		id, done, err := g.next(ctx)
		if g.spec != nil && err == nil && !done {
			id, done, err = s.speculate(ctx, g, id)
		}
		if err != nil || done {
			if err != nil {
				return nil, err
			}
			return g.res, nil
		}
		t.id = id
		s.mu.Lock()
		s.pending = append(s.pending, t)
		s.cond.Broadcast()
		s.mu.Unlock()
		if err := <-t.err; err != nil {
			return nil, err
		}
	}
}

// speculate runs g's speculative rounds while they find something to
// propose, and returns the token to feed in the next batched step. A round
// drafts and verifies in a step of its own (several rows of this one
// sequence), so the request leaves the active set meanwhile: the others'
// batched steps go on without waiting for it, and the model's execMu
// serialises the two kinds of step. This is the simplest correct design;
// folding verification rows into the shared batch would need a graph with
// a different row count per sequence.
func (s *Scheduler) speculate(ctx context.Context, g *generation, id int32) (int32, bool, error) {
	s.leave()
	defer s.join()
	for {
		next, fed, done, err := g.speculate(ctx, id)
		if !fed || done || err != nil {
			return next, done, err
		}
		id = next
	}
}

// leave removes a request from the active set (a step no longer waits for
// its token); join puts it back.
func (s *Scheduler) leave() {
	s.mu.Lock()
	s.active--
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *Scheduler) join() {
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
}

type interruptKey struct{}

// WithInterrupt returns a context carrying f, which a Scheduler calls (from
// another goroutine) when it gives up on the request's reader while onText
// may be blocked writing to it. f must make that write return: an HTTP
// server expires the connection's write deadline. Generate never returns
// while onText runs, so without f a reader that stopped would hold the
// request until the write's own timeout.
func WithInterrupt(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, interruptKey{}, f)
}

// output is one request's bounded buffer between its steps and its client.
type output struct {
	s       *Scheduler
	ctx     context.Context
	ch      chan string
	failed  chan struct{} // closed when onText failed (err is then set)
	err     error
	discard atomic.Bool // set when the request ends early: buffered pieces are dropped
	done    chan struct{}
}

func (s *Scheduler) newOutput(ctx context.Context, onText func(string) error) *output {
	o := &output{s: s, ctx: ctx, ch: make(chan string, s.outBuf), failed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		failed := false
		for p := range o.ch {
			if failed || o.discard.Load() {
				continue
			}
			if err := onText(p); err != nil {
				o.err, failed = err, true
				close(o.failed)
			}
		}
	}()
	return o
}

// push queues one piece without waiting while the buffer has room. When it
// is full the request leaves the batch (the other requests' steps go on
// without it) and waits up to the stall limit for its client.
func (o *output) push(p string) error {
	select {
	case <-o.failed:
		return o.err
	default:
	}
	select {
	case o.ch <- p:
		return nil
	default:
	}
	o.s.leave()
	defer o.s.join()
	t := time.NewTimer(o.s.stall)
	defer t.Stop()
	select {
	case o.ch <- p:
		return nil
	case <-o.failed:
		return o.err
	case <-o.ctx.Done():
		return o.ctx.Err()
	case <-t.C:
		return o.slow()
	}
}

// abort drops what is buffered, interrupts a blocked onText and waits for
// the delivering goroutine to stop (o.ch must be closed).
func (o *output) abort() {
	o.discard.Store(true)
	if f, ok := o.ctx.Value(interruptKey{}).(func()); ok && f != nil {
		select {
		case <-o.done:
		default:
			f()
		}
	}
	<-o.done
}

func (o *output) slow() error {
	return fmt.Errorf("%w: its output buffer of %d pieces stayed full for %v", ErrSlowReader, cap(o.ch), o.s.stall)
}

// finish delivers what is buffered (waiting at most the stall limit for a
// slow client) and stops the delivering goroutine. It always waits for that
// goroutine, so onText is never called after Generate returns.
func (o *output) finish(genErr error) error {
	close(o.ch)
	switch {
	case errors.Is(genErr, ErrSlowReader):
		o.abort()
		return nil
	case genErr != nil:
		o.discard.Store(true) // the request failed: its client gets no more text
	}
	t := time.NewTimer(o.s.stall)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
		o.abort()
		return o.slow()
	case <-o.ctx.Done():
		o.abort()
		return o.ctx.Err()
	}
	select {
	case <-o.failed:
		return o.err
	default:
	}
	return nil
}

// loop runs a step whenever every active request has submitted its token.
func (s *Scheduler) loop() {
	defer close(s.done)
	var sc StepScratch
	for {
		s.mu.Lock()
		for !s.closed && (len(s.pending) == 0 || len(s.pending) < s.active) {
			s.cond.Wait()
		}
		if s.closed && len(s.pending) == 0 {
			s.mu.Unlock()
			return
		}
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		for len(batch) > 0 {
			// Steps run in power-of-two sizes so a model compiles at most
			// log2(maxActive)+1 batched graphs (13 requests: 8 + 4 + 1).
			n := 1
			for n*2 <= min(len(batch), s.maxBatch) {
				n *= 2
			}
			part := batch[:n]
			batch = batch[n:]
			ss := make([]*Session, n)
			ids := make([]int32, n)
			for i, t := range part {
				ss[i], ids[i] = t.g.sess, t.id
			}
			err := s.lm.DecodeBatch(context.Background(), ss, ids, &sc)
			for _, t := range part {
				t.err <- err
			}
		}
	}
}
