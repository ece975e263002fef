package engine

import (
	"context"
	"errors"
	"sync"
)

// ErrBusy is returned by Scheduler.Generate when the active set and the
// queue are full (the server answers 503 with Retry-After).
var ErrBusy = errors.New("server busy: too many requests")

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
}

type ticket struct {
	g   *generation
	id  int32
	err chan error
}

// NewScheduler starts a scheduler that decodes up to maxActive requests
// together and queues up to maxQueued more.
func (lm *LM) NewScheduler(maxActive, maxQueued int) *Scheduler {
	maxActive = max(maxActive, 1)
	s := &Scheduler{
		lm:       lm,
		maxBatch: maxActive,
		admit:    make(chan struct{}, maxActive+max(maxQueued, 0)),
		slots:    make(chan struct{}, maxActive),
		done:     make(chan struct{}),
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
func (s *Scheduler) Generate(ctx context.Context, req *Request, onText func(string) error) (*Result, error) {
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

	g, err := s.lm.start(ctx, req, onText)
	if err != nil {
		return nil, err
	}
	defer g.sess.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("scheduler closed")
	}
	s.active++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	t := &ticket{g: g, err: make(chan error, 1)}
	for {
		id, done, err := g.next(ctx)
		if err != nil || done {
			return g.res, err
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
