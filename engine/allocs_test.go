package engine

import (
	"context"
	"testing"

	"dayi/assets"
	"dayi/weights"
)

// TestDecodeStepAllocations bounds the allocations of one decode step on
// dayi's backend (the hot-path rule: no allocation per token). Today's 38
// are the step's input buffers and GoMLX's wrapping of its outputs; the
// backend's own execs allocate nothing. Before the chunk bodies were bound
// at build time (backend.elemsExec) a step made 201, ~140 of them one func
// value per elementwise op.
func TestDecodeStepAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's bookkeeping allocates")
	}
	f, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		m, err := Load(f, Options{Backend: "dayi", Threads: threads, ContextLength: 256})
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := s.Eval(ctx, []int32{1, 403, 407}); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := s.Eval(ctx, []int32{261}); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("threads %d: %.0f allocations per decode step", threads, allocs)
		if allocs > 50 {
			t.Errorf("threads %d: %.0f allocations per decode step, want ≤ 50", threads, allocs)
		}
		s.Close()
	}
}
