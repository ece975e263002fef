package engine

import (
	"context"
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// Session is one sequence's state: its KV cache (in backend buffers updated in
// place) and position. A Session is not safe for concurrent use; many sessions
// of one Model may run concurrently.
type Session struct {
	m      *Model
	pos    int
	kv     []backends.Buffer // K for every layer, then V
	kvBack []backends.Buffer // kv's backing array while a step has the buffers
	// base is, per cache view (Hyper.Caches), the position held in row 0
	// of its buffers: 0 unless the view is a compact sliding window (swa.go).
	base    []int
	scratch StepScratch // host staging reused across steps
	logits  []float32
	rows    []float32 // EvalRows: [rows, vocab] logits of the last verification step
	hidden  []float32 // embedding mode: [rows, dim] of the last step
	// segs are the lengths of the texts packed into an encoder's step
	// (encoder.go); nil: one text.
	segs []int
	plan []int // feed's step sizes (planSteps), reused
}

// zeroedBufferer is implemented by backends that make a zeroed buffer
// without copying one in (dayi's: backend.NewZeroedBuffer).
type zeroedBufferer interface {
	NewZeroedBuffer(shapes.Shape) (backends.Buffer, error)
}

// NewSession allocates a zeroed KV cache of the model's context length
// (window-sized for compact sliding-window layers: swa.go).
func (m *Model) NewSession() (*Session, error) {
	h := m.Hyper
	s := &Session{m: m, logits: make([]float32, h.Vocab), base: make([]int, len(h.Caches))}
	zb, _ := m.backend.(zeroedBufferer)
	for i := 0; i < 2*h.Layers; i++ {
		l := i % h.Layers
		shape := m.kvShape(l, m.cacheRows(l))
		var buf backends.Buffer
		var err error
		if zb != nil {
			buf, err = zb.NewZeroedBuffer(shape)
		} else {
			var flat any
			n := shape.Size()
			switch m.kvDType {
			case dtypes.Float16:
				flat = make([]float16.Float16, n)
			case dtypes.Uint8:
				flat = make([]uint8, n) // q8_0/q4_0 blocks
			default:
				flat = make([]float32, n)
			}
			buf, err = m.backend.BufferFromFlatData(0, flat, shape)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("KV cache: %w", err)
		}
		s.kv = append(s.kv, buf)
	}
	return s, nil
}

// Close frees the KV cache.
func (s *Session) Close() {
	for _, b := range s.kv {
		if b != nil {
			_ = s.m.backend.BufferFinalize(b)
		}
	}
	s.kv = nil
}

// Pos is the number of tokens evaluated so far.
func (s *Session) Pos() int { return s.pos }

// Reset forgets the sequence (the cache content is overwritten as it refills).
func (s *Session) Reset() {
	s.pos = 0
	clear(s.base)
}

// Truncate rewinds the session to n tokens (n ≤ Pos), keeping the cache
// prefix: the next Eval continues at position n. This is the rollback of a
// speculative step's rejected tokens, and it is exact for every cache type
// (f16, f32, q8_0, q4_0): the cache holds one independent row (or row of
// blocks) per position, a step only writes the rows of its own positions, and
// the mask hides every row past a query's position (fillMask), so rows left
// past n are never read and are overwritten as the session refills.
//
// A compact sliding-window cache (swa.go) holds only the last positions: a
// rewind that needs rows it has dropped fails with ErrRewind and leaves the
// session as it was. Any rewind of up to Sw - Tmax - (W-1) tokens (at least
// maxDraft, a speculative step's proposals) succeeds.
func (s *Session) Truncate(n int) error {
	if n < 0 || n > s.pos {
		return fmt.Errorf("truncate to %d: session has %d tokens", n, s.pos)
	}
	if !s.canRewind(n) {
		return fmt.Errorf("truncate to %d of %d tokens: %w", n, s.pos, ErrRewind)
	}
	if n == 0 {
		clear(s.base)
	}
	s.pos = n
	return nil
}

// EvalRows feeds ids (at least two) in one step and returns the logits of
// every one of them ([len(ids), vocab], row-major: row i predicts the token
// after ids[i]), for a speculative verification step. The step has exactly
// len(ids) rows (a graph per length, built by SetSpeculation or on first
// use): on a CPU a step's cost grows with its rows (1B q4_0, one thread,
// docs/speculative.md: 2 rows 1.1×, 4 rows 1.3×, 8 rows 2.1× a one-row
// step), so padding a proposal to a power of two would cost more than the
// compilations. The returned slice is reused by the next call.
func (s *Session) EvalRows(ctx context.Context, ids []int32) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ids) < 2 || s.m.enc != nil {
		return nil, fmt.Errorf("eval rows: %d tokens (want ≥ 2, decoder models only)", len(ids))
	}
	T := len(ids)
	if s.pos+T > s.m.Ctx {
		return nil, fmt.Errorf("%w: a %d-row step at position %d exceeds the context length %d", ErrContextFull, T, s.pos, s.m.Ctx)
	}
	if err := s.step(ids, graphKey{T: T, all: true}); err != nil {
		return nil, err
	}
	return s.rows, nil
}

