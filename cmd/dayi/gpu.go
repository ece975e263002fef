package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"dayi/engine/backend/cuda"
	"dayi/tokenizer"
	"dayi/weights"
)

// gpuFlags select the CUDA device (issue 23). The GPU path is a decode
// driver for llama, qwen2, qwen3 and gemma3 models (engine/backend/cuda): the
// prompt in steps of up to 32 tokens, then greedy decoding one token a step,
// an f16 or f32 (--kv-type) cache; the engine's scheduler, sampling and serve
// do not use it yet.
type gpuFlags struct {
	gpu     bool
	emulate bool
	device  int
}

func (g *gpuFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&g.gpu, "gpu", false, "run on an NVIDIA GPU (same as --backend cuda; llama/qwen2/qwen3/gemma3 models, greedy decoding; needs a binary built with -tags cuda)")
	f.IntVar(&g.device, "gpu-device", 0, "CUDA device ordinal for --gpu")
	f.BoolVar(&g.emulate, "gpu-emulate", false, "run the GPU kernels in the CPU emulator instead (slow; for tests)")
	_ = f.MarkHidden("gpu-emulate")
}

// wanted reports whether the command runs on the GPU.
func (g *gpuFlags) wanted(mf *modelFlags) bool { return g.gpu || g.emulate || mf.backend == "cuda" }

// errGPUCommand: --backend cuda on a command that has no GPU path.
var errGPUCommand = errors.New("--backend cuda: only `dayi run` and `dayi bench gpu` run on the GPU so far")

// gpuDevice opens the device: the CUDA driver, or the emulator.
func (g *gpuFlags) open() (cuda.Backend, string, func(), error) {
	if g.emulate {
		e, err := cuda.NewEmulated()
		if err != nil {
			return nil, "", nil, err
		}
		return e, e.Info().String(), func() {}, nil
	}
	d, err := cuda.Open(g.device)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--gpu: %w", err)
	}
	return d, d.Info().String(), func() { d.Close() }, nil
}

// gpuModel loads the model file onto the device.
func (g *gpuFlags) load(mf *modelFlags) (*cuda.Llama, *tokenizer.Tokenizer, string, func(), error) {
	dev, info, closeDev, err := g.open()
	if err != nil {
		return nil, nil, "", nil, err
	}
	f, err := openModelFileWith(mf.model, weights.OpenOptions{NoMmap: mf.noMmap, Mlock: mf.mlock})
	if err != nil {
		closeDev()
		return nil, nil, "", nil, err
	}
	done := func() { f.Close(); closeDev() }
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		done()
		return nil, nil, "", nil, err
	}
	ctx := mf.ctx
	if ctx <= 0 {
		ctx = int(min(f.Int(f.ArchKey("context_length"), 4096), 4096))
	}
	var f32Cache bool
	switch mf.kvType {
	case "", "f16":
	case "f32":
		f32Cache = true
	default:
		done()
		return nil, nil, "", nil, fmt.Errorf("--gpu: --kv-type %s: the GPU cache is f16 or f32", mf.kvType)
	}
	m, err := cuda.LoadLlamaWith(dev, f, cuda.Options{Ctx: ctx, F32Cache: f32Cache})
	if err != nil {
		done()
		return nil, nil, "", nil, err
	}
	return m, tok, info, done, nil
}

