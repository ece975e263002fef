package server

import (
	"io"

	"dayi/engine"
)

// kvCounters count, per model, how requests used the engine's prefix cache
// and context shift (issue 17). Guarded by metrics.mu.
type kvCounters struct {
	hits, misses map[string]uint64 // requests that did / did not start from a cached prefix
	reused       map[string]uint64 // prompt tokens taken from the prefix cache
	shifts       map[string]uint64 // context shifts
	// speculative decoding (issue 17 item 5): proposals verified and accepted
	drafted, accepted map[string]uint64
}

func newKVCounters() kvCounters {
	return kvCounters{hits: map[string]uint64{}, misses: map[string]uint64{}, reused: map[string]uint64{}, shifts: map[string]uint64{},
		drafted: map[string]uint64{}, accepted: map[string]uint64{}}
}

// generation records what one finished generation of model reused.
func (m *metrics) generation(model string, res *engine.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if res.PromptCached > 0 {
		m.kv.hits[model]++
		m.kv.reused[model] += uint64(res.PromptCached)
	} else {
		m.kv.misses[model]++
	}
	if res.Shifts > 0 {
		m.kv.shifts[model] += uint64(res.Shifts)
	}
	if res.Drafted > 0 {
		m.kv.drafted[model] += uint64(res.Drafted)
		m.kv.accepted[model] += uint64(res.DraftAccepted)
	}
}

func (c *kvCounters) write(w io.Writer) {
	writeCounter(w, "dayi_prefix_cache_hits_total", "Generations that started from a cached prompt prefix, by model.", c.hits)
	writeCounter(w, "dayi_prefix_cache_misses_total", "Generations that computed their whole prompt, by model.", c.misses)
	writeCounter(w, "dayi_prefix_cache_tokens_reused_total", "Prompt tokens taken from the prefix cache instead of computed, by model.", c.reused)
	writeCounter(w, "dayi_context_shifts_total", "Context shifts (oldest half of a full context dropped), by model.", c.shifts)
	writeCounter(w, "dayi_spec_drafted_tokens_total", "Speculative decoding: proposed tokens the model verified, by model.", c.drafted)
	writeCounter(w, "dayi_spec_accepted_tokens_total", "Speculative decoding: proposed tokens accepted (acceptance rate = accepted / drafted), by model.", c.accepted)
}
