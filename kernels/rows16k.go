package kernels

import (
	"encoding/binary"
	"math"
	"unsafe"

	"dayi/weights"
)

// Rows16 for q4_K and q6_K: the k-quant form of rows16.go (same reason:
// decode through the GGUF layout's 4-row vec_dot kernels, q4_KGemv4 and
// q6_KGemv4, peaked at ~9.7 GB/s of 14.5 of read bandwidth, spending its
// time on per-row scale unpacking and 4 interleaved streams). A group of
// 16 rows keeps its place and size (16·rowBytes bytes) and holds nb
// super-block tiles of 16·TypeSize bytes, tile b = super-block b of the 16
// rows. Inside a tile every field is stored for all 16 rows together, row
// r's 4 bytes at dword r, so one 64-byte load gives a ZMM of 16 row lanes,
// exactly the shape of the int32 sums VPDPBUSD makes:
//
// q4_K tile (2304 bytes):
//
//	0     d[16] f16       one VCVTPH2PS for the 16 rows
//	32    dmin[16] f16
//	64    S0[16][4]u8     bytes 0..3 of each row's 12 packed scale bytes
//	128   S1[16][4]u8     bytes 4..7
//	192   S2[16][4]u8     bytes 8..11
//	256   Q[32][16][4]u8  chunk i = qs bytes 4i..4i+3 of each row
//
// ggml packs scale/min j<4 as the low 6 bits of byte j (S0) / j+4 (S1), and
// j>=4 as a low nibble in byte j+4 (S2) plus two high bits in bits 6-7 of
// S0/S1, so the eight scales and mins of all rows unpack with a few byte
// operations on three ZMM, then one in-lane VPSHUFB per sub-block puts
// scale j (or min j as the int16 pair VPDPWSSD wants) in each row's dword.
// Chunk i = 8c+t holds in its low nibbles elements 64c+4t.. (k16 slice
// 16c+t) and in its high nibbles elements 64c+32+4t.. (slice 16c+8+t),
// because qs byte 32c+l holds elements 64c+l and 64c+32+l.
//
// q6_K tile (3360 bytes):
//
//	0     d[16] f16
//	32    SC[16][16]i8    SC[g][r] = scale of group g (16 elements) of row r:
//	                      one VPMOVSXBD per group
//	288   16 steps of 192 bytes, step 8h+t for half h and t < 8:
//	      +0    QL chunk 16h+t     (chunk i = ql bytes 4i..4i+3 of each row)
//	      +64   QL chunk 16h+8+t
//	      +128  QH chunk 8h+t      (qh bytes 4i..4i+3)
//
// in the order the decode kernel reads them (r16kQ6L, r16kQ6H), so every
// load follows the one before it. Until 2026-12-07 the tile held QL[32]
// then QH[16] and the kernel read three streams 512 and 2048 bytes apart,
// which Zen 4's hardware prefetchers did not follow (BenchmarkRows16Stream);
// then, for one session, runs of 768 bytes that each step read at +0,
// +256 and +512.
//
// q5_K tile (2816 bytes): q4_K's, plus the high bits
//
//	0     d[16], 32 dmin[16], 64 S0, 128 S1, 192 S2   as q4_K
//	256   Q chunk 0, QH chunk 0, Q 1, QH 1, … Q 7, QH 7
//	1280  Q chunks 8..31
//
// (Q chunk i = qs bytes 4i..4i+3 of each row, QH chunk t = qh bytes
// 4t..4t+3; r16kQ5Q, r16kQ5H): the decode kernel takes QH chunk t with Q
// chunk t and keeps it in L1 for chunks 8+t, 16+t, 24+t, so every load
// follows the one before it. Until 2026-12-07 QH followed all of Q (at
// 2304), a second stream that Zen 4's prefetchers did not follow: 0.65 of
// the read on one thread with software prefetch, 0.88 without once QH sat
// in runs of 256 bytes between the first Q chunks (BenchmarkRows16Stream).
//
// Chunk i = 8c+t's low nibbles take bit 2c of QH chunk t as their bit 4,
// its high nibbles bit 2c+1 (dequantize_row_q5_K: qh byte l holds the fifth
// bit of elements 64c+l and 64c+32+l in bits 2c and 2c+1).
//
// For half h and t<8, QL chunks 16h+t (A) and 16h+8+t (B) with QH chunk
// 8h+t (H) give the four k16 slices 32h+8v+t: A&15 | (H&3)<<4, B&15 |
// (H>>2&3)<<4, A>>4 | (H>>4&3)<<4, B>>4 | (H>>6&3)<<4, as
// dequantize_row_q6_K builds elements l, l+32, l+64, l+96 of a half.
//
// The decode kernels (gemvR16Q4_K, gemvR16Q6_K) read a group as one linear
// stream and compute gemmK16Go's exact integers, folded into floats once
// per super-block: acc = fma(float(isum), d_w·d_x, acc), and for q4_K
// acc_min = fma(float(imin), dmin_w·d_x, acc_min), result acc - acc_min.
// For q4_K that is llama.cpp's repacked GEMV order (ggml_gemv_q4_K_8x8_q8_K)
// while prefill, like its GEMM, folds every 64 values (last-bit
// differences between the two, as in llama.cpp); q6_K decode and prefill
// agree bit for bit. q5_K, which llama.cpp does not repack, folds each
// super-block in dotK's (vec_dot_q5_K_q8_K's) order, acc += float(isum)·
// (d_w·d_x) then acc -= float(imin)·(dmin_w·d_x), products rounded, so its
// decode equals the GGUF layout's (and llama.cpp's) bit for bit. Prefill decodes a group into the k16
// layout (decR16Q4_K, decR16Q6_K: what decodeK16 makes of the same rows in
// GGUF layout) and runs the gemmK16 kernels unchanged.
const (
	r16kQ4Tile = r16Rows * 144 // q4_K tile bytes
	r16kQ5Tile = r16Rows * 176 // q5_K tile bytes
	r16kQ6Tile = r16Rows * 210 // q6_K tile bytes
	r16kQ4Q    = 256           // q4_K quant chunks
	r16kQ6SC   = 32            // q6_K scales
	r16kQ6Q    = 288           // q6_K quant chunks (r16kQ6L, r16kQ6H)
)

