package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"dayi/weights"
)

// BenchmarkVerifyStep times a speculative verification step of T rows
// against a plain decode step (T=1) at a context depth of 256 tokens, on
// the model named by $DAYI_SPEC_BENCH_MODEL (skipped without it): with a
// step of T rows costing c(T)/c(1) decode steps, a round that emits m
// tokens (accepted proposals plus one) is a speed-up of m·c(1)/c(T) before
// the proposer's own cost (docs/speculative.md).
//
//	DAYI_SPEC_BENCH_MODEL=/path/model.gguf go test ./engine/ -run '^$' -bench VerifyStep -benchtime 20x
//
// $DAYI_SPEC_BENCH_THREADS sets the kernel threads (0: all cores). Each
// size also reports cpu-ns/op, the process's CPU time per step: on a host
// shared with other jobs, with one thread (no spinning workers), it is a
// steadier measure of a step's work than the wall time.
func BenchmarkVerifyStep(b *testing.B) {
	path := os.Getenv("DAYI_SPEC_BENCH_MODEL")
	if path == "" {
		b.Skip("set DAYI_SPEC_BENCH_MODEL to a GGUF file")
	}
	f, err := weights.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	threads, _ := strconv.Atoi(os.Getenv("DAYI_SPEC_BENCH_THREADS"))
	m, err := Load(f, Options{ContextLength: 1024, PrefixCacheBytes: -1, Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	s, err := m.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	prompt := make([]int32, 256)
	for i := range prompt {
		prompt[i] = int32(100 + i%50)
	}
	if _, err := s.Eval(ctx, prompt); err != nil {
		b.Fatal(err)
	}
	for _, T := range []int{1, 2, 4, 8, 16} {
		ids := prompt[:T]
		// Compile outside the timing.
		if err := runRows(ctx, s, ids); err != nil {
			b.Fatal(err)
		}
		_ = s.Truncate(len(prompt))
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			cpu0 := processCPU()
			for range b.N {
				if err := runRows(ctx, s, ids); err != nil {
					b.Fatal(err)
				}
				_ = s.Truncate(len(prompt))
			}
			if cpu := processCPU(); cpu > 0 {
				b.ReportMetric(float64(cpu-cpu0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

func runRows(ctx context.Context, s *Session, ids []int32) error {
	if len(ids) == 1 {
		_, err := s.Eval(ctx, ids)
		return err
	}
	_, err := s.EvalRows(ctx, ids)
	return err
}
