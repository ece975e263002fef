package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/engine/sample"
	"dayi/weights"
)

// modelFlags are the flags every command that loads a model shares.
type modelFlags struct {
	model   string
	backend string
	threads int
	ctx     int
	kvType  string
	noMmap  bool
	mlock   bool
	prefix  int64 // engine.Options.PrefixCacheBytes (run: --prefix-cache-mb)
}

func (mf *modelFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&mf.model, "model", "m", "", "GGUF model file (default: the embedded dayi-tiny model)")
	f.StringVar(&mf.backend, "backend", "", "GoMLX backend: dayi (default), go (portable simplego), or $GOMLX_BACKEND; cuda = --gpu (run, bench gpu)")
	f.IntVarP(&mf.threads, "threads", "t", 0, "CPU threads (0 = all cores)")
	f.IntVarP(&mf.ctx, "ctx", "c", 0, "context length in tokens (0 = the model's)")
	f.StringVar(&mf.kvType, "kv-type", "f16", "KV cache type: f16, f32, q8_0 or q4_0 (q8_0/q4_0: llama.cpp's quantized caches, dayi backend, head size a multiple of 32; no context shift)")
	f.BoolVar(&mf.noMmap, "no-mmap", false, "read the whole file into private memory instead of mapping it (the weights the model computes with get a private, repacked copy either way)")
	f.BoolVar(&mf.mlock, "mlock", false, "pin the weights in RAM (needs RLIMIT_MEMLOCK to cover the model)")
}

// load opens and prepares the model.
func (mf *modelFlags) load() (*engine.LM, time.Duration, error) {
	if mf.backend == "cuda" {
		return nil, 0, errGPUCommand
	}
	start := time.Now()
	f, err := openModelFileWith(mf.model, weights.OpenOptions{NoMmap: mf.noMmap, Mlock: mf.mlock})
	if err != nil {
		return nil, 0, err
	}
	m, err := engine.Load(f, engine.Options{Backend: mf.backend, Threads: mf.threads, ContextLength: mf.ctx, KVType: mf.kvType, PrefixCacheBytes: mf.prefix})
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return lm, time.Since(start), nil
}

type samplingFlags struct {
	n                                  int
	temp, topP, minP, repeat, presence float32
	frequency                          float32
	topK, repeatLastN                  int
	seed                               int64
	stop                               []string
	format                             string
}

func (sf *samplingFlags) register(cmd *cobra.Command) {
	d := sample.DefaultOptions()
	f := cmd.Flags()
	f.IntVarP(&sf.n, "num-predict", "n", 0, "maximum tokens to generate (0 = until end of text; with --no-ctx-shift also the end of the context)")
	f.Float32Var(&sf.temp, "temperature", d.Temperature, "sampling temperature (0 = greedy)")
	f.IntVar(&sf.topK, "top-k", d.TopK, "top-k sampling (0 = off)")
	f.Float32Var(&sf.topP, "top-p", d.TopP, "top-p sampling (1 = off)")
	f.Float32Var(&sf.minP, "min-p", d.MinP, "min-p sampling (0 = off)")
	f.Float32Var(&sf.repeat, "repeat-penalty", d.RepeatPenalty, "repeat penalty (1 = off)")
	f.Float32Var(&sf.presence, "presence-penalty", 0, "presence penalty")
	f.Float32Var(&sf.frequency, "frequency-penalty", 0, "frequency penalty")
	f.IntVar(&sf.repeatLastN, "repeat-last-n", d.RepeatLastN, "penalty window in tokens (-1 = whole context)")
	f.Int64Var(&sf.seed, "seed", -1, "random seed (-1 = random; same seed, same text)")
	f.StringArrayVar(&sf.stop, "stop", nil, "stop string (repeatable)")
	f.StringVar(&sf.format, "format", "", `constrain output: "json" or a JSON schema (inline or @file)`)
}

