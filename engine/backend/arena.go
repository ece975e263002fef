package backend

import (
	"slices"
	"sync"
	"unsafe"
)

// arenaAlign is the alignment of every value placed in a step's arena: a
// cache line, so that no two values share one (the kernels' threads write
// disjoint rows of their outputs) and every dtype's flat view is aligned.
const arenaAlign = 64

// arenaPlanner places the intermediates of an executable in one arena by
// their live ranges, at compile time. A value takes the smallest free gap
// that holds it (best fit), else grows the arena at its end; a released
// value's bytes return to the gaps, merged with free neighbours. This is
// ggml-alloc's idea (ggml/src/ggml-alloc.c: ggml_dyn_tallocr keeps sorted
// free blocks, best fit, merged on free). Before it, intermediates were
// pooled per (dtype, element count): a 512-row llama-1b step held 68 MB of
// slots because the 16 MiB FFN activations freed at the end of a layer
// could not hold the next layer's 2 or 4 MiB attention values, nor the f64
// sums of squares of the norms.
type arenaPlanner struct {
	free []span // sorted by off, no two adjacent
	end  int    // arena size so far
}

// span is a byte range of the arena.
type span struct{ off, size int }

// alignedSize rounds n bytes up to arenaAlign.
func alignedSize(n int) int { return (n + arenaAlign - 1) &^ (arenaAlign - 1) }

// alloc returns the offset of n bytes (n a multiple of arenaAlign).
func (p *arenaPlanner) alloc(n int) int {
	if n == 0 {
		return 0
	}
	best := -1
	for i, g := range p.free {
		if g.size >= n && (best < 0 || g.size < p.free[best].size) {
			best = i
		}
	}
	if best < 0 {
		// A free gap at the end grows into the new value.
		if k := len(p.free) - 1; k >= 0 && p.free[k].off+p.free[k].size == p.end {
			off := p.free[k].off
			p.free = p.free[:k]
			p.end = off + n
			return off
		}
		off := p.end
		p.end += n
		return off
	}
	g := &p.free[best]
	off := g.off
	g.off += n
	g.size -= n
	if g.size == 0 {
		p.free = slices.Delete(p.free, best, best+1)
	}
	return off
}

// release returns [off, off+n) to the free gaps.
func (p *arenaPlanner) release(off, n int) {
	if n == 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(p.free, off, func(g span, off int) int { return g.off - off })
	p.free = slices.Insert(p.free, i, span{off, n})
	if i+1 < len(p.free) && p.free[i].off+p.free[i].size == p.free[i+1].off {
		p.free[i].size += p.free[i+1].size
		p.free = slices.Delete(p.free, i+1, i+2)
	}
	if i > 0 && p.free[i-1].off+p.free[i-1].size == p.free[i].off {
		p.free[i-1].size += p.free[i].size
		p.free = slices.Delete(p.free, i, i+1)
	}
}

// alignedBytes allocates n zeroed bytes starting on an arenaAlign boundary
// (Go aligns small allocations only to their size class).
func alignedBytes(n int) []byte {
	b := make([]byte, n+arenaAlign)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b)))) & (arenaAlign - 1)
	return b[skip : skip+n : skip+n]
}

// arenaPool holds the step arenas of all of a backend's executables. One
// arena serves every executable, one run at a time: a session's steps run
// one after another, so the bucket graphs of a prompt (a 200-token prompt
// runs as 128 + 64 + 16 rows) and the decode graph take turns with the
// memory of the largest instead of each keeping its own, and concurrent
// runs (the server's sessions) take one arena each. Because the arena is
// shared, Reserve can fault it in at load without raising the peak: the
// first prompt's largest step would touch the same pages (issue 16: the
// first prompt after load paid ~3000 page faults, 5 % of its time on
// qwen2-0.5b).
type arenaPool struct {
	mu   sync.Mutex
	free [][]byte
	need int // the largest arena a compiled executable needs
}

// noteNeed records an executable's arena size.
func (p *arenaPool) noteNeed(n int) {
	p.mu.Lock()
	p.need = max(p.need, n)
	p.mu.Unlock()
}

// get returns an arena of at least n bytes for one run: prefer if it is free
// and large enough (a state keeps its slot views over the arena it had last,
// so taking it again costs no rebinding), else the smallest free one that
// holds n. If every free arena is too small, the largest of them is dropped
// and one of the largest need so far is made, so that the pool keeps no
// more arenas than runs ever overlapped.
func (p *arenaPool) get(n int, prefer *byte) []byte {
	p.mu.Lock()
	best, largest := -1, -1
	for i, a := range p.free {
		if len(a) >= n {
			if unsafe.SliceData(a) == prefer {
				best = i
				break
			}
			if best < 0 || len(a) < len(p.free[best]) {
				best = i
			}
		} else if largest < 0 || len(a) > len(p.free[largest]) {
			largest = i
		}
	}
	if best >= 0 {
		a := p.free[best]
		p.free = slices.Delete(p.free, best, best+1)
		p.mu.Unlock()
		return a
	}
	if largest >= 0 {
		p.free = slices.Delete(p.free, largest, largest+1)
	}
	size := max(n, p.need)
	p.mu.Unlock()
	return alignedBytes(size)
}

// put returns an arena after a run.
func (p *arenaPool) put(a []byte) {
	p.mu.Lock()
	p.free = append(p.free, a)
	p.mu.Unlock()
}

// reserve makes sure a free arena of the largest need exists and writes one
// byte of each of its pages, so that the kernel maps them now (at load)
// rather than in the first step.
func (p *arenaPool) reserve() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.need == 0 {
		return
	}
	for _, a := range p.free {
		if len(a) >= p.need {
			return
		}
	}
	a := alignedBytes(p.need)
	for i := 0; i < len(a); i += prefaultStride {
		a[i] = 0
	}
	p.free = append(p.free, a)
}

// prefaultStride is the smallest page size of the hosts dayi runs on.
const prefaultStride = 4096
