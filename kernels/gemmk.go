package kernels

import (
	"encoding/binary"
	"math"

	"dayi/weights"
)

// Decoded k-quant super-blocks for the VNNI prefill kernel (gemmk_amd64.s).
// Every k-quant type (q2_K..q6_K) is brought to one form once per weight
// row and tile, then reused for 4 activation rows at a time:
//
//	u[256]      quants as unsigned bytes u = q + off (off = 32 for q6_K, 4 for
//	            q3_K, 0 for the types with mins, whose quants are unsigned)
//	scw[4][32]  int16 group scales, one per element pair: chunk c covers
//	            elements 64c..64c+63, word w of it (elements 2w, 2w+1 of the
//	            chunk, a VPMADDUBSW pair) group 4c + w/8
//	ca[16]      int16 -off*sc_g: with the q8_K bsums it restores the offset
//	cb[16]      int16 mn_g (zero for types without mins)
//	d, dmin     float32 super-block scales (dmin 0 without mins)
//
// so that isum = sum_words scw*VPMADDUBSW(u, y) + sum_g ca_g*bsum_g and
// imin = sum_g cb_g*bsum_g are dotK's exact integers; the float part is
// dotK's: acc += float32(isum)*float32(d*dx); acc -= float32(imin)*float32(dmin*dx)
// (for types without mins the second step subtracts an exact zero).
const kdecSize = 640

// decodeKPacked writes the decoded form of one super-block of type t.
func decodeKPacked(t weights.Type, blk []byte, kb *kblock, dst []byte) {
	switch t {
	case weights.TypeQ4_K:
		decodeQ4_KPacked(blk, dst)
		return
	case weights.TypeQ6_K:
		decodeQ6_KPacked(blk, dst)
		return
	case weights.TypeQ5_K:
		decodeQ5_KPacked(blk, dst)
		return
	}
	decodeK(t, blk, kb)
	off := int32(0)
	switch t {
	case weights.TypeQ6_K:
		off = 32
	case weights.TypeQ3_K:
		off = 4
	}
	for e, q := range kb.q {
		dst[e] = byte(int32(q) + off)
	}
	for c := 0; c < 4; c++ {
		for w := 0; w < 32; w++ {
			binary.LittleEndian.PutUint16(dst[256+64*c+2*w:], uint16(int16(kb.sc[4*c+w/8])))
		}
	}
	for g := 0; g < 16; g++ {
		binary.LittleEndian.PutUint16(dst[512+2*g:], uint16(int16(-off*kb.sc[g])))
		mn := int32(0)
		if kb.hasMin {
			mn = kb.mn[g]
		}
		binary.LittleEndian.PutUint16(dst[544+2*g:], uint16(int16(mn)))
	}
	dmin := kb.dmin
	if !kb.hasMin {
		dmin = 0
	}
	binary.LittleEndian.PutUint32(dst[576:], math.Float32bits(kb.d))
	binary.LittleEndian.PutUint32(dst[580:], math.Float32bits(dmin))
}

// putScales writes the pair scale vectors and bsum coefficients of a
// decoded super-block from 16 group scales and mins.
func putScales(dst []byte, sc, mn *[16]int32, off int32) {
	for g := 0; g < 16; g++ {
		v := uint64(uint16(int16(sc[g]))) * 0x0001000100010001
		o := 256 + 16*g // group g = chunk g/4, words 8(g%4)..8(g%4)+7
		binary.LittleEndian.PutUint64(dst[o:], v)
		binary.LittleEndian.PutUint64(dst[o+8:], v)
		binary.LittleEndian.PutUint16(dst[512+2*g:], uint16(int16(-off*sc[g])))
		binary.LittleEndian.PutUint16(dst[544+2*g:], uint16(int16(mn[g])))
	}
}

// decodeQ4_KPacked is decodeKPacked for q4_K: the nibbles are the unsigned
// quants (element order of dequantize_row_q4_K), unpacked 8 at a time.
func decodeQ4_KPacked(blk, dst []byte) {
	unpackQ4_K(blk, dst)
	putScalesK4(blk, dst)
}