func (sf *samplingFlags) request() (*engine.Request, error) {
	req := &engine.Request{
		MaxTokens: sf.n,
		Stop:      sf.stop,
		Sampling: sample.Options{
			Temperature: sf.temp, TopK: sf.topK, TopP: sf.topP, MinP: sf.minP, TypicalP: 1,
			RepeatPenalty: sf.repeat, PresencePenalty: sf.presence, FrequencyPenalty: sf.frequency,
			RepeatLastN: sf.repeatLastN, Seed: sf.seed,
		},
	}
	switch {
	case sf.format == "":
	case sf.format == "json":
		req.Format = []byte(`"json"`)
	case strings.HasPrefix(sf.format, "@"):
		b, err := os.ReadFile(sf.format[1:])
		if err != nil {
			return nil, fmt.Errorf("--format: %w", err)
		}
		req.Format = b
	default:
		req.Format = []byte(sf.format)
	}
	return req, nil
}

func newRunCmd() *cobra.Command {
	var mf modelFlags
	var sf samplingFlags
	var kv kvFlags
	var spf specFlags
	var gpu gpuFlags
	var verbose, chatMode, asJSON bool
	var system, template, cpuProfile string
	var imagePaths []string
	var mmproj string
	cmd := &cobra.Command{
		Use:   "run [flags] [PROMPT]",
		Short: "Generate text from a prompt (or chat interactively)",
		Long: `run completes PROMPT (from the arguments, else stdin) with the model and streams the text to stdout.
Without --model it runs the embedded dayi-tiny story model. With --chat the prompt is a user message
rendered with the model's chat template. With no prompt on a terminal it starts an interactive chat.
--verbose prints Ollama's timing lines to stderr after the text.
--image FILE (repeatable) adds images for a vision model paired with --mmproj P.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			prompt := strings.Join(args, " ")
			interactive := false
			if len(args) == 0 {
				if term.IsTerminal(int(os.Stdin.Fd())) {
					interactive = true
				} else {
					b, err := io.ReadAll(cmd.InOrStdin())
					if err != nil {
						return err
					}
					prompt = string(b)
				}
			}
			if gpu.wanted(&mf) {
				if interactive || chatMode {
					return errors.New("--gpu completes a prompt (no --chat or interactive chat yet)")
				}
				if len(imagePaths) > 0 || spf.draft != "" || spf.mode != "" {
					return errors.New("--gpu runs text prompts with plain decoding (no --image, --draft or --spec yet)")
				}
				return runGPU(cmd, &gpu, &mf, &sf, prompt, asJSON)
			}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			images, err := readImages(imagePaths) // before the model loads: a bad file fails fast
			if err != nil {
				return err
			}
			if interactive && len(images) > 0 {
				return fmt.Errorf("--image needs a prompt (the interactive chat takes text only)")
			}
			if prompt, err = placeRunImages(prompt, len(images)); err != nil {
				return err
			}
			mf.prefix = kv.prefixBytes()
			lm, loadDur, err := mf.load()
			if err != nil {
				return err
			}
			closeProj, err := attachProjector(lm, mf.model, mmproj, len(images))
			if err != nil {
				return err
			}
			defer closeProj()
			if err := mf.speculate(lm, &spf); err != nil {
				return err
			}
			req, err := sf.request()
			if err != nil {
				return err
			}
			req.Template = template
			req.Shift, req.NumKeep = !kv.noShift, kv.keep
			req.Images = images
			out := cmd.OutOrStdout()
			if interactive {
				return interactiveChat(ctx, lm, req, system, cmd.InOrStdin(), out)
			}
			if chatMode {
				var msgs []chat.Message
				if system != "" {
					msgs = append(msgs, chat.Message{Role: "system", Content: system})
				}
				req.Messages = append(msgs, chat.Message{Role: "user", Content: prompt})
			} else {
				req.Prompt = prompt
			}
			start := time.Now()
			var sink func(string) error = func(s string) error { _, err := io.WriteString(out, s); return err }
			if asJSON {
				sink = func(string) error { return nil }
			}
			res, err := lm.Generate(ctx, req, sink)
			if err != nil {
				return err
			}
			total := time.Since(start) + loadDur
			if asJSON {
				return printJSON(out, map[string]any{
					"response": res.Text, "done_reason": res.DoneReason,
					"prompt_eval_count": res.PromptTokens, "prompt_eval_duration": res.PromptDuration.Nanoseconds(),
					"eval_count": len(res.Tokens), "eval_duration": res.EvalDuration.Nanoseconds(),
					"load_duration": loadDur.Nanoseconds(), "total_duration": total.Nanoseconds(),
					"draft_count": res.Drafted, "draft_accepted": res.DraftAccepted,
				})
			}
			if !strings.HasSuffix(res.Text, "\n") {
				fmt.Fprintln(out)
			}
			if verbose {
				printStats(cmd.ErrOrStderr(), res, loadDur, total)
			}
			return nil
		},
	}
	mf.register(cmd)
	sf.register(cmd)
	gpu.register(cmd)
	kv.registerCache(cmd)
	kv.registerShift(cmd, true)
	spf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&verbose, "verbose", false, "print timings (Ollama's format) to stderr")
	f.BoolVar(&chatMode, "chat", false, "treat the prompt as a chat message (uses the chat template)")
	f.StringVar(&system, "system", "", "system prompt for chat")
	f.StringVar(&template, "template", "", "chat template name overriding the model's (chatml, llama3, gemma…)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (Ollama's generate response fields) instead of streaming")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file (for performance work)")
	f.StringArrayVar(&imagePaths, "image", nil, "an image (PNG, JPEG or uncompressed DICOM) for a vision model, placed before the prompt text or at its [img] placeholders (repeatable)")
	f.StringVar(&mmproj, "mmproj", "", "vision projector GGUF (llama.cpp's mmproj) for --image (default: a sibling mmproj-*.gguf, or the Ollama model's projector)")
	return cmd
}

// printStats writes Ollama's --verbose lines.
func printStats(w io.Writer, res *engine.Result, load, total time.Duration) {
	rate := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	fmt.Fprintf(w, "total duration:       %v\n", total)
	fmt.Fprintf(w, "load duration:        %v\n", load)
	fmt.Fprintf(w, "prompt eval count:    %d token(s)\n", res.PromptTokens)
	fmt.Fprintf(w, "prompt eval duration: %v\n", res.PromptDuration)
	fmt.Fprintf(w, "prompt eval rate:     %.2f tokens/s\n", rate(res.PromptTokens, res.PromptDuration))
	fmt.Fprintf(w, "eval count:           %d token(s)\n", len(res.Tokens))
	fmt.Fprintf(w, "eval duration:        %v\n", res.EvalDuration)
	fmt.Fprintf(w, "eval rate:            %.2f tokens/s\n", rate(len(res.Tokens), res.EvalDuration))
	printSpecStats(w, res)
}

// interactiveChat is a line-based chat on a terminal. Models without a chat
// template get plain completion of each line.
func interactiveChat(ctx context.Context, lm *engine.LM, base *engine.Request, system string, in io.Reader, out io.Writer) error {
	fmt.Fprintln(out, "dayi chat — type a message, /bye to leave. dayi supports clinicians; it does not replace them.")
	var msgs []chat.Message
	if system != "" {
		msgs = append(msgs, chat.Message{Role: "system", Content: system})
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for {
		fmt.Fprint(out, ">>> ")
		if !sc.Scan() {
			fmt.Fprintln(out)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if line == "/bye" || line == "/exit" {
			return nil
		}
		req := *base
		if lm.Template != nil || base.Template != "" {
			msgs = append(msgs, chat.Message{Role: "user", Content: line})
			req.Messages = msgs
		} else {
			req.Prompt = line
		}
		res, err := lm.Generate(ctx, &req, func(s string) error { _, err := io.WriteString(out, s); return err })
		if err != nil {
			fmt.Fprintln(out, "\nerror:", err)
			if req.Messages != nil {
				msgs = msgs[:len(msgs)-1]
			}
			continue
		}
		fmt.Fprintln(out)
		if req.Messages != nil {
			msgs = append(msgs, chat.Message{Role: "assistant", Content: res.Text})
		}
	}
}

// startCPUProfile starts a Go CPU profile into path (none when path is
// empty) and returns the function that stops and closes it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	pf, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); pf.Close() }, nil
}
