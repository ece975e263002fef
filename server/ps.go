package server

import (
	"sort"
	"time"
)

// psEntry is one loaded model's state as /api/ps shows it.
type psEntry struct {
	src       modelSource
	ctx       int
	refs      int
	keepAlive time.Duration
	expires   time.Time
}

// psSnapshot copies the loaded models' state under the registry's lock:
// refs, keepAlive and expires change as requests come and go, and reading
// them from the handler without the lock was a data race (issue 15,
// finding 10).
func (r *registry) psSnapshot() []psEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]psEntry, 0, len(r.loaded))
	for _, l := range r.loaded {
		out = append(out, psEntry{src: l.src, ctx: l.lm.Ctx, refs: l.refs, keepAlive: l.keepAlive, expires: l.expires})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].src.Name < out[j].src.Name })
	return out
}
