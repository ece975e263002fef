package kernels

import (
	"encoding/binary"
	"math"

	"dayi/weights"
)

// Prefill of q4_K/q6_K weights on 16-row interleaved super-block tiles: the
// k-quant form of gemm16.go (same idea, same reason). Per 256-value
// super-block, a group of 16 weight rows is decoded into
//
//	Q   [64][16][4]u8  slice s = elements 4s..4s+3 of the 16 rows (u = q for
//	                   q4_K's nibbles, the raw 6-bit value q+32 for q6_K)
//	SC  [16][16]i32    the scale of 16-element group g for each row (q4_K:
//	                   its 32-element sub-block scale, twice)
//	M   [8][16]i32     q4_K: the sub-block min m_j of each row as the int16
//	                   pair (m_j, m_j); zero for q6_K
//	D, DMIN [16]f32    super-block scales (DMIN unused for q6_K)
//
// and each activation row (q8_K) is packed per super-block as its 256
// quants, 16 int32 biases (-32·bsum_g for q6_K, zero for q4_K), 8 int16
// pairs (bsum_2j, bsum_2j+1) and d_x (k16X bytes). The kernel
// (gemmk16_amd64.s) computes each row's exact integers as ggml's dotK does
// (isum = Σ_g sc_g·Σ_{16} (q-off)·x, imin = Σ_j m_j·(bsum_2j+bsum_2j+1)),
// 16 rows per register, and then per super-block
//
//	acc = fma(float(isum), d_w·d_x, acc)
//	acc = fma(-float(imin), dmin_w·d_x, acc)   (q4_K only)
//
// a different float order from dotK's 8-lane one, like llama.cpp's own
// repacked q4_K GEMM; gemmK16Go is the bit-exact twin.
const (
	k16Q         = 0
	k16SC        = 4096
	k16M         = 5120
	k16D         = 5632
	k16DM        = 5696
	k16BlockSize = 5760
	k16X         = 384
)

// decodeK16 decodes nb super-blocks of the 16 rows w + r*wstride of type t
// (q4_K, q5_K or q6_K) into dst (nb*k16BlockSize bytes). It is the twin of
// decK16Q4_K/decK16Q5_K/decK16Q6_K. q5_K decodes as q4_K does (same scales
// and mins), its quants 5-bit.
func decodeK16(t weights.Type, dst, w []byte, wstride, nb int) {
	tmp := make([]byte, 16*256)
	ts := t.TypeSize()
	for b := 0; b < nb; b++ {
		d := dst[b*k16BlockSize : (b+1)*k16BlockSize]
		for r := 0; r < w16Rows; r++ {
			blk := w[r*wstride+b*ts : r*wstride+(b+1)*ts]
			u := tmp[r*256 : r*256+256]
			if t == weights.TypeQ6_K {
				unpackQ6_K(blk, u)
				for g := 0; g < 16; g++ {
					binary.LittleEndian.PutUint32(d[k16SC+64*g+4*r:], uint32(int32(int8(blk[192+g]))))
				}
				for j := 0; j < 8; j++ {
					binary.LittleEndian.PutUint32(d[k16M+64*j+4*r:], 0)
				}
				binary.LittleEndian.PutUint32(d[k16D+4*r:], math.Float32bits(f16(blk[208:])))
				binary.LittleEndian.PutUint32(d[k16DM+4*r:], 0)
				continue
			}
			if t == weights.TypeQ5_K {
				unpackQ5_K(blk, u)
			} else {
				unpackQ4_K(blk, u)
			}
			s := blk[4:16]
			for j := 0; j < 8; j++ {
				sc, m := scaleMinK4(j, s)
				binary.LittleEndian.PutUint32(d[k16SC+64*(2*j)+4*r:], uint32(sc))
				binary.LittleEndian.PutUint32(d[k16SC+64*(2*j+1)+4*r:], uint32(sc))
				binary.LittleEndian.PutUint32(d[k16M+64*j+4*r:], uint32(m)*0x10001)
			}
			binary.LittleEndian.PutUint32(d[k16D+4*r:], math.Float32bits(f16(blk)))
			binary.LittleEndian.PutUint32(d[k16DM+4*r:], math.Float32bits(f16(blk[2:])))
		}
		transposeK16(tmp, d[k16Q:k16SC])
	}
}

// transposeK16 turns 16 rows of 256 bytes into 64 slices of 16 rows × 4
// bytes.
func transposeK16(src, dst []byte) {
	for r := 0; r < w16Rows; r++ {
		for s := 0; s < 64; s++ {
			copy(dst[s*64+r*4:s*64+r*4+4], src[r*256+4*s:r*256+4*s+4])
		}
	}
}

// packK16 packs nb q8_K super-blocks of one activation row x into dst
// (nb*k16X bytes) for weights of type t.
func packK16(dst, x []byte, nb int, t weights.Type) {
	off := int32(0)
	if t == weights.TypeQ6_K {
		off = 32
	}
	for b := 0; b < nb; b++ {
		blk := x[b*q8_KSize : (b+1)*q8_KSize]
		d := dst[b*k16X : (b+1)*k16X]
		copy(d[:256], blk[4:260])
		var bs [16]int32
		for g := range bs {
			bs[g] = int32(int16(binary.LittleEndian.Uint16(blk[260+2*g:])))
			binary.LittleEndian.PutUint32(d[256+4*g:], uint32(-off*bs[g]))
		}
		for j := 0; j < 8; j++ {
			binary.LittleEndian.PutUint32(d[320+4*j:], uint32(uint16(bs[2*j]))|uint32(uint16(bs[2*j+1]))<<16)
		}
		copy(d[352:356], blk[0:4])
	}
}

