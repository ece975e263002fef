package engine

import (
	"context"
	"testing"

	"dayi/benchmarks/synth"
	"dayi/internal/synthtest"
)

// BenchmarkDecodeDepth4096 is one decode step of tiny-llama-k (head size
// 64, f32 weights, one thread) with 4096 tokens already in its cache, for
// each KV cache type: at that depth the tiny model's time is mostly
// attention, so this compares the attention kernels (f16/f32: ggml's
// non-flash orders; q8_0/q4_0: the flash path, kernels.AttentionQuant).
func BenchmarkDecodeDepth4096(b *testing.B) {
	const depth = 4096
	spec, err := synth.Preset("tiny-llama-k")
	if err != nil {
		b.Fatal(err)
	}
	spec.ContextLength = depth + 256
	f := synthtest.Model(b, spec, 7, nil)
	prompt := make([]int32, depth)
	for i := range prompt {
		prompt[i] = int32(100 + i%1000)
	}
	for _, typ := range []string{"f32", "f16", "q8_0", "q4_0"} {
		b.Run(typ, func(b *testing.B) {
			m, err := Load(f, Options{Backend: "dayi", Threads: 1, KVType: typ, PrefixCacheBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			s, err := m.NewSession()
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Eval(ctx, prompt); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Truncate(depth); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Eval(ctx, []int32{261}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.KVBytes())/float64(m.Ctx), "KVbytes/token")
		})
	}
}
