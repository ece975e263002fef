package engine

import (
	"errors"
	"fmt"

	"dayi/engine/arch"
)

// Compact sliding-window caches.
//
// A layer whose cache view has a sliding window W (arch.Cache.Window: a
// query at position p sees keys p-W+1 … p) never reads a key more than W-1
// positions behind the newest query, so its cache needs only the last W-1
// rows plus the rows of the step being evaluated, not the whole context.
// Gemma 3 has five such layers (W = 1024) per global one: at a 128k context
// full-length f16 caches on every layer take ~17 GiB, window-sized ones on
// the sliding layers ~2.7 GiB (llama.cpp's SWA cache keeps window + one
// micro-batch of cells for them as well).
//
// Layout: such a view's K and V buffers have Sw rows (compactRows) instead of
// Ctx; the session records, per view, base: the absolute position held in
// buffer row 0, so the cache holds positions base … pos-1 in rows 0 …
// pos-base-1. A step writes its rows at row pos-base (arch.Seq.CachePos) and
// its mask is the usual causal/window mask in buffer rows: query pos+t is
// row pos-base+t and sees rows [pos-base+t-W+1, pos-base+t], which is the
// form the fused attention recognises (backend/attention.go, pos0 =
// pos-base). Keys are cached after RoPE, so a row keeps its absolute
// position's rotation wherever it sits in the buffer, and moving rows needs
// no re-rotation.
//
// Before a step of T rows that would run past row Sw, the session moves
// the last rows it keeps to the front of the view's buffers (a memmove on
// the host, makeRoom) and advances base. It keeps Sw - Tmax rows (Tmax: the
// largest planned step), at least W-1, so it moves Sw - Tmax rows once
// every Tmax or more positions. A step of more than Tmax rows keeps fewer
// (Sw - T); one of more than Sw - (W-1) rows cannot run and fails (only an
// embeddings step with more rows than the largest prefill bucket can be
// that long: EvalEmbeddings).
//
// The invariant every operation keeps: base == 0 or base ≤ pos - (W-1),
// i.e. every key a query at pos or later may see is in the buffer.
// Truncate(n) therefore needs base ≤ max(0, n-W+1) and fails with
// ErrRewind otherwise; compactRows leaves room for a speculative rollback
// of maxDraft tokens, so those never fail. The prefix cache stores each
// compact view's rows with its base and only restores prefixes they cover
// (prefixcache.go); a context shift keeps the view's rows that the shifted
// sequence's window needs (ctxshift.go).
//
// Compact views are used where they pay and where the engine can move rows:
// Sw < Ctx, the backend exposes its buffers to the host (HasSharedBuffers),
// Ctx ≥ 4W (so a generation's context shift, which keeps at least a quarter
// of the context after the num_keep tokens, always keeps a whole window:
// ctxshift.go), and not Options.NoCompactSWA. Elsewhere the layout is the
// full one, unchanged.

// ErrRewind is returned by Session.Truncate when a compact sliding-window
// cache no longer holds the rows the rewound sequence needs (more than
// Sw - Tmax - (W-1) tokens back past a cache move; swa.go). Callers start
// the sequence over (Reset) and evaluate it again.
var ErrRewind = errors.New("rewind past the sliding-window cache")

// compactRows is the rows of a compact cache for window w when steps have at
// most tmax rows: the W-1 rows a query may look back, a rollback reserve of
// maxDraft rows (a speculative verification step's rejected tokens, which
// Truncate must always be able to drop), and tmax rows for the step, rounded
// up to 64. For Gemma 3 (W = 1024) with the default buckets (tmax 512) that
// is 1600 rows, 1088 of them kept at each move, one move per 512 positions:
// at most a memmove of 1088 rows per 512 tokens, against a 1024-key
// attention per token and layer.
func compactRows(w, tmax int) int {
	n := w - 1 + maxDraft + tmax
	return (n + 63) &^ 63
}

// compactSWA decides, per cache view of h, the rows of its compact cache (0:
// full length), and returns the largest step rows planned for.
func compactSWA(h *arch.Hyper, ctx int, buckets []int, shared bool, opt Options) ([]int, int) {
	tmax := maxDraft + 1 // a speculative verification step
	if len(buckets) > 0 {
		tmax = max(tmax, buckets[len(buckets)-1])
		if opt.swaRows > 0 {
			tmax = buckets[len(buckets)-1] // tests: plan for the prefill steps only
		}
	}
	rows := make([]int, len(h.Caches))
	if opt.NoCompactSWA || !shared {
		return rows, tmax
	}
	for v, c := range h.Caches {
		w := c.Window
		if w <= 0 || c.Bidirectional || ctx < 4*w {
			continue
		}
		sw := compactRows(w, tmax)
		if opt.swaRows > 0 {
			sw = opt.swaRows
		}
		if sw < ctx {
			rows[v] = sw
		}
	}
	return rows, tmax
}

// viewRows is the cache length of cache view v.
func (m *Model) viewRows(v int) int {
	if m.swa[v] > 0 {
		return m.swa[v]
	}
	return m.Ctx
}

// cacheRows is the cache length of layer l.
func (m *Model) cacheRows(l int) int { return m.viewRows(m.Hyper.Kinds[l].Cache) }

// makeRoom moves rows of s's compact caches so that a step of T rows fits
// (swa.go): where pos-base+T would pass the view's length, the last rows
// (Sw - Tmax of them, fewer for an oversized step, never fewer than the W-1 a
// query may look back) move to the front and base advances past the rest.
func (s *Session) makeRoom(T int) error {
	m := s.m
	for v, sw := range m.swa {
		if sw == 0 {
			continue
		}
		base, w := s.base[v], m.Hyper.Caches[v].Window
		held := s.pos - base
		if held+T <= sw {
			continue
		}
		need := min(held, w-1)
		keep := min(held, sw-max(T, m.swaStep))
		if keep < need {
			keep = sw - T
		}
		if keep < need {
			return fmt.Errorf("a step of %d rows does not fit the %d-row sliding-window cache (window %d): use smaller prefill buckets", T, sw, w)
		}
		if err := s.moveRows(v, held-keep, keep); err != nil {
			return err
		}
		s.base[v] = s.pos - keep
	}
	return nil
}

// moveRows moves rows [from, from+n) of view v's K and V buffers to rows
// [0, n).
func (s *Session) moveRows(v, from, n int) error {
	m := s.m
	L := m.Hyper.Layers
	for i := range 2 * L {
		l := i % L
		if m.Hyper.Kinds[l].Cache != v {
			continue
		}
		mem, err := s.kvMem(i)
		if err != nil {
			return err
		}
		rb := m.kvRowBytes(l)
		copy(mem[:n*rb], mem[from*rb:(from+n)*rb])
	}
	return nil
}

// canRewind reports whether s's compact caches hold what a sequence of n
// tokens needs (n ≤ Pos): every key a query at n or later may see.
func (s *Session) canRewind(n int) bool {
	if n == 0 {
		return true // nothing is needed; Truncate starts the buffers over
	}
	for v, sw := range s.m.swa {
		if sw == 0 {
			continue
		}
		if b := s.base[v]; b > 0 && b > n-(s.m.Hyper.Caches[v].Window-1) {
			return false
		}
	}
	return true
}