// runGPU completes prompt greedily on the GPU and streams the text.
func runGPU(cmd *cobra.Command, g *gpuFlags, mf *modelFlags, sf *samplingFlags, prompt string, asJSON bool) error {
	if sf.temp != 0 {
		return errors.New("--gpu decodes greedily for now: pass --temperature 0")
	}
	start := time.Now()
	m, tok, info, done, err := g.load(mf)
	if err != nil {
		return err
	}
	defer done()
	loadDur := time.Since(start)
	ids := tok.Encode(prompt, true, true)
	if len(ids) == 0 {
		return errors.New("empty prompt")
	}
	if len(ids) >= m.Ctx() {
		return fmt.Errorf("prompt of %d tokens does not fit the context of %d (--ctx)", len(ids), m.Ctx())
	}
	n := sf.n
	if n <= 0 || n > m.Ctx()-len(ids) {
		n = m.Ctx() - len(ids)
	}
	t0 := time.Now()
	var logits []float32
	pids := make([]int, len(ids))
	for i, id := range ids {
		pids[i] = int(id)
	}
	if logits, err = m.Prefill(pids); err != nil {
		return err
	}
	promptDur := time.Since(t0)
	out := cmd.OutOrStdout()
	stream := tok.NewStream()
	var gen []int32
	t1 := time.Now()
	reason := "length"
	for len(gen) < n {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		next := int32(argmax(logits))
		if tok.IsEOG(next) {
			reason = "stop"
			break
		}
		gen = append(gen, next)
		if piece := stream.Add(next); piece != "" && !asJSON {
			if _, err := io.WriteString(out, piece); err != nil {
				return err
			}
		}
		if len(gen) == n {
			break
		}
		if logits, err = m.Step(int(next)); err != nil {
			return err
		}
	}
	evalDur := time.Since(t1)
	if asJSON {
		return printJSON(out, map[string]any{
			"response": tok.Decode(gen), "done_reason": reason, "device": info,
			"prompt_eval_count": len(ids), "prompt_eval_duration": promptDur.Nanoseconds(),
			"eval_count": len(gen), "eval_duration": evalDur.Nanoseconds(), "load_duration": loadDur.Nanoseconds(),
			"tokens": slices.Clone(gen),
		})
	}
	_, err = fmt.Fprintln(out, stream.Flush())
	return err
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// newBenchGPUCmd times decode steps on the GPU.
func newBenchGPUCmd() *cobra.Command {
	var mf modelFlags
	var g gpuFlags
	var prompt, gen int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gpu --model FILE",
		Short: "Time prompt and decode steps of a model on the GPU (--gpu-device; built with -tags cuda)",
		Long: `gpu loads the model onto the GPU, evaluates --prompt tokens (in steps of up to 32, each matrix read
once a step), then times --gen greedy decode steps (each one token: every kernel launch plus the
logits copied back). It prints the device, load time, and prompt and decode tokens per second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.gpu = true
			start := time.Now()
			m, _, info, done, err := g.load(&mf)
			if err != nil {
				return err
			}
			defer done()
			loadDur := time.Since(start)
			if prompt+gen > m.Ctx() {
				return fmt.Errorf("--prompt %d + --gen %d exceed the context of %d (--ctx)", prompt, gen, m.Ctx())
			}
			var logits []float32
			ids := make([]int, prompt)
			for i := range ids {
				ids[i] = 1 + i%(m.Vocab()-1)
			}
			t0 := time.Now()
			if prompt > 0 {
				if logits, err = m.Prefill(ids); err != nil {
					return err
				}
			}
			promptDur := time.Since(t0)
			next := 1
			if logits != nil {
				next = argmax(logits)
			}
			steps := make([]time.Duration, 0, gen)
			for i := 0; i < gen; i++ {
				t := time.Now()
				if logits, err = m.Step(next); err != nil {
					return err
				}
				steps = append(steps, time.Since(t))
				next = argmax(logits)
			}
			slices.Sort(steps)
			var total time.Duration
			for _, s := range steps {
				total += s
			}
			res := map[string]any{"device": info, "model": mf.model, "load_s": loadDur.Seconds(),
				"prompt_tokens": prompt, "prompt_tok_s": float64(prompt) / promptDur.Seconds(), "gen_tokens": gen}
			if gen > 0 {
				res["decode_tok_s"] = float64(gen) / total.Seconds()
				res["decode_median_ms"] = float64(steps[gen/2].Microseconds()) / 1000
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "device: %s\nload: %.2f s\nprompt: %d tokens, %.1f tok/s\n", info, loadDur.Seconds(), prompt, res["prompt_tok_s"])
			if gen > 0 {
				fmt.Fprintf(w, "decode: %d tokens, %.1f tok/s, median step %.3f ms\n", gen, res["decode_tok_s"], res["decode_median_ms"])
			}
			return nil
		},
	}
	mf.register(cmd)
	g.register(cmd)
	f := cmd.Flags()
	f.IntVarP(&prompt, "prompt", "p", 128, "prompt tokens (evaluated in steps of up to 32)")
	f.IntVarP(&gen, "gen", "n", 64, "timed decode steps")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
