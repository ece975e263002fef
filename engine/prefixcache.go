package engine

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"github.com/x448/float16"
)

// The prefix cache keeps the KV rows of recent sequences of a model so a new
// request that starts with the same tokens (the system prompt, knowledge
// passages, a patient's recalled memory and the chat history so far) skips
// their prefill.
//
// Why whole sequences matched by longest common prefix (as llama.cpp's
// server keeps slot prompts in its --cache-ram prompt cache) and not vLLM's
// automatic prefix caching (fixed-size token blocks keyed by a hash of the
// block and everything before it, shared in place by a paged attention
// kernel): dayi's attention kernel reads one contiguous [ctx, heads, dim]
// cache per sequence, and a step donates and rewrites that buffer in place.
// Sharing blocks in place would need a paged cache and kernel; copying a
// cached prefix into a fresh session costs one memcpy of its rows (≈ 10 ms
// for 2,000 tokens of a 1B model's 64 KiB/token f16 cache) against seconds of
// prefill, and keeps every entry immutable, so any number of requests may
// start from one entry at once without reference counts or copy-on-write.
// What block hashing would add is deduplication between entries; here an
// entry whose tokens are a prefix of a new one is dropped when the longer one
// is stored (a chat's turn n is superseded by turn n+1), which removes the
// common case of duplication.
//
// Entries are scoped (Request.CacheScope; the server uses the API key): a
// request only reuses entries of its own scope. A cache hit shows in the
// time to first token, so without scopes one client could learn whether
// another sent a given prompt prefix (the timing probe vLLM's cache_salt
// closes the same way).
type prefixCache struct {
	budget int64 // bytes of host memory the entries may hold
	rowKV  []int // bytes per token in each of the session's cache buffers
	view   []int // each buffer's cache view (Hyper.Caches)
	window []int // per cache view: its sliding window where compact, else 0

	mu      sync.Mutex
	used    int64
	tick    uint64
	entries []*prefixEntry
	stats   PrefixCacheStats
}

// prefixEntry is one cached sequence: its tokens and, per cache buffer (K of
// every layer, then V), the bytes of the rows of positions [base, len(toks))
// where base is the buffer's view's base (0 but for a compact sliding-window
// view: swa.go). Never modified once stored.
type prefixEntry struct {
	scope string
	toks  []int32
	base  []int // per cache view
	kv    [][]byte
	bytes int64
	used  uint64 // LRU clock
}

// PrefixCacheStats counts the prefix cache's use since the model was loaded.
type PrefixCacheStats struct {
	Hits, Misses int64 // requests that did / did not start from a cached prefix
	TokensReused int64 // prompt tokens taken from the cache instead of computed
	Entries      int
	Bytes        int64 // held by the entries
	Budget       int64
}

// DefaultPrefixCacheBytes is the prefix cache budget when Options leaves it
// zero: two full contexts' worth of KV cache (entries only hold their filled
// rows, so that is many shorter conversations), at most 1 GiB.
func DefaultPrefixCacheBytes(kvBytes int64) int64 {
	return min(2*kvBytes, 1<<30)
}

// prefixBudget is the budget Options asks for, given one context's KV size.
func prefixBudget(opt Options, kvBytes int64) int64 {
	switch {
	case opt.PrefixCacheBytes < 0:
		return 0
	case opt.PrefixCacheBytes == 0:
		return DefaultPrefixCacheBytes(kvBytes)
	}
	return opt.PrefixCacheBytes
}

// newPrefixCache returns m's cache, or nil when it is off or the backend
// cannot expose its buffers' memory (then every request computes its prompt).
func newPrefixCache(m *Model, budget int64) *prefixCache {
	if budget <= 0 || !m.backend.HasSharedBuffers() {
		return nil
	}
	c := &prefixCache{budget: budget, window: make([]int, len(m.Hyper.Caches))}
	for i := 0; i < 2*m.Hyper.Layers; i++ {
		l := i % m.Hyper.Layers
		c.rowKV = append(c.rowKV, m.kvRowBytes(l))
		c.view = append(c.view, m.Hyper.Kinds[l].Cache)
	}
	for v, sw := range m.swa {
		if sw > 0 {
			c.window[v] = m.Hyper.Caches[v].Window
		}
	}
	return c
}

// PrefixCacheStats reports the model's prefix cache (zero when it is off).
func (m *Model) PrefixCacheStats() PrefixCacheStats {
	c := m.prefix
	if c == nil {
		return PrefixCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries, s.Bytes, s.Budget = len(c.entries), c.used, c.budget
	return s
}

// kvMem is the memory of one of the session's cache buffers.
func (s *Session) kvMem(i int) ([]byte, error) {
	flat, err := s.m.backend.BufferData(s.kv[i])
	if err != nil {
		return nil, fmt.Errorf("KV cache buffer %d: %w", i, err)
	}
	switch x := flat.(type) {
	case []float16.Float16:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 2*len(x)), nil
	case []float32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x)), nil
	case []uint8:
		return x, nil // q8_0/q4_0 blocks: rows copy as bytes
	}
	return nil, fmt.Errorf("KV cache buffer %d: unexpected data %T", i, flat)
}

