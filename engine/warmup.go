package engine

import "fmt"

// warmup builds, at load, the step graphs a generation uses: one prefill
// graph per bucket and the one-token decode graph, so that the first prompt
// after loading runs at the speed of the later ones instead of paying for
// graph construction and compilation (op fusion, buffer planning, the
// kernels' per-call plans) inside its prompt-eval time. Issue 16 measured
// that first prompt as the one users meet (`dayi run --verbose`); llama.cpp's
// llama-bench hides the same cost behind an untimed warm-up run.
//
// Encoders (bert) build their hidden-state graphs on demand: their step
// sizes follow the batch, not the buckets. Graphs are only built here, not
// run: running a 256-row step of an 8B model would add seconds to loading.
func (m *Model) warmup() error {
	if m.enc != nil {
		return nil
	}
	keys := []graphKey{{T: 1}}
	for _, b := range m.buckets {
		if b > 1 && b <= m.Ctx {
			keys = append(keys, graphKey{T: b})
		}
	}
	for _, k := range keys {
		if _, err := m.graphFor(k); err != nil {
			return fmt.Errorf("warm-up: step graph of %d rows: %w", k.T, err)
		}
	}
	// The largest step's intermediates: their pages, faulted in by the
	// first prompt otherwise, cost ~5 % of a first 128-token prompt on
	// qwen2-0.5b. The arena is shared by every step graph, so this raises
	// no peak that the largest step would not reach anyway.
	if r, ok := m.backend.(arenaReserver); ok {
		r.ReserveArena()
	}
	return nil
}

// arenaReserver is a backend that can fault in its step memory ahead of the
// first run (dayi's own backend).
type arenaReserver interface{ ReserveArena() }

// warmVerify builds the speculative verification graphs (every row's
// logits, graphKey.all) of 2..maxRows rows, one per step length a round
// can verify (the token fed plus 1..DraftMax proposals), so that the first
// rounds after SetSpeculation do not pay for graph building: the perf
// notes measured a first step's build at several decode steps. Nothing is
// built for an encoder or a model loaded with NoWarmup (tests that count
// graphs), and never past the context length.
func (m *Model) warmVerify(maxRows int) error {
	if m.enc != nil || m.noWarmup {
		return nil
	}
	for T := 2; T <= min(maxRows, m.Ctx); T++ {
		if _, err := m.graphFor(graphKey{T: T, all: true}); err != nil {
			return fmt.Errorf("warm-up: verification graph of %d rows: %w", T, err)
		}
	}
	return nil
}
