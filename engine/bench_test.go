package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkDecodeStories measures one decode step on the embedded model.
func BenchmarkDecodeStories(b *testing.B) {
	f := openShared(&testing.T{}, "stories260K.gguf")
	m, err := Load(f, Options{Backend: "dayi", Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	s, err := m.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Eval(ctx, []int32{1, 403, 407}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Pos() >= m.Ctx-1 {
			s.Truncate(3)
		}
		if _, err := s.Eval(ctx, []int32{261}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSchedulerThroughput compares tokens/s of 1 and 8 concurrent
// greedy requests on the embedded model.
func BenchmarkSchedulerThroughput(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			m, err := Load(openShared(&testing.T{}, "stories260K.gguf"), Options{Backend: "dayi"})
			if err != nil {
				b.Fatal(err)
			}
			lm, err := NewLM(m)
			if err != nil {
				b.Fatal(err)
			}
			s := lm.NewScheduler(n, 0)
			defer s.Close()
			tokens := 0
			var mu sync.Mutex
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for c := 0; c < n; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := s.Generate(context.Background(), &Request{Prompt: "Once upon a time", MaxTokens: 64}, func(string) error { return nil })
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						tokens += len(res.Tokens)
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
