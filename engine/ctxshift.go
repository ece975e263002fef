package engine

import (
	"fmt"

	"github.com/x448/float16"

	"dayi/engine/arch"
)

// Context shift: when a generation fills the context, keep the first
// NumKeep tokens, drop the oldest half of the rest and go on, as llama.cpp's
// server (--context-shift: n_discard = (n_past - n_keep) / 2, then
// llama_memory_seq_rm / seq_add) and Ollama's runner (shiftContext) do.
//
// dayi's cache holds keys after RoPE (arch.Ctx.Rope runs before the cache
// update), so the kept keys that move down by d positions are rotated by -d
// on the host: a rotation by angle a·θ_i composed with one by b·θ_i is one by
// (a+b)·θ_i, which is what llama.cpp's K-shift graph (ggml_rope_ext on the
// cache with the position deltas) computes too. Values carry no position and
// just move. Like llama.cpp and Ollama this is an approximation of a cold run
// on the shortened sequence: the kept tokens' keys and values of layers past
// the first were computed with the dropped tokens in view, and a re-rotated
// f16 key is rounded once more (TestContextShiftMatchesColdRun states the
// tolerances).

// DefaultNumKeep is how many leading tokens a context shift keeps when the
// request does not say (Ollama's api.DefaultOptions NumKeep).
const DefaultNumKeep = 4

// MaxShiftedTokens bounds a generation that may shift its context, whatever
// its MaxTokens, so a model that never emits end-of-generation cannot hold a
// slot (and grow its result) forever: four contexts' worth of tokens, at
// least 16,384. (Without shift the context itself was the bound.)
func MaxShiftedTokens(ctxLen int) int { return max(4*ctxLen, 16384) }

// shift makes room in a full session for the generation to go on. It keeps
// at most half of the context, so every shift frees at least a quarter of
// it: a num_keep near the context size would otherwise make every token
// shift (and re-rotate) the whole cache.
func (g *generation) shift() error {
	pos := g.sess.Pos()
	keep := min(max(g.req.NumKeep, 0), pos/2)
	discard := (pos - keep) / 2
	if err := g.sess.Shift(keep, discard); err != nil {
		return err
	}
	g.fed = append(g.fed[:keep], g.fed[keep+discard:]...)
	g.shifted = true
	g.res.Shifts++
	return nil
}

// canShift reports whether the backend lets the engine rewrite a session's
// cache in place (dayi's and simplego's do). A q8_0/q4_0 cache is not
// shifted: re-rotating its keys would need a dequantize-rotate-requantize
// pass that is not written (llama.cpp does that); such a chat ends with
// done_reason "length" as with --no-ctx-shift.
func (m *Model) canShift() bool { return m.backend.HasSharedBuffers() && m.kvQuant == 0 }

