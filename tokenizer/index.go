package tokenizer

import (
	"cmp"
	"hash/maphash"
	"math/bits"
	"slices"
)

// textIndex maps token texts to ids. It replaces a map[string]int32, whose
// 16-byte keys, values and control bytes at the map's load factor cost
// 40–50 bytes a token (13 MB for a 262k vocabulary: Gemma's); here a
// token costs one or two uint32 slots (2 MiB), because the texts
// themselves stay in Tokenizer.text and a slot holds only the id.
//
// Open addressing with linear probing over a power-of-two table at most
// half full. A slot is 0 when empty, otherwise id+1 in its low idBits bits
// and, above them, the high bits of the text's hash (a tag), so that
// nearly every probe that is not a match is rejected without reading the
// token's text.
type textIndex struct {
	seed  maphash.Seed
	slots []uint32
	texts []string
	mask  uint64 // len(slots)-1
	// idBits is how many low bits of a slot hold id+1; tagMask the bits above.
	idBits  uint
	tagMask uint32
}

// newTextIndex indexes texts by value. Where a text occurs more than once
// the last id wins, as llama.cpp's token_to_id map is filled in id order.
func newTextIndex(texts []string) textIndex {
	n := len(texts)
	size := 16
	for size < 2*n {
		size *= 2
	}
	x := textIndex{seed: maphash.MakeSeed(), slots: make([]uint32, size), texts: texts, mask: uint64(size - 1)}
	x.idBits = uint(bits.Len32(uint32(n)))
	if x.idBits < 32 {
		x.tagMask = ^uint32(0) << x.idBits
	}
	for id, s := range texts {
		h := maphash.String(x.seed, s)
		tag := uint32(h>>32) & x.tagMask
		for i := h & x.mask; ; i = (i + 1) & x.mask {
			v := x.slots[i]
			if v == 0 {
				x.slots[i] = tag | uint32(id+1)
				break
			}
			if v&x.tagMask == tag && texts[v&^x.tagMask-1] == s {
				x.slots[i] = tag | uint32(id+1) // a later duplicate wins
				break
			}
		}
	}
	return x
}

// get returns the id of text s.
func (x *textIndex) get(s string) (int32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	h := maphash.String(x.seed, s)
	tag := uint32(h>>32) & x.tagMask
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		v := x.slots[i]
		if v == 0 {
			return 0, false
		}
		if v&x.tagMask == tag {
			if id := v&^x.tagMask - 1; x.texts[id] == s {
				return int32(id), true
			}
		}
	}
}

// getBytes is get for a byte slice, without converting it to a string.
func (x *textIndex) getBytes(b []byte) (int32, bool) { return x.get(unsafeString(b)) }

// pairIndex maps a merge by token ids, (left, right), to its rank and the
// token it makes. A map[uint64]uint64 of them cost about 35 bytes a merge
// (9 MB of Llama 3's 15 MB tokenizer, 18 MB of Gemma's 31); here the merges
// are grouped by left id (an offset per token) and sorted by right id in
// their group, 12 bytes a merge, found by binary search.
type pairIndex struct {
	start []uint32 // the merges of left id l are ents[start[l]:start[l+1]]
	ents  []pairEnt
}

// pairEnt is one merge of a group: its right id, rank and result id.
type pairEnt struct{ right, rank, res int32 }

// pairMerge is one merge as loadMerges reads it.
type pairMerge struct{ left, right, rank, res int32 }

// newPairIndex indexes merges (ranks increasing, left ids below n). Of
// merges with the same pair the lowest rank wins, llama.cpp's first.
func newPairIndex(n int, merges []pairMerge) *pairIndex {
	x := &pairIndex{start: make([]uint32, n+1), ents: make([]pairEnt, len(merges))}
	for _, m := range merges {
		x.start[m.left+1]++
	}
	for l := 0; l < n; l++ {
		x.start[l+1] += x.start[l]
	}
	fill := slices.Clone(x.start[:n])
	for _, m := range merges {
		x.ents[fill[m.left]] = pairEnt{m.right, m.rank, m.res}
		fill[m.left]++
	}
	// Sort each group by right id, stably (ranks stay increasing among
	// equal pairs), and keep the first of equal pairs, compacting.
	w := uint32(0)
	for l := 0; l < n; l++ {
		g := x.ents[x.start[l]:x.start[l+1]]
		slices.SortStableFunc(g, func(a, b pairEnt) int { return cmp.Compare(a.right, b.right) })
		x.start[l] = w
		for i, e := range g {
			if i > 0 && e.right == g[i-1].right {
				continue
			}
			x.ents[w] = e
			w++
		}
	}
	x.start[n] = w
	x.ents = slices.Clip(x.ents[:w])
	return x
}

// get returns the rank of merge (l, r) and the token it makes.
func (x *pairIndex) get(l, r int32) (rank, res int32, ok bool) {
	if uint(l) >= uint(len(x.start)-1) {
		return 0, 0, false
	}
	g := x.ents[x.start[l]:x.start[l+1]]
	lo, hi := 0, len(g)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g[m].right < r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(g) && g[lo].right == r {
		return g[lo].rank, g[lo].res, true
	}
	return 0, 0, false
}
