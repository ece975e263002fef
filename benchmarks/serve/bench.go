package serve

import (
	"context"
	"fmt"
	"io"
	"math"
)

// Config is one `dayi bench serve` measurement against a running server.
type Config struct {
	Client   *Client
	Prompter *Prompter
	Streams  []int // concurrent streams per round, e.g. 1, 4, 16
	Prompt   int   // prompt tokens per stream (the server's count, BOS included)
	Gen      int   // tokens to generate per stream
	// SharedPrefix gives all streams of a round the same prompt but for its
	// last eighth (at least one token), so the server may reuse the prefix.
	SharedPrefix bool
	// Warmup runs, before each round, one of the same width with short
	// prompts, so graphs compiled on first use per batch size are not timed
	// (llama-batched-bench warms up too). One full-length prompt runs alone
	// before the first round for the same reason.
	Warmup bool
	Seed   uint64
	Log    io.Writer // progress; nil: none
}

// Run measures one round per entry of cfg.Streams.
func Run(ctx context.Context, cfg Config) ([]Round, error) {
	if cfg.Prompt < 2 || cfg.Gen < 2 {
		return nil, fmt.Errorf("prompt (%d) and gen (%d) must be at least 2 tokens", cfg.Prompt, cfg.Gen)
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format, a...)
		}
	}
	if cfg.Warmup {
		p, err := cfg.Prompter.Build(cfg.Prompt, cfg.Seed<<32|0xffffffff, "")
		if err != nil {
			return nil, err
		}
		logf("warm-up: one stream, %d prompt tokens\n", cfg.Prompt)
		if _, err := cfg.Client.Generate(ctx, p, 2); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	var rounds []Round
	for ri, n := range cfg.Streams {
		if n < 1 {
			return nil, fmt.Errorf("streams: %d is not a stream count", n)
		}
		if cfg.Warmup {
			short := min(cfg.Prompt, 16)
			ps, err := cfg.prompts(n, short, uint64(2*ri+1))
			if err != nil {
				return nil, err
			}
			logf("warm-up: %d streams\n", n)
			if _, err := cfg.Client.RunRound(ctx, ps, min(cfg.Gen, 4)); err != nil {
				return nil, fmt.Errorf("warm-up for %d streams: %w", n, err)
			}
		}
		ps, err := cfg.prompts(n, cfg.Prompt, uint64(2*ri+2))
		if err != nil {
			return nil, err
		}
		logf("measuring: %d streams × (%d prompt + %d generated tokens)\n", n, cfg.Prompt, cfg.Gen)
		r, err := cfg.Client.RunRound(ctx, ps, cfg.Gen)
		if err != nil {
			return nil, fmt.Errorf("%d streams: %w", n, err)
		}
		logf("  %d streams: prefill %.1f tok/s, decode %.1f tok/s, ttft p50 %.0f ms\n", n, r.PrefillTPS, r.DecodeTPS, r.TTFTMedian)
		rounds = append(rounds, r)
	}
	return rounds, nil
}

// prompts are n distinct prompts of size tokens; round makes every round's
// prompts differ from the others', so no round hits what an earlier one
// left in the prefix cache.
func (cfg Config) prompts(n, size int, round uint64) ([]string, error) {
	prefix := ""
	if cfg.SharedPrefix {
		var err error
		if prefix, err = cfg.Prompter.Build(size-max(size/8, 1), cfg.Seed<<32|round<<16|0xffff, ""); err != nil {
			return nil, err
		}
	}
	ps := make([]string, n)
	for i := range ps {
		p, err := cfg.Prompter.Build(size, cfg.Seed<<32|round<<16|uint64(i), prefix)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}

// Report is `dayi bench serve`'s result.
type Report struct {
	CPU          string       `json:"cpu"`
	Model        string       `json:"model"`
	Threads      int          `json:"threads"`
	Context      int          `json:"context_per_stream"`
	Prompt       int          `json:"prompt"`
	Gen          int          `json:"gen"`
	SharedPrefix bool         `json:"shared_prefix"`
	Dayi         []Round      `json:"dayi"`
	Llama        []BatchedRow `json:"llama_batched_bench,omitempty"`
	LlamaArgs    []string     `json:"llama_batched_bench_args,omitempty"`
}

// llama returns llama-batched-bench's row for n streams.
func (r *Report) llama(n int) (BatchedRow, bool) {
	for _, row := range r.Llama {
		if row.B == n {
			return row, true
		}
	}
	return BatchedRow{}, false
}

// Markdown prints the side-by-side table, then one line per stream count
// "streams=N decode_ratio=X.XX prefill_ratio=Y.YY total_ratio=Z.ZZ"
// (dayi / llama.cpp; NaN where llama.cpp has no row), the same form as
// `dayi bench compare`'s last line.
func (r *Report) Markdown(w io.Writer) error {
	fmt.Fprintf(w, "CPU: %s; model %s; %d threads; %d prompt + %d generated tokens per stream; context %d per stream",
		r.CPU, r.Model, r.Threads, r.Prompt, r.Gen, r.Context)
	if r.SharedPrefix {
		fmt.Fprint(w, "; shared prompt prefix")
	}
	fmt.Fprint(w, "\n\n")
	fmt.Fprintln(w, "| streams | prefill tok/s dayi / llama.cpp | ratio | decode tok/s dayi / llama.cpp | ratio | total tok/s dayi / llama.cpp | ratio | TTFT p50 / p90 ms | ITL p50 ms | peak active |")
	fmt.Fprintln(w, "|---:|---|---:|---|---:|---|---:|---|---:|---:|")
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return math.NaN()
		}
		return a / b
	}
	var tails []string
	for _, d := range r.Dayi {
		l, _ := r.llama(d.Streams)
		pr, dr, tr := ratio(d.PrefillTPS, l.SPP), ratio(d.DecodeTPS, l.STG), ratio(d.TotalTPS, l.S)
		short := ""
		if d.ShortStreams > 0 {
			short = fmt.Sprintf(" (%d streams stopped early: %d tokens)", d.ShortStreams, d.GenTokens)
		}
		fmt.Fprintf(w, "| %d | %.1f / %.1f | %.2f | %.1f / %.1f%s | %.2f | %.1f / %.1f | %.2f | %.0f / %.0f | %.1f | %d |\n",
			d.Streams, d.PrefillTPS, l.SPP, pr, d.DecodeTPS, l.STG, short, dr, d.TotalTPS, l.S, tr,
			d.TTFTMedian, d.TTFTP90, d.ITLMedian, d.PeakActive)
		tails = append(tails, fmt.Sprintf("streams=%d decode_ratio=%.2f prefill_ratio=%.2f total_ratio=%.2f", d.Streams, dr, pr, tr))
	}
	fmt.Fprintln(w)
	for _, t := range tails {
		fmt.Fprintln(w, t)
	}
	return nil
}
