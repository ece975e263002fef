package backend

import (
	"slices"
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
