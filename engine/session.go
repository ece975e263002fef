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
	m   *Model
	pos int
	kv  []backends.Buffer // K for every layer, then V
	// host staging reused across steps
	x, cos, sin, cosL, sinL []float32
	mask, maskL             []bool
	logits                  []float32
	hidden                  []float32 // embedding mode: [rows, dim] of the last step
	inputs                  []backends.Buffer
	donate                  []bool
}

// NewSession allocates a zeroed KV cache of the model's context length.
func (m *Model) NewSession() (*Session, error) {
	h := m.Hyper
	s := &Session{m: m, logits: make([]float32, h.Vocab)}
	for i := 0; i < 2*h.Layers; i++ {
		l := i % h.Layers
		shape := shapes.Make(m.kvDType, 1, m.Ctx, h.KVHeads[l], h.HeadDim)
		var flat any
		n := shape.Size()
		if m.kvDType == dtypes.Float16 {
			flat = make([]float16.Float16, n)
		} else {
			flat = make([]float32, n)
		}
		buf, err := m.backend.BufferFromFlatData(0, flat, shape)
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
func (s *Session) Reset() { s.pos = 0 }

// Truncate rewinds the session to n tokens (n ≤ Pos), keeping the cache
// prefix: the next Eval continues at position n.
func (s *Session) Truncate(n int) error {
	if n < 0 || n > s.pos {
		return fmt.Errorf("truncate to %d: session has %d tokens", n, s.pos)
	}
	s.pos = n
	return nil
}

// Eval feeds ids at the current position and returns the logits predicting
// the token after the last one. The returned slice is reused by the next call.
func (s *Session) Eval(ctx context.Context, ids []int32) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("eval: no tokens")
	}
	if s.pos+len(ids) > s.m.Ctx {
		return nil, fmt.Errorf("%w: %d tokens at position %d exceed the context length %d", ErrContextFull, len(ids), s.pos, s.m.Ctx)
	}
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		T := s.m.stepSize(len(ids), s.m.Ctx-s.pos)
		n := min(T, len(ids))
		if err := s.step(ids[:n], graphKey{T: T}); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return s.logits, nil
}

// Hidden feeds ids like Eval and returns the final-norm hidden state of every
// one of them ([len(ids), dim], row-major), for embeddings.
func (s *Session) Hidden(ctx context.Context, ids []int32) ([]float32, error) {
	if s.pos+len(ids) > s.m.Ctx {
		return nil, fmt.Errorf("%w: %d tokens at position %d exceed the context length %d", ErrContextFull, len(ids), s.pos, s.m.Ctx)
	}
	dim := s.m.Hyper.Dim
	out := make([]float32, 0, len(ids)*dim)
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		T := s.m.stepSize(len(ids), s.m.Ctx-s.pos)
		n := min(T, len(ids))
		if err := s.step(ids[:n], graphKey{T: T, hidden: true}); err != nil {
			return nil, err
		}
		out = append(out, s.hidden[:n*dim]...)
		ids = ids[n:]
	}
	return out, nil
}

// stepSize picks the graph for n pending tokens with room cells left: the
// smallest bucket holding them all, else the largest that fits, else single
// steps.
func (m *Model) stepSize(n, room int) int {
	if n == 1 {
		return 1
	}
	best := 1
	for _, b := range m.buckets {
		if b > room {
			break
		}
		best = b
		if b >= n {
			break
		}
	}
	return best
}

func (s *Session) step(ids []int32, key graphKey) (err error) {
	defer recoverErr(&err)
	T := key.T
	m := s.m
	h := m.Hyper
	sg, err := m.graphFor(key)
	if err != nil {
		return err
	}
	S := m.Ctx
	rd := h.RopeDim / 2
	s.x = grow(s.x, T*h.Dim)
	clear(s.x)
	for i, id := range ids {
		if err := m.embed(id, s.x[i*h.Dim:(i+1)*h.Dim]); err != nil {
			return err
		}
	}
	s.cos, s.sin = grow(s.cos, T*rd), grow(s.sin, T*rd)
	ropeTable(s.cos, s.sin, T, h.RopeDim, s.pos, h.RopeBase, h.RopeScale)
	s.mask = growB(s.mask, T*S)
	fillMask(s.mask, T, S, s.pos, 0)
	local := m.hasLocal()
	if local {
		s.cosL, s.sinL = grow(s.cosL, T*rd), grow(s.sinL, T*rd)
		ropeTable(s.cosL, s.sinL, T, h.RopeDim, s.pos, h.RopeBaseLocal, 1)
		s.maskL = growB(s.maskL, T*S)
		fillMask(s.maskL, T, S, s.pos, h.SlidingWindow)
	}
	be := m.backend
	s.inputs = s.inputs[:0]
	add := func(flat any, shape shapes.Shape) error {
		b, err := be.BufferFromFlatData(0, flat, shape)
		if err != nil {
			return err
		}
		s.inputs = append(s.inputs, b)
		return nil
	}
	f32 := dtypes.Float32
	if err := add(s.x, shapes.Make(f32, T, h.Dim)); err != nil {
		return err
	}
	if err := add([]int32{int32(s.pos)}, shapes.Make(dtypes.Int32)); err != nil {
		return err
	}
	if err := add([]int32{int32(len(ids) - 1)}, shapes.Make(dtypes.Int32, 1, 1)); err != nil {
		return err
	}
	add(s.cos, shapes.Make(f32, T, rd))
	add(s.sin, shapes.Make(f32, T, rd))
	add(s.mask, shapes.Make(dtypes.Bool, T, S))
	if local {
		add(s.cosL, shapes.Make(f32, T, rd))
		add(s.sinL, shapes.Make(f32, T, rd))
		add(s.maskL, shapes.Make(dtypes.Bool, T, S))
	}
	nIn := len(s.inputs)
	s.inputs = append(s.inputs, s.kv...)
	s.inputs = append(s.inputs, m.weightBufs...)
	s.donate = growB(s.donate, len(s.inputs))
	clear(s.donate)
	for i := range nIn {
		s.donate[i] = true
	}
	for i := range s.kv {
		s.donate[nIn+i] = true
	}
	s.kv = s.kv[:0:0] // donated: no longer ours until the outputs come back
	outs := m.run(sg, s.inputs, s.donate)
	if err := tensors.ConstFlatData(outs[0], func(flat []float32) {
		if key.hidden {
			s.hidden = append(s.hidden[:0], flat...)
		} else {
			copy(s.logits, flat)
		}
	}); err != nil {
		return err
	}
	outs[0].FinalizeAll()
	kv := make([]backends.Buffer, 0, len(outs)-1)
	for _, t := range outs[1:] {
		b, err := t.DonateBuffer(be, 0)
		if err != nil {
			return err
		}
		kv = append(kv, b)
	}
	s.kv = kv
	s.pos += len(ids)
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
