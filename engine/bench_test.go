package engine

import (
	"context"
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