// unpackQ4_K writes the 256 nibbles of a q4_K block to u as bytes.
func unpackQ4_K(blk, dst []byte) {
	const lo4 = 0x0F0F0F0F0F0F0F0F
	qs := blk[16:144]
	for c := 0; c < 4; c++ {
		for i := 0; i < 32; i += 8 {
			v := binary.LittleEndian.Uint64(qs[32*c+i:])
			binary.LittleEndian.PutUint64(dst[64*c+i:], v&lo4)
			binary.LittleEndian.PutUint64(dst[64*c+32+i:], v>>4&lo4)
		}
	}
}

// decodeQ5_KPacked is decodeKPacked for q5_K: nibble | high bit << 4
// (element order of dequantize_row_q5_K), 8 at a time.
func decodeQ5_KPacked(blk, dst []byte) {
	unpackQ5_K(blk, dst)
	putScalesK4(blk, dst)
}

// unpackQ5_K writes the 256 5-bit quants of a q5_K block to dst as bytes.
func unpackQ5_K(blk, dst []byte) {
	const lo4, lo1 = 0x0F0F0F0F0F0F0F0F, 0x0101010101010101
	qh := blk[16:48]
	qs := blk[48:176]
	for c := 0; c < 4; c++ {
		for i := 0; i < 32; i += 8 {
			v := binary.LittleEndian.Uint64(qs[32*c+i:])
			h := binary.LittleEndian.Uint64(qh[i:])
			binary.LittleEndian.PutUint64(dst[64*c+i:], v&lo4|(h>>(2*c)&lo1)<<4)
			binary.LittleEndian.PutUint64(dst[64*c+32+i:], v>>4&lo4|(h>>(2*c+1)&lo1)<<4)
		}
	}
}

// putScalesK4 writes the scales, mins and super-scales of a q4_K or q5_K
// block (same header layout) to its decoded form.
func putScalesK4(blk, dst []byte) {
	var sc, mn [16]int32
	s := blk[4:16]
	for j := 0; j < 8; j++ {
		a, m := scaleMinK4(j, s)
		sc[2*j], sc[2*j+1], mn[2*j], mn[2*j+1] = a, a, m, m
	}
	putScales(dst, &sc, &mn, 0)
	binary.LittleEndian.PutUint32(dst[576:], math.Float32bits(f16(blk)))
	binary.LittleEndian.PutUint32(dst[580:], math.Float32bits(f16(blk[2:])))
}

// decodeQ6_KPacked is decodeKPacked for q6_K: the raw 6-bit values are
// q+32 (element order of dequantize_row_q6_K), built 8 at a time.
func decodeQ6_KPacked(blk, dst []byte) {
	unpackQ6_K(blk, dst)
	var sc, mn [16]int32
	for g := 0; g < 16; g++ {
		sc[g] = int32(int8(blk[192+g]))
	}
	putScales(dst, &sc, &mn, 32)
	binary.LittleEndian.PutUint32(dst[576:], math.Float32bits(f16(blk[208:])))
	binary.LittleEndian.PutUint32(dst[580:], 0)
}

// unpackQ6_K writes the 256 raw 6-bit values (q+32) of a q6_K block to dst.
func unpackQ6_K(blk, dst []byte) {
	const lo4, lo2 = 0x0F0F0F0F0F0F0F0F, 0x0303030303030303
	for half := 0; half < 2; half++ {
		ql := blk[64*half : 64*half+64]
		qh := blk[128+32*half : 128+32*half+32]
		u := dst[128*half : 128*half+128]
		for l := 0; l < 32; l += 8 {
			a := binary.LittleEndian.Uint64(ql[l:])
			b := binary.LittleEndian.Uint64(ql[l+32:])
			h := binary.LittleEndian.Uint64(qh[l:])
			binary.LittleEndian.PutUint64(u[l:], a&lo4|(h&lo2)<<4)
			binary.LittleEndian.PutUint64(u[l+32:], b&lo4|(h>>2&lo2)<<4)
			binary.LittleEndian.PutUint64(u[l+64:], a>>4&lo4|(h>>4&lo2)<<4)
			binary.LittleEndian.PutUint64(u[l+96:], b>>4&lo4|(h>>6&lo2)<<4)
		}
	}
}
