package tokenizer

import (
	"hash/maphash"
	"math/bits"
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
