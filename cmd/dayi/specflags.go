package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"dayi/engine"
	"dayi/weights"
)

// specFlags are the speculative decoding flags of run and serve (issue 17,
// item 5; engine/speculative.go).
type specFlags struct {
	draft              string
	mode               string
	draftMax, draftMin int
	ngramMin, ngramMax int
	pMin               float32
}

func (sf *specFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.draft, "draft", "", "draft model for speculative decoding: a smaller GGUF with the same vocabulary (file, store name, or dayi-tiny) that proposes tokens the model verifies several per step: greedy output is unchanged, sampled output keeps its distribution, and it is faster when most proposals are accepted")
	f.StringVar(&sf.mode, "spec", "", `speculative decoding without a draft model: "ngram" proposes what followed the last 1-3 tokens where they occur earlier in the prompt or output (notes that copy a transcript); "draft" is implied by --draft`)
	f.IntVar(&sf.draftMax, "draft-max", 0, fmt.Sprintf("most tokens proposed per verification step (0 = %d with --draft, %d with --spec ngram; at most 64)", engine.DefaultDraftMax, engine.DefaultNGramDraftMax))
	f.IntVar(&sf.draftMin, "draft-min", 0, "fewest proposed tokens worth a verification step; shorter proposals are dropped and the token decoded plainly (0 = 1)")
	f.Float32Var(&sf.pMin, "draft-p-min", engine.DefaultDraftPMin, "--draft: stop a proposal when the draft model's top probability falls below this (llama.cpp's --draft-p-min; 0 = never)")
	f.IntVar(&sf.ngramMin, "spec-ngram-min", 0, fmt.Sprintf("--spec ngram: shortest suffix looked up (0 = %d)", engine.DefaultNGramMin))
	f.IntVar(&sf.ngramMax, "spec-ngram-max", 0, fmt.Sprintf("--spec ngram: longest suffix looked up, tried first (0 = %d)", engine.DefaultNGramMax))
}

// speculation returns the engine's configuration, loading the draft model
// with the target's engine options (its own context length unless --ctx
// names one); nil when speculation is off. close frees the draft.
func (sf *specFlags) speculation(opt engine.Options, open weights.OpenOptions) (sp *engine.Speculation, close func(), err error) {
	close = func() {}
	mode := sf.mode
	switch {
	case mode == "" && sf.draft != "":
		mode = "draft"
	case mode == "":
		if sf.draftMax != 0 || sf.draftMin != 0 {
			return nil, close, fmt.Errorf("--draft-max/--draft-min need --draft or --spec ngram")
		}
		return nil, close, nil
	}
	sp = &engine.Speculation{DraftMax: sf.draftMax, DraftMin: sf.draftMin, NGramMin: sf.ngramMin, NGramMax: sf.ngramMax, PMin: sf.pMin}
	if sf.pMin <= 0 {
		sp.PMin = -1 // engine: 0 is the default, < 0 never stops
	}
	switch mode {
	case "ngram":
		if sf.draft != "" {
			return nil, close, fmt.Errorf("--spec ngram and --draft: choose one")
		}
		sp.NGram = true
	case "draft":
		if sf.draft == "" {
			return nil, close, fmt.Errorf("--spec draft needs --draft MODEL")
		}
		f, err := openModelFileWith(sf.draft, open)
		if err != nil {
			return nil, close, fmt.Errorf("--draft: %w", err)
		}
		if n := f.Uint(f.ArchKey("context_length"), 0); n > 0 && opt.ContextLength > int(n) {
			// A draft trained on a shorter context drafts while the
			// sequence fits it (engine: no proposals past its end).
			opt.ContextLength = int(n)
		}
		m, err := engine.Load(f, opt)
		if err != nil {
			f.Close()
			return nil, close, fmt.Errorf("--draft %s: %w", f.Path, err)
		}
		lm, err := engine.NewLM(m)
		if err != nil {
			m.Close()
			f.Close()
			return nil, close, fmt.Errorf("--draft %s: %w", f.Path, err)
		}
		sp.Draft = lm
		close = func() { m.Close(); f.Close() }
	default:
		return nil, close, fmt.Errorf("--spec %q: want ngram or draft", sf.mode)
	}
	return sp, close, nil
}

// printSpecStats adds the speculative decoding lines to --verbose.
func printSpecStats(w io.Writer, res *engine.Result) {
	if res.Drafted == 0 {
		return
	}
	fmt.Fprintf(w, "draft tokens:         %d proposed, %d accepted (%.1f %%)\n", res.Drafted, res.DraftAccepted,
		100*float64(res.DraftAccepted)/float64(res.Drafted))
}

// speculate turns on the speculation spf asks for in lm, loading a draft
// model with mf's engine settings (the draft lives as long as the process).
func (mf *modelFlags) speculate(lm *engine.LM, spf *specFlags) error {
	opt := engine.Options{Backend: mf.backend, Threads: mf.threads, ContextLength: mf.ctx, KVType: mf.kvType, PrefixCacheBytes: mf.prefix}
	sp, _, err := spf.speculation(opt, weights.OpenOptions{NoMmap: mf.noMmap, Mlock: mf.mlock})
	if err != nil || sp == nil {
		return err
	}
	return lm.SetSpeculation(*sp)
}