// Shift drops positions [keep, keep+discard) from the session's cache: the
// rows after them move down by discard, their keys re-rotated to their new
// positions, and Pos shrinks by discard.
//
// A compact sliding-window view (swa.go) holds positions [base, pos) only.
// It keeps, of the shifted sequence, the longest run of positions whose
// rows it still holds, ending at the new Pos: from max(keep, base-discard)
// when base ≥ keep (the num_keep rows are gone), else from base (then every
// row is held). The new window must be whole (the run must start at or
// before newPos-W+1), else Shift fails and changes nothing; a generation's
// shift (keep ≤ pos/2, discard = (pos-keep)/2, pos ≥ Ctx-1) leaves at
// least (pos-keep)/2 ≥ W-1 moved rows whenever the view is compact (Ctx ≥
// 4W), so it never does.
func (s *Session) Shift(keep, discard int) error {
	if keep < 0 || discard <= 0 || keep+discard > s.pos {
		return fmt.Errorf("context shift: keep %d, discard %d of %d tokens", keep, discard, s.pos)
	}
	if s.m.kvQuant != 0 {
		return fmt.Errorf("context shift: a %s KV cache cannot be re-rotated (use f16 or f32)", s.m.kvQuant)
	}
	if !s.m.canShift() {
		return fmt.Errorf("context shift: backend %s cannot rewrite the KV cache", s.m.backend.Name())
	}
	h := s.m.Hyper
	L := h.Layers
	newPos := s.pos - discard
	// op is the old position of new position q.
	op := func(q int) int {
		if q < keep {
			return q
		}
		return q + discard
	}
	// nb[v]: the first new position view v keeps (its new base).
	nb := make([]int, len(h.Caches))
	for v, base := range s.base {
		if base == 0 {
			continue
		}
		if base < keep {
			nb[v] = base
		} else {
			nb[v] = max(keep, base-discard)
		}
		if w := h.Caches[v].Window; nb[v] > 0 && nb[v] > newPos-(w-1) {
			return fmt.Errorf("context shift: keep %d, discard %d of %d tokens: the sliding-window cache (window %d) no longer holds positions from %d", keep, discard, s.pos, w, base)
		}
	}
	rd := h.RopeDim
	cos, sin := make([]float32, rd/2), make([]float32, rd/2)
	row := make([]float32, h.MaxKVHeads()*h.HeadDim)
	for i := 0; i < 2*L; i++ {
		l := i % L
		flat, err := s.m.backend.BufferData(s.kv[i])
		if err != nil {
			return fmt.Errorf("context shift: layer %d cache: %w", l, err)
		}
		w := h.KVHeads[l] * h.HeadDim
		if i < L { // keys: rotate by -discard
			// The rotation only: the cached keys already carry the
			// rope's magnitude (YaRN's mscale, rope.scaling.attn_factor).
			h.Ropes[h.Kinds[l].Rope].Rotation(cos, sin, rd, -discard)
		}
		v := h.Kinds[l].Cache
		base, nbase := s.base[v], nb[v]
		// New position q moves from buffer row op(q)-base to q-nbase; rows
		// go in increasing q, each to a row at or before its source and
		// after every earlier destination, so no source is overwritten
		// before it is read. Only the rows past keep move: below keep,
		// nbase == base (the rows stay; in the full layout both are 0).
		for q := max(nbase, keep); q < newPos; q++ {
			src, dst := (op(q)-base)*w, (q-nbase)*w
			switch x := flat.(type) {
			case []float16.Float16:
				if i >= L {
					copy(x[dst:dst+w], x[src:src+w])
					continue
				}
				for j := range w {
					row[j] = x[src+j].Float32()
				}
				rotateHeads(row[:w], h.KVHeads[l], h.HeadDim, rd, h.RopeType, cos, sin)
				for j := range w {
					x[dst+j] = float16.Fromfloat32(row[j])
				}
			case []float32:
				copy(x[dst:dst+w], x[src:src+w])
				if i < L {
					rotateHeads(x[dst:dst+w], h.KVHeads[l], h.HeadDim, rd, h.RopeType, cos, sin)
				}
			default:
				return fmt.Errorf("context shift: layer %d cache holds %T", l, flat)
			}
		}
	}
	s.pos = newPos
	copy(s.base, nb)
	return nil
}

// rotateHeads applies one rotary step (cos, sin per pair) to the first rd
// channels of each of heads heads of size dim in x, pairing channels as
// arch.Ctx.Rope does for the rope type.
func rotateHeads(x []float32, heads, dim, rd int, typ arch.RopeType, cos, sin []float32) {
	for hd := range heads {
		v := x[hd*dim : hd*dim+rd]
		for i := range rd / 2 {
			ia, ib := 2*i, 2*i+1
			if typ == arch.RopeNeoX {
				ia, ib = i, i+rd/2
			}
			a, b := v[ia], v[ib]
			v[ia] = a*cos[i] - b*sin[i]
			v[ib] = a*sin[i] + b*cos[i]
		}
	}
}
