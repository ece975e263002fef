package compare

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"dayi/engine"
	"dayi/weights"
)

// DayiResult is one in-process dayi run, as llama-bench's pp/tg pair.
type DayiResult struct {
	PrefillTPS float64 `json:"prefill_tps"`
	// FirstPrefillTPS is the first prompt after loading (and after the
	// depth fill), before any untimed warm-up of ours: what `dayi run`
	// meets. The load-time warm-up (engine/warmup.go) is in LoadSec.
	FirstPrefillTPS float64 `json:"first_prefill_tps"`
	DecodeTPS       float64 `json:"decode_tps"`
	PeakRSS         int64   `json:"peak_rss"` // VmHWM of the process, bytes
	LoadSec         float64 `json:"load_s"`
	// DecodeFrom is the context position the timed decode started at:
	// the depth, as llama-bench's tg test.
	DecodeFrom int `json:"decode_from"`
}

// DayiOptions shape a dayi run.
type DayiOptions struct {
	Threads int
	Prompt  int // tokens, evaluated in UBatch-sized prefill steps
	Gen     int // greedy decode steps after the prompt
	// UBatch is the most tokens of one prefill step (0: DefaultUBatch),
	// as llama-bench's -ub.
	UBatch int
	// Depth tokens (random ids) fill the context, untimed, before the
	// prompt and the decode steps are timed (llama-bench -d).
	Depth   int
	Backend string
	Seed    uint64
}

// DefaultUBatch is llama-bench's default -ub (n_ubatch): a longer prompt
// runs as steps of this many tokens in both engines.
const DefaultUBatch = 512

// MeasureDayi loads f and times a prompt of opt.Prompt random token ids in
// prefill steps of at most opt.UBatch tokens, then (the prompt dropped
// again, as llama-bench's tg test starts at the depth) opt.Gen greedy
// decode steps, after a warm-up of both
// graph sizes (llama-bench also warms up; the warm-up's prompt is timed too,
// as FirstPrefillTPS) and, with opt.Depth, after
// opt.Depth untimed tokens (in prompt-sized steps) that the timed steps
// attend to. The context is the smallest
// multiple of 256 that holds the run (llama.cpp pads its KV cache the same
// way), F16 KV as llama.cpp's default.
func MeasureDayi(ctx context.Context, f *weights.File, opt DayiOptions) (DayiResult, error) {
	var res DayiResult
	if opt.Prompt < 1 || opt.Gen < 1 {
		return res, fmt.Errorf("prompt %d and gen %d tokens: both must be positive", opt.Prompt, opt.Gen)
	}
	if opt.Depth < 0 {
		return res, fmt.Errorf("depth %d: must not be negative", opt.Depth)
	}
	if opt.UBatch < 0 {
		return res, fmt.Errorf("ubatch %d: must not be negative", opt.UBatch)
	}
	ub := opt.UBatch
	if ub == 0 {
		ub = DefaultUBatch
	}
	step := []int{min(ub, opt.Prompt)}
	start := time.Now()
	n := opt.Depth + opt.Prompt + opt.Gen
	ctxLen := (n + 255) / 256 * 256
	// llama-bench runs past the context a model was trained for (-d 4096
	// on a preset of 4096 tokens), and so does this.
	m, err := engine.Load(f, engine.Options{Backend: opt.Backend, Threads: opt.Threads, KVType: "f16",
		ContextLength: ctxLen, OverTrainedContext: true, Buckets: step})
	if err != nil {
		return res, fmt.Errorf("%s: %w", f.Path, err)
	}
	res.LoadSec = time.Since(start).Seconds()
	s, err := m.NewSession()
	if err != nil {
		return res, err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	prompt := make([]int32, opt.Prompt)
	for i := range prompt {
		prompt[i] = int32(rng.IntN(m.Hyper.Vocab))
	}
	fill := make([]int32, opt.Depth)
	for i := range fill {
		fill[i] = int32(rng.IntN(m.Hyper.Vocab))
	}
	fillDepth := func() error {
		if opt.Depth == 0 {
			return nil
		}
		if _, err := s.Eval(ctx, fill); err != nil {
			return fmt.Errorf("filling the context to depth %d: %w", opt.Depth, err)
		}
		return nil
	}
	if err := fillDepth(); err != nil {
		return res, err
	}
	// warm-up: run both step graphs once; the prompt is the first one this
	// loaded model sees, so it is also the cold figure
	t00 := time.Now()
	logits, err := s.Eval(ctx, prompt)
	if err != nil {
		return res, err
	}
	res.FirstPrefillTPS = float64(opt.Prompt) / time.Since(t00).Seconds()
	if _, err := s.Eval(ctx, []int32{argmax(logits)}); err != nil {
		return res, err
	}
	// rewind drops everything after the depth fill.
	rewind := func() error {
		err := s.Truncate(opt.Depth)
		if errors.Is(err, engine.ErrRewind) {
			// Compact sliding-window caches (gemma3 at a context of 4
			// windows or more) keep too few rows to rewind past a
			// prompt: fill the depth again, as llama-bench does every
			// repetition.
			s.Reset()
			return fillDepth()
		}
		return err
	}
	if err := rewind(); err != nil {
		return res, err
	}

	t0 := time.Now()
	logits, err = s.Eval(ctx, prompt)
	if err != nil {
		return res, err
	}
	res.PrefillTPS = float64(opt.Prompt) / time.Since(t0).Seconds()
	// Decode is timed at the depth too, not after the prompt: llama-bench's
	// tg test starts from the depth fill, and a 2048-token prompt would
	// otherwise compare dayi's decode at 2048 positions with llama.cpp's
	// at 0 (the AMX Xeon tables of 2026-12-06 did).
	if err := rewind(); err != nil {
		return res, err
	}
	res.DecodeFrom = s.Pos()
	t1 := time.Now()
	for i := 0; i < opt.Gen; i++ {
		if logits, err = s.Eval(ctx, []int32{argmax(logits)}); err != nil {
			return res, err
		}
	}
	res.DecodeTPS = float64(opt.Gen) / time.Since(t1).Seconds()
	res.PeakRSS = SelfPeakRSS()
	return res, nil
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// WeightBytesPerToken is the number of weight bytes a decode step reads:
// every tensor except the token embedding, of which one row is read, unless
// the output projection is tied to it (then all of it is read as the output).
func WeightBytesPerToken(f *weights.File) int64 {
	_, hasOutput := f.Tensor("output.weight")
	var n int64
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Name == "token_embd.weight" && hasOutput {
			rows, _ := t.Rows()
			if rows > 0 {
				n += t.Size / rows
			}
			continue
		}
		n += t.Size
	}
	return n
}