// evalTail evaluates ids in s, after a prefix cache hit (hit) or not. It
// once cut the tokens into the largest buckets they filled, as Eval padded
// them to the smallest bucket holding them all (a cold 156-token prompt as
// 256 rows); Eval plans its steps itself now (Model.planSteps), so this is
// Eval. The matmuls take the same batched paths (and float orders) as one
// big step would; with an f32 cache the logits are the same, with the
// default f16 cache the attention's f16 sums may round differently in the
// last place (tiny-llama: <= 1.1e-6 on logits of ~10), as after a cache hit
// (TestWarmupAndSplitPrefillKeepLlamaCppLogits).
func (m *Model) evalTail(ctx context.Context, s *Session, ids []int32, _ bool) error {
	_, err := s.Eval(ctx, ids)
	return err
}

// serves reports whether e can restore a prefix of n tokens (n ≤ len(e.toks)):
// its compact views' rows (from e.base) hold every key a query at n or later
// may see, as Truncate requires of a session (swa.go).
func (c *prefixCache) serves(e *prefixEntry, n int) bool {
	for v, w := range c.window {
		if b := e.base[v]; w > 0 && b > 0 && b > n-(w-1) {
			return false
		}
	}
	return true
}

// covers reports whether entry a holds everything b does: b's tokens are a
// prefix of a's and a's compact views start no later than b's, so any prefix
// b serves a serves too.
func covers(aToks []int32, aBase []int, bToks []int32, bBase []int) bool {
	if len(aToks) < len(bToks) || commonPrefix(aToks, bToks) != len(bToks) {
		return false
	}
	for v := range aBase {
		if aBase[v] > bBase[v] {
			return false
		}
	}
	return true
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// restore copies into s (a fresh session) the longest prefix of ids cached
// in scope, leaving at least one token of ids to evaluate (its logits are
// needed), and returns how many tokens it restored.
func (c *prefixCache) restore(s *Session, scope string, ids []int32) (int, error) {
	c.mu.Lock()
	var best *prefixEntry
	n := 0
	for _, e := range c.entries {
		if e.scope != scope {
			continue
		}
		if k := min(commonPrefix(e.toks, ids), len(ids)-1); k > n && c.serves(e, k) {
			best, n = e, k
		}
	}
	if best == nil {
		c.stats.Misses++
		c.mu.Unlock()
		return 0, nil
	}
	c.tick++
	best.used = c.tick
	c.stats.Hits++
	c.stats.TokensReused += int64(n)
	c.mu.Unlock()
	// best is immutable: an eviction meanwhile only drops the cache's
	// reference to it.
	for i, row := range c.rowKV {
		mem, err := s.kvMem(i)
		if err != nil {
			return 0, err
		}
		r := n - best.base[c.view[i]] // rows of positions [base, n)
		copy(mem[:r*row], best.kv[i][:r*row])
	}
	copy(s.base, best.base)
	s.pos = n
	return n, nil
}

// store keeps the KV rows of toks (the tokens s has evaluated, s.pos ==
// len(toks)) unless an entry already holds them. Entries that toks extends
// are dropped; the least recently used go until the budget holds.
func (c *prefixCache) store(s *Session, scope string, toks []int32) error {
	if len(toks) < 2 || s.pos != len(toks) {
		return nil
	}
	var size int64
	for i, row := range c.rowKV {
		size += int64((len(toks) - s.base[c.view[i]]) * row)
	}
	if size > c.budget {
		return nil
	}
	c.mu.Lock()
	for _, e := range c.entries {
		if e.scope == scope && covers(e.toks, e.base, toks, s.base) {
			c.tick++
			e.used = c.tick
			c.mu.Unlock()
			return nil
		}
	}
	c.mu.Unlock()
	e := &prefixEntry{scope: scope, toks: append([]int32(nil), toks...), base: append([]int(nil), s.base...), bytes: size}
	for i, row := range c.rowKV {
		mem, err := s.kvMem(i)
		if err != nil {
			return err
		}
		r := len(toks) - s.base[c.view[i]]
		e.kv = append(e.kv, append([]byte(nil), mem[:r*row]...))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.entries[:0]
	for _, o := range c.entries {
		if o.scope == scope && covers(e.toks, e.base, o.toks, o.base) {
			c.used -= o.bytes // superseded: e holds all of it
			continue
		}
		kept = append(kept, o)
	}
	clear(c.entries[len(kept):])
	c.entries = kept
	c.tick++
	e.used = c.tick
	c.entries = append(c.entries, e)
	c.used += size
	for c.used > c.budget {
		lru := 0
		for i, o := range c.entries {
			if o.used < c.entries[lru].used {
				lru = i
			}
		}
		c.used -= c.entries[lru].bytes
		c.entries = append(c.entries[:lru], c.entries[lru+1:]...)
	}
	return nil
}