// Eval feeds ids at the current position and returns the logits predicting
// the token after the last one. The returned slice is reused by the next call.
func (s *Session) Eval(ctx context.Context, ids []int32) ([]float32, error) {
	if err := s.feed(ctx, ids, false, nil); err != nil {
		return nil, err
	}
	return s.logits, nil
}

// Hidden feeds ids like Eval and returns the final-norm hidden state of every
// one of them ([len(ids), dim], row-major), for embeddings.
func (s *Session) Hidden(ctx context.Context, ids []int32) ([]float32, error) {
	out := make([]float32, 0, len(ids)*s.m.Hyper.Dim)
	if err := s.feed(ctx, ids, true, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// feed evaluates ids in steps of the compiled sizes; with hidden it appends
// every row's hidden state to out, else it leaves the last row's logits.
func (s *Session) feed(ctx context.Context, ids []int32, hidden bool, out *[]float32) error {
	if len(ids) == 0 {
		return fmt.Errorf("eval: no tokens")
	}
	if s.pos+len(ids) > s.m.Ctx {
		return fmt.Errorf("%w: %d tokens at position %d exceed the context length %d", ErrContextFull, len(ids), s.pos, s.m.Ctx)
	}
	if s.m.enc != nil {
		return s.encode(ctx, ids, hidden, out)
	}
	if len(ids) == 1 {
		s.plan = append(s.plan[:0], 1)
	} else {
		s.plan = s.m.planSteps(s.plan[:0], len(ids), s.m.Ctx-s.pos)
	}
	for _, T := range s.plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(T, len(ids))
		if err := s.step(ids[:n], graphKey{T: T, hidden: hidden}); err != nil {
			return err
		}
		if hidden {
			*out = append(*out, s.hidden[:n*s.m.Hyper.Dim]...)
		}
		ids = ids[n:]
	}
	return nil
}

// stepOverheadRows is what one more prefill step costs, in prompt rows: a
// step streams every weight once whatever its rows (llama-1b q4_0: 0.64 GB,
// ~21 ms at the 2-core AMX VM's 30 GB/s, the compute of ~9 rows there;
// an 8B ~6 rows), plus the graph's dispatch.
const stepOverheadRows = 8

// stepMinRows is the smallest step a prompt of more rows is split into:
// from 16 rows every matmul takes the batched 16-row kernels (kernels/
// plan.go; from 8 rows), whose results per row do not depend on the step's
// rows, so a prompt split into such steps gives the logits one step of
// all its rows would: bit for bit with an f32 cache; the f16 cache's
// attention sums follow the step's query count and may differ in the last
// place (TestStepSplitKeepsLogits).
const stepMinRows = 16

// planSteps appends to dst the graph sizes (buckets, or 1 for a single
// token) of the steps that feed n tokens with room cells left. A graph has
// a fixed number of rows; the rows a step does not use are computed all
// the same, so padding a 128-token prompt to a 256-row graph halves its
// speed (llama-1b q4_0, 2 threads: 230 tok/s where a 128-row graph gives
// 430). The largest bucket that fits runs while the tokens fill it; the
// rest is the sequence of steps that costs the fewest rows, padding
// included, plus stepOverheadRows per step (default buckets: 100 tokens
// as one step of 128, 130 as 128 + 16, 40 as 32 + 16; TestStepSize). Steps
// below stepMinRows rows serve
// prompts that short, and otherwise only where no larger bucket fits the
// room left; single steps where no bucket does.
func (m *Model) planSteps(dst []int, n, room int) []int {
	fits := func(b, left int) bool { // b rows for left of the n tokens
		return b <= room-(n-left) && (b >= stepMinRows || n <= stepMinRows || !m.fitsBucket(stepMinRows, room-(n-left)))
	}
	left := n
	for left > 0 {
		big := 0
		for _, b := range m.buckets {
			if fits(b, left) {
				big = b
			}
		}
		if big == 0 || left < big {
			break
		}
		dst = append(dst, big)
		left -= big
	}
	if left == 0 {
		return dst
	}
	// cost[r]: the fewest rows (padding and per-step overhead included)
	// that the last r tokens take; first[r]: the size of the first step
	// there (0: no bucket fits, single steps). Larger buckets are tried
	// first and win ties: fewer steps.
	cost := make([]int, left+1)
	first := make([]int, left+1)
	for r := 1; r <= left; r++ {
		for i := len(m.buckets) - 1; i >= 0; i-- {
			b := m.buckets[i]
			if !fits(b, r) {
				continue
			}
			if c := b + stepOverheadRows + cost[max(0, r-b)]; first[r] == 0 || c < cost[r] {
				cost[r], first[r] = c, b
			}
		}
		if first[r] == 0 {
			cost[r] = 1 + stepOverheadRows + cost[r-1]
		}
	}
	for r := left; r > 0; {
		b := max(first[r], 1)
		dst = append(dst, b)
		r -= min(b, r)
	}
	return dst
}

// fitsBucket says whether a bucket of at least min rows fits room.
func (m *Model) fitsBucket(min, room int) bool {
	for _, b := range m.buckets {
		if b >= min && b <= room {
			return true
		}
	}
	return false
}

func (s *Session) step(ids []int32, key graphKey) error {
	return s.m.stepSeqs(key, []*Session{s}, [][]int32{ids}, &s.scratch)
}

// DecodeBatch feeds one token to each session in one batched step (the
// weights are read once for all of them) and leaves each session's logits in
// its Logits. Sessions must be distinct and have room for one more token.
func (m *Model) DecodeBatch(ctx context.Context, ss []*Session, ids []int32, sc *StepScratch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ss) != len(ids) || len(ss) == 0 {
		return fmt.Errorf("decode batch: %d sessions, %d ids", len(ss), len(ids))
	}
	rows := make([][]int32, len(ss))
	for i, s := range ss {
		if s.m != m {
			return fmt.Errorf("decode batch: session of another model")
		}
		if s.pos+1 > m.Ctx {
			return fmt.Errorf("%w: session at position %d", ErrContextFull, s.pos)
		}
		rows[i] = ids[i : i+1]
	}
	if len(ss) == 1 {
		return m.stepSeqs(graphKey{T: 1}, ss, rows, sc)
	}
	return m.stepSeqs(graphKey{T: 1, B: len(ss)}, ss, rows, sc)
}

