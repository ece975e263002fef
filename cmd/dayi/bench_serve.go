package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dayi/auth"
	"dayi/benchmarks/compare"
	"dayi/benchmarks/serve"
	"dayi/engine"
	"dayi/server"
	"dayi/tokenizer"
	"dayi/weights"
)

// newBenchServeCmd is `dayi bench serve` (issue 16, batching throughput).
func newBenchServeCmd() *cobra.Command {
	var model, preset, typ, cache, vocabDir, llamaBatched, backend, kvType string
	var streams []int
	var threads, prompt, gen int
	var seed uint64
	var sharedPrefix, noWarmup, noLlama, asJSON bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serving throughput: N concurrent streams against dayi serve, next to llama-batched-bench",
		Long: `serve starts a dayi server in this process on a free loopback port (no key, no model
store, nothing written under DAYI_HOME) with the model file, and for each stream count N drives it
through the Ollama API (/api/generate, raw, streaming) with N clients started at once. Each client
sends its own prompt of exactly --prompt tokens (the server's count, BOS included; words drawn
from the model's vocabulary, distinct per stream and per round, so the prefix cache shares nothing
unless --shared-prefix) and asks for --gen greedy tokens (temperature 0, no repeat penalty). The
Ollama API has no "ignore EOS": a stream that stops early is reported with its actual count.

Per N it reports: aggregate prefill tokens/s (all prompt tokens / time until the last stream's
first token), aggregate decode tokens/s (generated tokens after each stream's first / the time
during which any stream was decoding), total tokens/s (all tokens / wall time), median and p90
time to first token, median inter-token latency, and the most requests /metrics showed running.
Before each round a short round of the same width warms up the batched graphs (--no-warmup: not).

Next to it, llama.cpp's llama-batched-bench runs on the same file with the same threads and the
same context per sequence (-npp P -ntg G -npl N…, -c = largest N × context): from
--llama-batched-bench, or built next to the llama-bench of 'dayi bench compare' in --cache. The
table gives dayi / llama.cpp ratios, and its last lines are
"streams=N decode_ratio=X.XX prefill_ratio=Y.YY total_ratio=Z.ZZ" per N.

The default model is the llama-1b preset in Q4_0, synthesised into --cache as 'dayi bench compare'
does; --model FILE measures any GGUF. Progress goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := cmd.ErrOrStderr()
			if len(streams) == 0 {
				return fmt.Errorf("--streams: need at least one stream count")
			}
			maxN := 0
			for _, n := range streams {
				if n < 1 || n > 256 {
					return fmt.Errorf("--streams: %d is not between 1 and 256", n)
				}
				maxN = max(maxN, n)
			}
			if prompt < 2 || gen < 2 || prompt > 1<<16 || gen > 1<<16 {
				return fmt.Errorf("--prompt and --gen must be between 2 and 65536 tokens")
			}
			if threads <= 0 {
				threads = runtime.NumCPU()
			}
			var err error
			if model == "" {
				model, err = compare.EnsureModel(ctx, filepath.Join(cache, "models"), vocabDir, preset, typ, log)
				if err != nil {
					return err
				}
			}
			rep := &serve.Report{CPU: compare.CPUModel(), Model: model, Threads: threads, Context: prompt + gen,
				Prompt: prompt, Gen: gen, SharedPrefix: sharedPrefix}
			rep.Dayi, err = benchServeDayi(ctx, serve.Config{Streams: streams, Prompt: prompt, Gen: gen,
				SharedPrefix: sharedPrefix, Warmup: !noWarmup, Seed: seed, Log: log},
				model, engine.Options{Backend: backend, Threads: threads, ContextLength: prompt + gen, KVType: kvType}, maxN)
			if err != nil {
				return err
			}
			if !noLlama {
				if llamaBatched == "" {
					lb, err := compare.BuildLlamaBench(ctx, filepath.Join(cache, "llama.cpp"), log)
					if err != nil {
						return fmt.Errorf("building llama.cpp: %w", err)
					}
					if llamaBatched, err = serve.EnsureBatchedBench(ctx, lb, log); err != nil {
						return err
					}
				}
				rep.LlamaArgs = serve.BatchedBenchArgs(model, threads, prompt+gen, prompt, gen, streams, sharedPrefix)
				fmt.Fprintf(log, "$ %s %s\n", llamaBatched, strings.Join(rep.LlamaArgs, " "))
				if rep.Llama, err = serve.RunBatchedBench(ctx, llamaBatched, rep.LlamaArgs); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			return rep.Markdown(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "GGUF file to serve (default: the --preset/--type synthetic model in --cache)")
	f.StringVar(&preset, "preset", "llama-1b", "synthetic model preset when --model is not given")
	f.StringVar(&typ, "type", "q4_0", "synthetic model type when --model is not given")
	f.IntSliceVar(&streams, "streams", []int{1, 4, 16}, "concurrent stream counts, one round each")
	f.IntVarP(&prompt, "prompt", "p", 128, "prompt tokens per stream")
	f.IntVarP(&gen, "gen", "n", 64, "generated tokens per stream")
	f.IntVarP(&threads, "threads", "t", 0, "CPU threads for both engines (0 = all cores)")
	f.StringVar(&backend, "backend", "", "GoMLX backend (default: dayi's own)")
	f.StringVar(&kvType, "kv-type", "", "KV cache type of dayi (f16 default, f32, q8_0, q4_0)")
	f.BoolVar(&sharedPrefix, "shared-prefix", false, "streams share all but the last eighth of their prompt (llama-batched-bench -pps)")
	f.BoolVar(&noWarmup, "no-warmup", false, "do not warm up before each round")
	f.Uint64Var(&seed, "seed", 1, "seed of the prompts")
	f.StringVar(&cache, "cache", benchCacheDir(), "cache folder for the llama.cpp build and the synthetic models")
	f.StringVar(&vocabDir, "vocab-dir", "../shared/vocab", "folder with llama.cpp ggml-vocab-*.gguf files")
	f.StringVar(&llamaBatched, "llama-batched-bench", "", "use this llama-batched-bench binary instead of building one")
	f.BoolVar(&noLlama, "no-llama", false, "measure dayi only")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// benchServeDayi serves model in this process on a loopback port for the
// length of the measurement and runs the rounds against it.
func benchServeDayi(ctx context.Context, cfg serve.Config, model string, eo engine.Options, maxN int) ([]serve.Round, error) {
	wf, err := weights.Open(model)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(wf)
	wf.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", model, err)
	}
	if cfg.Prompter, err = serve.NewPrompter(tok); err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	s, err := server.New(server.Config{
		Addr: "127.0.0.1:0", ModelPaths: []string{model}, Engine: eo,
		MaxActive: maxN, MaxQueued: maxN, KeepAlive: -1,
		// The server lives in this process and on loopback only: the
		// driver reads /metrics, which needs the admin scope.
		AnonymousScopes: auth.All(),
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback listener: %w", err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("bench serve: http server", "err", err)
		}
	}()
	defer hs.Close()
	cfg.Client = &serve.Client{URL: "http://" + ln.Addr().String(),
		Model: strings.TrimSuffix(filepath.Base(model), ".gguf"),
		HTTP:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: maxN + 2}}}
	return serve.Run(ctx, cfg)
}