// r16kQ6L is the offset in a q6_K tile of QL chunk i (0..31): half h =
// i/16, QL chunks 16h+t (t < 8) and 16h+8+t go with QH chunk 8h+t.
func r16kQ6L(i int) int {
	h, j := i/16, i%16
	return r16kQ6Q + 192*(8*h+j%8) + 64*(j/8) // step 8h+j%8
}

// r16kQ5Q is the offset in a q5_K tile of Q chunk i (0..31), r16kQ5H of
// QH chunk t (0..7).
func r16kQ5Q(i int) int {
	if i < 8 {
		return 256 + 128*i
	}
	return 1280 + 64*(i-8)
}

func r16kQ5H(t int) int { return 256 + 128*t + 64 }

// r16kQ6H is the offset in a q6_K tile of QH chunk i (0..15).
func r16kQ6H(i int) int {
	return r16kQ6Q + 192*i + 128 // step i
}

// r16KType reports whether t is a k-quant with a Rows16 layout.
func r16KType(t weights.Type) bool {
	return t == weights.TypeQ4_K || t == weights.TypeQ5_K || t == weights.TypeQ6_K
}

// repackK is Repack for q4_K/q5_K/q6_K (checked by the caller: n%16 == 0,
// k%256 == 0, lengths).
func repackK(dst, src []byte, t weights.Type, n, k int) {
	ts := t.TypeSize()
	nb := k / 256
	rb := nb * ts
	tile := r16Rows * ts
	for g := 0; g < n/r16Rows; g++ {
		grp := src[g*r16Rows*rb : (g+1)*r16Rows*rb]
		out := dst[g*r16Rows*rb : (g+1)*r16Rows*rb]
		for b := 0; b < nb; b++ {
			d := out[b*tile : (b+1)*tile]
			blk := grp[b*ts:] // row r's super-block at blk[r*rb:]
			if t == weights.TypeQ6_K {
				for r := 0; r < r16Rows; r++ {
					d[2*r], d[2*r+1] = blk[r*rb+208], blk[r*rb+209]
					for s := 0; s < 16; s++ {
						d[r16kQ6SC+16*s+r] = blk[r*rb+192+s]
					}
				}
				for h := 0; h < 2; h++ { // each step's chunks 192 bytes on
					transposeWords(d[r16kQ6L(16*h):], blk[64*h:], rb, 8, 192)
					transposeWords(d[r16kQ6L(16*h+8):], blk[64*h+32:], rb, 8, 192)
					transposeWords(d[r16kQ6H(8*h):], blk[128+32*h:], rb, 8, 192)
				}
				continue
			}
			for r := 0; r < r16Rows; r++ {
				d[2*r], d[2*r+1] = blk[r*rb], blk[r*rb+1]
				d[32+2*r], d[32+2*r+1] = blk[r*rb+2], blk[r*rb+3]
			}
			transposeWords(d[64:], blk[4:], rb, 3, 64)
			if t == weights.TypeQ5_K {
				transposeWords(d[r16kQ5H(0):], blk[16:], rb, 8, 128) // between Q 0..7
				transposeWords(d[r16kQ5Q(0):], blk[48:], rb, 8, 128)
				transposeWords(d[r16kQ5Q(8):], blk[80:], rb, 24, 64)
				continue
			}
			transposeWords(d[r16kQ4Q:], blk[16:], rb, 32, 64) // qs right after the scales
		}
	}
}