// Logits returns the logits left by the session's last Eval or DecodeBatch.
func (s *Session) Logits() []float32 { return s.logits }

// StepScratch is reusable host staging for steps.
type StepScratch struct {
	x        []float32
	cos, sin [][]float32 // per rope (Hyper.Ropes)
	masks    [][]bool    // per cache view (Hyper.Caches), then per sequence
	inputs   []backends.Buffer
	donate   []bool
	// embd are the rows of an embeddings step (graphKey.embd: [n, dim],
	// Session.EvalEmbeddings); nonCausal lets every one of them see all
	// of them (image.go).
	embd      []float32
	nonCausal bool
}

// stepSeqs runs one compiled step over sequences ss (ids[i] are the rows of
// ss[i], at most key.T of them; the rest of the rows are padding).
func (m *Model) stepSeqs(key graphKey, ss []*Session, ids [][]int32, sc *StepScratch) (err error) {
	defer recoverErr(&err)
	h := m.Hyper
	sg, err := m.graphFor(key)
	if err != nil {
		return err
	}
	B, T := len(ss), key.T
	rows := B * T
	rd := h.RopeDim / 2
	nRope, nCache := len(h.Ropes), len(h.Caches)
	sc.x = grow(sc.x, rows*h.Dim)
	clear(sc.x)
	for len(sc.cos) < nRope {
		sc.cos, sc.sin = append(sc.cos, nil), append(sc.sin, nil)
	}
	for r := range nRope {
		sc.cos[r], sc.sin[r] = grow(sc.cos[r], rows*rd), grow(sc.sin[r], rows*rd)
	}
	for len(sc.masks) < nCache*B {
		sc.masks = append(sc.masks, nil)
	}
	for _, s := range ss {
		if len(s.kv) != 2*h.Layers {
			return fmt.Errorf("session is closed or lost its cache in a failed step")
		}
		if err := s.makeRoom(T); err != nil {
			return err
		}
	}
	for b, s := range ss {
		r0 := b * T
		if key.embd {
			copy(sc.x[r0*h.Dim:], sc.embd[:len(ids[b])*h.Dim])
		} else {
			for i, id := range ids[b] {
				if err := m.embed(id, sc.x[(r0+i)*h.Dim:(r0+i+1)*h.Dim]); err != nil {
					return err
				}
			}
		}
		segs := []int{T}
		if m.enc != nil {
			segs = s.encoderSegs(len(ids[b]), T)
			m.enc.addInputs(sc.x[r0*h.Dim:(r0+len(ids[b]))*h.Dim], segs, h.Dim)
		}
		for r := range h.Ropes {
			// Each packed text starts at position 0 (an encoder's step
			// starts at 0, so s.pos is 0 then).
			off := 0
			for _, n := range segs {
				h.Ropes[r].Table(sc.cos[r][(r0+off)*rd:], sc.sin[r][(r0+off)*rd:], n, h.RopeDim, s.pos)
				off += n
			}
		}
		for v, cache := range h.Caches {
			// In the view's buffer rows: position p is row p-base (swa.go).
			S, pos := m.viewRows(v), s.pos-s.base[v]
			mk := &sc.masks[v*B+b]
			*mk = growB(*mk, T*S)
			if cache.Bidirectional {
				fillMaskSegments(*mk, T, S, segs)
			} else if key.embd && sc.nonCausal {
				fillMaskNonCausal(*mk, T, S, pos, len(ids[b]), cache.Window)
			} else {
				fillMask(*mk, T, S, pos, cache.Window)
			}
		}
	}
	be := m.backend
	sc.inputs = sc.inputs[:0]
	var addErr error
	add := func(flat any, shape shapes.Shape) {
		if addErr != nil {
			return
		}
		b, err := be.BufferFromFlatData(0, flat, shape)
		if err != nil {
			addErr = err
			return
		}
		sc.inputs = append(sc.inputs, b)
	}
	f32 := dtypes.Float32
	add(sc.x, shapes.Make(f32, rows, h.Dim))
	for r := range nRope {
		add(sc.cos[r], shapes.Make(f32, rows, rd))
		add(sc.sin[r], shapes.Make(f32, rows, rd))
	}
	add([]int32{int32(len(ids[0]) - 1)}, shapes.Make(dtypes.Int32, 1, 1))
	for b, s := range ss {
		for v := range nCache {
			add([]int32{int32(s.pos - s.base[v])}, shapes.Make(dtypes.Int32))
		}
		for v := range nCache {
			add(sc.masks[v*B+b], shapes.Make(dtypes.Bool, T, m.viewRows(v)))
		}
	}
	if addErr != nil {
		return addErr
	}
	nIn := len(sc.inputs)
	L := h.Layers
	for _, half := range []int{0, L} { // K then V
		for l := 0; l < L; l++ {
			for _, s := range ss {
				if len(s.kv) != 2*L {
					return fmt.Errorf("session is closed or lost its cache in a failed step")
				}
				sc.inputs = append(sc.inputs, s.kv[half+l])
			}
		}
	}
	sc.inputs = append(sc.inputs, m.weightBufs...)
	sc.donate = growB(sc.donate, len(sc.inputs))
	clear(sc.donate)
	for i := range nIn + 2*L*B {
		sc.donate[i] = true
	}
	for _, s := range ss {
		s.kvBack, s.kv = s.kv, nil // donated: no longer ours until the outputs come back
	}
	outs := m.run(sg, sc.inputs, sc.donate)
	clear(sc.inputs) // the scratch must not pin the caches of finished sessions
	err = tensors.ConstFlatData(outs[0], func(flat []float32) {
		switch {
		case key.hidden:
			ss[0].hidden = append(ss[0].hidden[:0], flat...)
		case key.all:
			ss[0].rows = append(ss[0].rows[:0], flat[:len(ids[0])*h.Vocab]...)
		default:
			v := h.Vocab
			for b, s := range ss {
				copy(s.logits, flat[b*v:(b+1)*v])
			}
		}
	})
	outs[0].FinalizeAll()
	if err != nil {
		return err
	}
	for b, s := range ss {
		kv := s.kvBack[:2*L] // the session's own slice, refilled in place (no allocation per token)
		for half := 0; half < 2; half++ {
			for l := 0; l < L; l++ {
				buf, err := outs[1+half*L*B+l*B+b].DonateBuffer(be, 0)
				if err != nil {
					return err
				}
				kv[half*L+l] = buf
			}
		}
		s.kv = kv
		s.pos += len(ids[b])
	}
	return nil
}

// fillMask sets mask[i][j] = key j visible from query i at position pos+i:
// causal, and within the last `window` positions when window > 0 (llama.cpp's
// LLAMA_SWA_TYPE_STANDARD: masked when qpos - kpos >= window).
func fillMask(mask []bool, T, S, pos, window int) {
	for i := 0; i < T; i++ {
		q := pos + i
		row := mask[i*S : (i+1)*S]
		lo := 0
		if window > 0 {
			lo = max(0, q-window+1)
		}
		for j := range row {
			row[j] = j >= lo && j <= q
		}
	}
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growB(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	return b[:n]
}

// run executes a step graph, one at a time per model.
func (m *Model) run(sg *stepGraph, in []backends.Buffer, donate []bool) []*tensors.Tensor {
	m.execMu.Lock()
	defer m.execMu.Unlock()
	return sg.g.RunWithBuffers(in, donate, 0)
}