// gemmK16Go is the twin of the gemmK16 kernels: the decoded group w (nb
// super-blocks) times ncols packed activation rows x + c*xstride; column
// c's 16 results go to out[c*ostride:]. q6_K folds each super-block into
// one accumulator; q4_K folds each 64-element chunk into two (acc and
// acc_min, subtracted at the end), in the order of llama.cpp's repacked
// q4_K GEMM, which is what llama.cpp itself runs for batches on x86.
// q5_K, which llama.cpp does not repack, folds each super-block in dotK's
// (ggml vec_dot_q5_K_q8_K's) order, so its results equal dotK's bit for bit.
func gemmK16Go(t weights.Type, w, x []byte, xstride, nb, ncols int, out []float32, ostride int) {
	le := binary.LittleEndian
	chunk := 16 // groups per float fold: the whole super-block
	if t == weights.TypeQ4_K {
		chunk = 4
	}
	mins := t == weights.TypeQ4_K || t == weights.TypeQ5_K
	for c := 0; c < ncols; c++ {
		var acc, accm [w16Rows]float32
		for b := 0; b < nb; b++ {
			wb := w[b*k16BlockSize : (b+1)*k16BlockSize]
			xb := x[c*xstride+b*k16X : c*xstride+(b+1)*k16X]
			dx := math.Float32frombits(le.Uint32(xb[352:]))
			for r := 0; r < w16Rows; r++ {
				dw := math.Float32frombits(le.Uint32(wb[k16D+4*r:]))
				dm := math.Float32frombits(le.Uint32(wb[k16DM+4*r:]))
				for g0 := 0; g0 < 16; g0 += chunk {
					var isum, imin int32
					for g := g0; g < g0+chunk; g++ {
						s := int32(le.Uint32(xb[256+4*g:]))
						for e := 0; e < 16; e++ {
							sl := 4*g + e/4
							s += int32(wb[k16Q+64*sl+4*r+e%4]) * int32(int8(xb[16*g+e]))
						}
						isum += s * int32(le.Uint32(wb[k16SC+64*g+4*r:]))
					}
					for j := g0 / 2; j < (g0+chunk)/2; j++ {
						m := le.Uint32(wb[k16M+64*j+4*r:])
						p := le.Uint32(xb[320+4*j:])
						imin += int32(int16(m))*int32(int16(p)) + int32(int16(m>>16))*int32(int16(p>>16))
					}
					if t == weights.TypeQ5_K { // dotK's steps
						acc[r] += float32(float32(isum) * float32(dw*dx))
						acc[r] -= float32(float32(imin) * float32(dm*dx))
						continue
					}
					acc[r] = fma32(float32(isum), dw*dx, acc[r])
					if mins {
						accm[r] = fma32(float32(imin), dm*dx, accm[r])
					}
				}
			}
		}
		for r := range acc {
			out[c*ostride+r] = acc[r] - accm[r]
		}
	}
}

// k16MinRows is the batch from which q4_K/q6_K matmuls take the 16-row
// path: decoding a 16×2048 q4_K group costs about as much as ~50
// activation columns of the kernel (BenchmarkGemmK16), the 4-row gemv it
// replaces about 4 times the kernel's per-column cost.
const k16MinRows = 16

// runK16 is runGemm16 for q4_K/q6_K weights: each full group of 16 rows is
// decoded into the worker's scratch by the plan's g16dec (decK16Q4_K/
// decK16Q6_K from GGUF rows, decR16Q4_K/decR16Q6_K from a Rows16 group)
// and run against the activation rows 16 at a time on AMX tiles where the
// plan has them (q4_K, amx.go), the rest 4 at a time; a short last group
// takes the per-row dots.
func (mt *matmulTask) runK16(lo, hi, worker int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/256, mt.x40Step
	amx, groups := mt.pl.k16amx, mt.m/16
	dec, cbuf := mt.decScratch(worker, nb*k16BlockSize, amxKCbufBytes, amx != nil && groups > 0)
	for g := lo; g < hi; g++ {
		j := g * w16Rows
		if j+w16Rows > n {
			mt.dotRows(j, n, worker)
			return
		}
		_ = mt.w[(j+w16Rows)*rb-1] // the group the decoder reads
		mt.pl.g16dec(&mt.w[j*rb], rb, nb, &dec[0])
		c := 0
		if cbuf != nil {
			amx(&dec[0], &mt.x40[0], xs, nb, groups, &mt.out[j], n, cbuf)
			c = groups * 16
		}
		for ; c < mt.m; c += 4 {
			nc := min(4, mt.m-c)
			mt.pl.k16k[nc-1](&dec[0], &mt.x40[c*xs], xs, nb, &mt.out[c*n+j], n)
		}
	}
}