// r16kPut stores the GGUF super-block blk as row r of tile d: repackK's
// twin, one row at a time (TestRepackTwins).
func r16kPut(t weights.Type, d []byte, r int, blk []byte) {
	if t == weights.TypeQ6_K {
		copy(d[2*r:2*r+2], blk[208:210])
		for g := 0; g < 16; g++ {
			d[r16kQ6SC+16*g+r] = blk[192+g]
		}
		for i := 0; i < 32; i++ {
			copy(d[r16kQ6L(i)+4*r:r16kQ6L(i)+4*r+4], blk[4*i:4*i+4])
		}
		for i := 0; i < 16; i++ {
			copy(d[r16kQ6H(i)+4*r:r16kQ6H(i)+4*r+4], blk[128+4*i:128+4*i+4])
		}
		return
	}
	copy(d[2*r:2*r+2], blk[0:2])
	copy(d[32+2*r:32+2*r+2], blk[2:4])
	for s := 0; s < 3; s++ {
		copy(d[64+64*s+4*r:64+64*s+4*r+4], blk[4+4*s:8+4*s])
	}
	if t == weights.TypeQ5_K {
		for i := 0; i < 8; i++ {
			copy(d[r16kQ5H(i)+4*r:r16kQ5H(i)+4*r+4], blk[16+4*i:20+4*i])
		}
		for i := 0; i < 32; i++ {
			copy(d[r16kQ5Q(i)+4*r:r16kQ5Q(i)+4*r+4], blk[48+4*i:52+4*i])
		}
		return
	}
	for i := 0; i < 32; i++ {
		copy(d[r16kQ4Q+64*i+4*r:r16kQ4Q+64*i+4*r+4], blk[16+4*i:20+4*i])
	}
}

