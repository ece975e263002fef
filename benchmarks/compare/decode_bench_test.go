package compare

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"

	"dayi/assets"
	"dayi/engine"
	"dayi/weights"
)

// benchSession loads the model in $DAYI_BENCH_MODEL (default: the embedded
// tiny model), memory-mapped unless $DAYI_BENCH_NOMMAP is set, with
// $DAYI_BENCH_THREADS threads (default 1), q4_0/q8_0 weights repacked
// unless $DAYI_BENCH_NOREPACK is set, and returns a session and a 128-token
// prompt.
func benchSession(b *testing.B) (*engine.Session, []int32) {
	var f *weights.File
	var err error
	if p := os.Getenv("DAYI_BENCH_MODEL"); p != "" {
		f, err = weights.OpenWith(p, weights.OpenOptions{NoMmap: os.Getenv("DAYI_BENCH_NOMMAP") != ""})
	} else {
		f, err = weights.Parse(assets.DefaultModel)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	threads := 1
	if t, err := strconv.Atoi(os.Getenv("DAYI_BENCH_THREADS")); err == nil {
		threads = t
	}
	m, err := engine.Load(f, engine.Options{Threads: threads, KVType: "f16", ContextLength: 256, Buckets: []int{128},
		NoRepack: os.Getenv("DAYI_BENCH_NOREPACK") != ""})
	if err != nil {
		b.Fatal(err)
	}
	s, err := m.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32((i * 7919) % m.Hyper.Vocab)
	}
	return s, prompt
}

// startProfile writes a CPU profile to $DAYI_BENCH_PROFILE (if set) until
// the benchmark ends; the warm-up round (b.N == 1) is left out.
func startProfile(b *testing.B) {
	p := os.Getenv("DAYI_BENCH_PROFILE")
	if p == "" || b.N <= 1 {
		return
	}
	pf, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		pprof.StopCPUProfile()
		pf.Close()
	})
}

// BenchmarkDecodeStep times one decode step at position ~128 (see
// benchSession for the environment). Profile it to split a step into kernel
// time and framework time (docs/design.md); $DAYI_BENCH_PROFILE names a CPU
// profile of the decode steps alone (the prefill is left out):
//
//	DAYI_BENCH_MODEL=llama-1b-q4_0.gguf DAYI_BENCH_PROFILE=decode.prof \
//	    go test ./benchmarks/compare -run '^$' -bench DecodeStep -benchtime 64x
func BenchmarkDecodeStep(b *testing.B) {
	s, prompt := benchSession(b)
	ctx := context.Background()
	logits, err := s.Eval(ctx, prompt)
	if err != nil {
		b.Fatal(err)
	}
	startProfile(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Pos() >= 255 {
			if err := s.Truncate(128); err != nil {
				b.Fatal(err)
			}
		}
		if logits, err = s.Eval(ctx, []int32{argmax(logits)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkPrefill times the 128-token prompt as one prefill step from
// position 0, as dayi bench compare does (same environment and profile
// variable as BenchmarkDecodeStep).
func BenchmarkPrefill(b *testing.B) {
	s, prompt := benchSession(b)
	ctx := context.Background()
	if _, err := s.Eval(ctx, prompt); err != nil {
		b.Fatal(err)
	}
	startProfile(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Reset()
		if _, err := s.Eval(ctx, prompt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tok/s")
}
