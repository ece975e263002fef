package kernels

import (
	"fmt"

	"dayi/weights"
)

// Rows16RowReader returns a function that copies row `row` of an n×k matrix
// of type t held in LayoutRows16 (packed) into dst in GGUF layout
// (t.RowSize(k) bytes), as it was before Repack.
//
// The engine needs it for a token embedding that is also the output
// projection: the private, repacked copy is the only one it keeps resident,
// so the embedding rows of each prompt are read from it rather than from
// the file, whose pages were given back (reading them there faults them in
// again: ~200 MB of a mapped gemma3-4b file after one 128-token prompt,
// with the kernel's fault-around and an 8 MiB read-ahead).
//
// Every Rows16 layout moves bytes only (tile b of a 16-row group holds the
// bytes of block b of its 16 rows, rearranged), so the inverse is a byte
// permutation of one tile, found here by repacking a tile whose bytes name
// their own index (low then high byte) once per reader.
func Rows16RowReader(t weights.Type) (func(dst, packed []byte, k, row int), error) {
	if !r16Type(t) {
		return nil, fmt.Errorf("kernels: %s has no Rows16 layout", t)
	}
	ts, bs := t.TypeSize(), t.BlockSize()
	tile := r16Rows * ts
	lo, hi := make([]byte, tile), make([]byte, tile)
	srcLo, srcHi := make([]byte, tile), make([]byte, tile)
	for i := range srcLo {
		srcLo[i], srcHi[i] = byte(i), byte(i>>8)
	}
	if err := Repack(lo, srcLo, t, r16Rows, bs); err != nil {
		return nil, err
	}
	if err := Repack(hi, srcHi, t, r16Rows, bs); err != nil {
		return nil, err
	}
	// from[i] is where byte i of the tile's GGUF rows (row r's block at
	// r*ts) lies in the packed tile.
	from := make([]int32, tile)
	seen := make([]bool, tile)
	for p := range lo {
		i := int(lo[p]) | int(hi[p])<<8
		if i >= tile || seen[i] {
			return nil, fmt.Errorf("kernels: Rows16 layout of %s is not a byte permutation", t)
		}
		seen[i], from[i] = true, int32(p)
	}
	return func(dst, packed []byte, k, row int) {
		nb := k / bs
		rb := nb * ts
		g, r := row/r16Rows, row%r16Rows
		grp := packed[g*r16Rows*rb : (g+1)*r16Rows*rb]
		perm := from[r*ts : (r+1)*ts]
		for b := 0; b < nb; b++ {
			src := grp[b*tile : (b+1)*tile]
			out := dst[b*ts : (b+1)*ts]
			for i, p := range perm {
				out[i] = src[p]
			}
		}
	}, nil
}