// r16kGet is r16kPut's inverse: row r of tile d as a GGUF super-block.
func r16kGet(t weights.Type, d []byte, r int, blk []byte) {
	if t == weights.TypeQ6_K {
		copy(blk[208:210], d[2*r:2*r+2])
		for g := 0; g < 16; g++ {
			blk[192+g] = d[r16kQ6SC+16*g+r]
		}
		for i := 0; i < 32; i++ {
			copy(blk[4*i:4*i+4], d[r16kQ6L(i)+4*r:])
		}
		for i := 0; i < 16; i++ {
			copy(blk[128+4*i:128+4*i+4], d[r16kQ6H(i)+4*r:])
		}
		return
	}
	copy(blk[0:2], d[2*r:])
	copy(blk[2:4], d[32+2*r:])
	for s := 0; s < 3; s++ {
		copy(blk[4+4*s:8+4*s], d[64+64*s+4*r:])
	}
	if t == weights.TypeQ5_K {
		for i := 0; i < 8; i++ {
			copy(blk[16+4*i:20+4*i], d[r16kQ5H(i)+4*r:])
		}
		for i := 0; i < 32; i++ {
			copy(blk[48+4*i:52+4*i], d[r16kQ5Q(i)+4*r:])
		}
		return
	}
	for i := 0; i < 32; i++ {
		copy(blk[16+4*i:20+4*i], d[r16kQ4Q+64*i+4*r:])
	}
}

// r16kRow decodes row r of tile d: its 256 unsigned quants in element
// order (q4_K nibbles, q5_K 5-bit values, q6_K q+32), its 16 group scales
// and 8 sub-block mins (zero for q6_K), and d, dmin (zero for q6_K), the
// values decodeK16 stores for the same row.
func r16kRow(t weights.Type, d []byte, r int, u *[256]byte, sc *[16]int32, mn *[8]int32) (dw, dm float32) {
	var blk [210]byte
	r16kGet(t, d, r, blk[:])
	switch t {
	case weights.TypeQ6_K:
		unpackQ6_K(blk[:], u[:])
		for g := 0; g < 16; g++ {
			sc[g] = int32(int8(blk[192+g]))
		}
		*mn = [8]int32{}
		return f16(blk[208:]), 0
	case weights.TypeQ5_K:
		unpackQ5_K(blk[:], u[:])
	default:
		unpackQ4_K(blk[:], u[:])
	}
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, blk[4:16])
		sc[2*j], sc[2*j+1], mn[j] = s, s, m
	}
	return f16(blk[:]), f16(blk[2:])
}

// decR16KGo is the twin of decR16Q4_K/Q5_K/Q6_K: the nb tiles of the
// Rows16 group at w decoded into the k16 layout (k16BlockSize bytes per
// super-block), byte for byte what decodeK16 makes of the GGUF rows.
func decR16KGo(t weights.Type, w []byte, nb int, dst []byte) {
	le := binary.LittleEndian
	tile := r16Rows * t.TypeSize()
	var u [256]byte
	var sc [16]int32
	var mn [8]int32
	for b := 0; b < nb; b++ {
		s := w[b*tile : (b+1)*tile]
		d := dst[b*k16BlockSize : (b+1)*k16BlockSize]
		for r := 0; r < r16Rows; r++ {
			dw, dm := r16kRow(t, s, r, &u, &sc, &mn)
			for sl := 0; sl < 64; sl++ {
				copy(d[k16Q+64*sl+4*r:k16Q+64*sl+4*r+4], u[4*sl:4*sl+4])
			}
			for g := 0; g < 16; g++ {
				le.PutUint32(d[k16SC+64*g+4*r:], uint32(sc[g]))
			}
			for j := 0; j < 8; j++ {
				le.PutUint32(d[k16M+64*j+4*r:], uint32(mn[j])*0x10001)
			}
			le.PutUint32(d[k16D+4*r:], math.Float32bits(dw))
			le.PutUint32(d[k16DM+4*r:], math.Float32bits(dm))
		}
	}
}

