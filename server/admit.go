package server

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrBusy is returned when every generation slot is taken and the queue is
// full; the client gets 503 with Retry-After.
var ErrBusy = errors.New("server busy: generation queue is full")

// admission bounds the generations running at once and those waiting for a
// slot. Requests beyond both bounds are refused at once, so a burst cannot
// grow memory without limit or make every clinician wait behind it.
type admission struct {
	slots    chan struct{}
	maxQueue int64
	waiting  atomic.Int64
}

func newAdmission(maxActive, maxQueued int) *admission {
	return &admission{slots: make(chan struct{}, maxActive), maxQueue: int64(maxQueued)}
}

// acquire takes a slot, waiting in the queue if needed. The returned func
// frees it.
func (a *admission) acquire(ctx context.Context) (func(), error) {
	select {
	case a.slots <- struct{}{}:
		return a.free, nil
	default:
	}
	if a.waiting.Add(1) > a.maxQueue {
		a.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer a.waiting.Add(-1)
	select {
	case a.slots <- struct{}{}:
		return a.free, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *admission) free() { <-a.slots }

// active and queued feed the metrics.
func (a *admission) active() int { return len(a.slots) }
func (a *admission) queued() int { return int(a.waiting.Load()) }
