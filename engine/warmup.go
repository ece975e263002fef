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
	return nil
}