// gemvR16KGo is the twin of gemvR16Q4_K/Q5_K/Q6_K: the Rows16 group at w
// (nb tiles) times one activation row packed by packK16, 16 results to
// out, in gemmK16Go's integers. The float fold is once per super-block for
// all three types: gemmK16Go's for q6_K and q5_K, and for q4_K that of llama.cpp's
// repacked q4_K GEMV (ggml_gemv_q4_K_8x8_q8_K sums a super-block's integers
// before converting; its GEMM, like gemmK16Go, folds every 64 values), so
// decode and prefill of q4_K differ in the last bits there as here.
func gemvR16KGo(t weights.Type, w, x []byte, nb int, out []float32) {
	le := binary.LittleEndian
	tile := r16Rows * t.TypeSize()
	const chunk = 16 // groups per float fold
	var u [256]byte
	var sc [16]int32
	var mn [8]int32
	var acc, accm [r16Rows]float32
	for b := 0; b < nb; b++ {
		s := w[b*tile : (b+1)*tile]
		xb := x[b*k16X : (b+1)*k16X]
		dx := math.Float32frombits(le.Uint32(xb[352:]))
		for r := 0; r < r16Rows; r++ {
			dw, dm := r16kRow(t, s, r, &u, &sc, &mn)
			for g0 := 0; g0 < 16; g0 += chunk {
				var isum, imin int32
				for g := g0; g < g0+chunk; g++ {
					sum := int32(le.Uint32(xb[256+4*g:]))
					for e := 0; e < 16; e++ {
						sum += int32(u[16*g+e]) * int32(int8(xb[16*g+e]))
					}
					isum += sum * sc[g]
				}
				for j := g0 / 2; j < (g0+chunk)/2; j++ {
					p := le.Uint32(xb[320+4*j:])
					imin += mn[j]*int32(int16(p)) + mn[j]*int32(int16(p>>16))
				}
				if t == weights.TypeQ5_K { // dotK's steps, as gemmK16Go
					acc[r] += float32(float32(isum) * float32(dw*dx))
					acc[r] -= float32(float32(imin) * float32(dm*dx))
					continue
				}
				acc[r] = fma32(float32(isum), dw*dx, acc[r])
				if t == weights.TypeQ4_K {
					accm[r] = fma32(float32(imin), dm*dx, accm[r])
				}
			}
		}
	}
	for r := range acc {
		out[r] = acc[r] - accm[r]
	}
}

// r16kGoKernels returns the pure-Go Rows16 kernels of q4_K/q5_K/q6_K t (hosts
// without AVX-512 VNNI, and the tests' reference).
func r16kGoKernels(t weights.Type) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	switch t {
	case weights.TypeQ6_K:
		return gemvR16GoQ6_K, decR16GoQ6_K
	case weights.TypeQ5_K:
		return gemvR16GoQ5_K, decR16GoQ5_K
	}
	return gemvR16GoQ4_K, decR16GoQ4_K
}

func gemvR16GoQ4_K(w, x []byte, nb int, out []float32) { gemvR16KGo(weights.TypeQ4_K, w, x, nb, out) }
func gemvR16GoQ5_K(w, x []byte, nb int, out []float32) { gemvR16KGo(weights.TypeQ5_K, w, x, nb, out) }
func gemvR16GoQ6_K(w, x []byte, nb int, out []float32) { gemvR16KGo(weights.TypeQ6_K, w, x, nb, out) }

func decR16GoQ4_K(w *byte, _, nb int, dst *byte) {
	decR16KGo(weights.TypeQ4_K, unsafe.Slice(w, nb*r16kQ4Tile), nb, unsafe.Slice(dst, nb*k16BlockSize))
}

func decR16GoQ5_K(w *byte, _, nb int, dst *byte) {
	decR16KGo(weights.TypeQ5_K, unsafe.Slice(w, nb*r16kQ5Tile), nb, unsafe.Slice(dst, nb*k16BlockSize))
}

func decR16GoQ6_K(w *byte, _, nb int, dst *byte) {
	decR16KGo(weights.TypeQ6_K, unsafe.Slice(w, nb*r16kQ6Tile), nb, unsafe.Slice(dst, nb*k16BlockSize))
}
