package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"dayi/benchmarks/compare"
	"dayi/benchmarks/synth"
	"dayi/weights"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: synthetic models and side-by-side runs against llama.cpp",
	}
	cmd.AddCommand(newBenchSynthCmd(), newBenchCompareCmd(), newBenchDayiRunCmd(), newBenchEmbedCmd(), newBenchServeCmd())
	cmd.AddCommand(newBenchGPUCmd())
	return cmd
}

// benchCacheDir is where compare keeps llama.cpp and the synthetic models.
func benchCacheDir() string { return filepath.Join(dayiHome(), "cache", "bench") }

func newBenchCompareCmd() *cobra.Command {
	var threads []int
	var presets, types, modes []string
	var quick, asJSON bool
	var reps, prompt, gen, depth, ubatch int
	var cache, vocabDir, llamaBench string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run dayi and native llama.cpp side by side on synthetic models",
		Long: `compare builds llama.cpp's llama-bench once (from the source inside the npm package
node-llama-cpp@` + compare.NodeLlamaCppVersion + `, CMake, CPU only) into the cache, synthesises and quantizes the
models with dayi (cached too), then runs llama-bench (-p/-n, without and with mmap) and dayi (same prompt as
one prefill step, then greedy decode steps, in a fresh process each time) on the same files with the same
threads, alternating the engines. It prints a markdown table of medians whose last line is
"decode_ratio=X.XX prefill_ratio=Y.YY" (geometric means of dayi/llama.cpp).
--quick: one preset, one type, one thread count, one repetition, a short prompt (a smoke test).
The real-shape presets llama-8b (Llama-3.1-8B), gemma3-4b (MedGemma-4B) and qwen3-8b (Qwen3-8B) are not in
the default list: their files are made on demand (an F16 intermediate of up to 16 GB, then ~5 GB per Q4_K_M
file) into the cache; name them with --presets.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := cmd.ErrOrStderr()
			if quick {
				if !cmd.Flags().Changed("presets") {
					presets = []string{"qwen2-0.5b"}
				}
				if !cmd.Flags().Changed("types") {
					types = []string{"q4_0"}
				}
				threads, presets, types = threads[:1], presets[:1], types[:1]
				reps = 1
				if !cmd.Flags().Changed("prompt") {
					prompt = 32
				}
				if !cmd.Flags().Changed("gen") {
					gen = 16
				}
			}
			if len(threads) == 0 || len(presets) == 0 || len(types) == 0 {
				return fmt.Errorf("need at least one thread count, preset and type")
			}
			if prompt < 1 || gen < 1 || depth < 0 || ubatch < 0 {
				return fmt.Errorf("--prompt %d and --gen %d must be positive, --depth %d and --ubatch %d not negative", prompt, gen, depth, ubatch)
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("locating the dayi binary: %w", err)
			}
			if llamaBench == "" {
				if llamaBench, err = compare.BuildLlamaBench(ctx, filepath.Join(cache, "llama.cpp"), log); err != nil {
					return fmt.Errorf("building llama.cpp: %w", err)
				}
			}
			var ms []compare.Mode
			for _, m := range modes {
				switch compare.Mode(m) {
				case compare.Mmap, compare.NoMmap:
					ms = append(ms, compare.Mode(m))
				default:
					return fmt.Errorf("--modes: unknown mode %q (mmap, no-mmap)", m)
				}
			}
			cfg := compare.Config{
				Presets: presets, Types: types, Threads: threads, Modes: ms, Reps: reps, Prompt: prompt, Gen: gen, Depth: depth, UBatch: ubatch,
				Model: func(ctx context.Context, preset, typ string) (string, error) {
					return compare.EnsureModel(ctx, filepath.Join(cache, "models"), vocabDir, preset, typ, log)
				},
				Llama: compare.LlamaRunner(llamaBench, prompt, gen, depth, ubatch, compare.LlamaBenchHelp(ctx, llamaBench)),
				Dayi:  compare.DayiRunner(exe, prompt, gen, depth, ubatch),
				Log:   log,
			}
			rep, err := compare.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			return rep.Markdown(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&threads, "threads", []int{1, 2}, "thread counts")
	f.StringSliceVar(&presets, "presets", []string{"llama-1b", "qwen2-0.5b", "gemma3-1b"}, "model presets (dayi bench synth; real shapes: llama-8b, gemma3-4b, qwen3-8b)")
	f.StringSliceVar(&types, "types", []string{"q4_0", "q8_0", "q4_k_m", "q5_k_m", "q6_k"}, "model file types (dayi quantize)")
	f.StringSliceVar(&modes, "modes", []string{"no-mmap", "mmap"}, "memory modes to run both engines in")
	f.BoolVar(&quick, "quick", false, "smoke test: one preset, type and thread count, 1 repetition, short prompt")
	f.IntVar(&reps, "reps", 3, "repetitions (medians are reported)")
	f.IntVarP(&prompt, "prompt", "p", 128, "prompt tokens")
	f.IntVar(&ubatch, "ubatch", 0, "most prompt tokens per prefill step in both engines (llama-bench -ub; 0: its default, 512)")
	f.IntVarP(&gen, "gen", "n", 64, "generated tokens")
	f.IntVarP(&depth, "depth", "d", 0, "tokens already in the context when prefill and decode are timed (llama-bench -d)")
	f.StringVar(&cache, "cache", benchCacheDir(), "cache folder for the llama.cpp build and the models")
	f.StringVar(&vocabDir, "vocab-dir", "../shared/vocab", "folder with llama.cpp ggml-vocab-*.gguf files")
	f.StringVar(&llamaBench, "llama-bench", "", "use this llama-bench binary instead of building one")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// newBenchDayiRunCmd is the child process of compare: one timed dayi run,
// printed as JSON with the process's peak RSS.
func newBenchDayiRunCmd() *cobra.Command {
	var mf modelFlags
	var prompt, gen, depth, ubatch int
	var seed uint64
	var cpuProfile string
	cmd := &cobra.Command{
		Use:    "dayi-run --model FILE",
		Short:  "Time one prefill and decode run of dayi (the child process of compare)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := openModelFileWith(mf.model, weights.OpenOptions{NoMmap: mf.noMmap, Mlock: mf.mlock})
			if err != nil {
				return err
			}
			defer f.Close()
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			res, err := compare.MeasureDayi(cmd.Context(), f, compare.DayiOptions{
				Threads: mf.threads, Prompt: prompt, Gen: gen, Depth: depth, UBatch: ubatch, Backend: mf.backend, Seed: seed})
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
	mf.register(cmd)
	f := cmd.Flags()
	f.IntVarP(&prompt, "prompt", "p", 128, "prompt tokens")
	f.IntVar(&ubatch, "ubatch", 0, "most prompt tokens per prefill step (0: 512, llama-bench's default -ub)")
	f.IntVarP(&gen, "gen", "n", 64, "generated tokens")
	f.IntVarP(&depth, "depth", "d", 0, "untimed tokens in the context before the timed prompt and decode")
	f.Uint64Var(&seed, "seed", 1, "seed of the random prompt")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file")
	return cmd
}

func newBenchSynthCmd() *cobra.Command {
	var preset, typ, out, vocabDir string
	var seed uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "synth --preset NAME --type TYPE -o FILE",
		Short: "Write a seeded random-weight GGUF with real shapes and a real vocabulary",
		Long: "Presets: " + fmt.Sprint(synth.PresetNames()) + `
The vocabulary comes from llama.cpp's ggml-vocab-*.gguf files found in --vocab-dir.
Types: f32, f16, bf16 or any ggml type dayi can quantize to (q8_0, q4_0, q4_k…); 1-D tensors stay f32.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := synth.Preset(preset)
			if err != nil {
				return err
			}
			t, ok := weights.TypeByName(typ)
			if !ok {
				return fmt.Errorf("unknown type %q", typ)
			}
			if tr, _ := t.Traits(); tr.Quantize == nil && t != weights.TypeF32 {
				return fmt.Errorf("dayi cannot quantize to %s", t)
			}
			vf, err := weights.Open(filepath.Join(vocabDir, spec.VocabFile))
			if err != nil {
				return fmt.Errorf("vocabulary: %w", err)
			}
			defer vf.Close()
			typeFor := func(name string, dims []int64) weights.Type {
				if dims[0]%int64(t.BlockSize()) != 0 {
					return weights.TypeF16 // as llama.cpp's last-resort fallback
				}
				return t
			}
			err = weights.WriteFileAtomic(out, func(w io.Writer) error {
				return synth.Write(w, spec, vf, seed, typeFor, nil)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"preset": preset, "type": t.String(), "file": out, "seed": seed})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %s, seed %d)\n", out, preset, t, seed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&preset, "preset", "llama-1b", "model shape preset")
	f.StringVar(&typ, "type", "q4_0", "weight type")
	f.StringVarP(&out, "output", "o", "", "output GGUF file")
	f.StringVar(&vocabDir, "vocab-dir", "../shared/vocab", "folder with llama.cpp ggml-vocab-*.gguf files")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
