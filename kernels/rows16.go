package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"dayi/weights"
)

// Rows16: q4_0 and q8_0 weights repacked at load into groups of 16 rows.
//
// Decode (one activation row) streams every weight byte once per token, so
// it is bound by memory bandwidth only if the kernel's work per byte is
// small and the bytes arrive as one linear stream. On the GGUF layout
// neither holds: the 4-row vec_dot kernel (gemvQ4_0x4) spends ~12 scalar
// instructions per block gathering the rows' f16 scales and four float
// operations per block and row, and reads 4 interleaved streams; it peaked
// at ~9.5 GB/s on one core against 14 GB/s of read bandwidth. llama.cpp
// repacks q4_0 for the same reason on AVX2/AVX-512 hosts (ggml-cpu
// repack.cpp, block_q4_0x8: 8 rows interleaved, its gemv then computes each
// block's exact integer dot per row and adds float(sum)·(d_w·d_x) with one
// FMA per block and row). Rows16 does the same with 16 rows, the width of a
// ZMM register of int32 lanes:
//
//   - a group of 16 rows (16·rowBytes bytes, same place and size as in the
//     file) holds nb block tiles of 16·TypeSize bytes, tile b = block b of
//     the 16 rows;
//   - a tile starts with the 16 rows' f16 d (32 bytes: one VCVTPH2PS),
//     followed by the quant bytes in chunks of 64: chunk c holds bytes
//     4c..4c+3 of each row's qs, row r at 4r. For q8_0 chunk c is exactly
//     the w16 slice c (elements 4c..4c+3, u = q xor 0x80); for q4_0 its low
//     nibbles are slice c (elements 4c..4c+3) and its high nibbles slice
//     c+4 (elements 16+4c..), because a q4_0 byte i holds elements i and
//     i+16.
//
// The decode kernel (gemvR16*) therefore needs per tile only aligned
// loads, a nibble split, 8 VPDPBUSD with broadcast activation dwords, and
// 4 float instructions for all 16 rows; prefill decodes a group into the
// gemm16 slice layout with a few masks (decR16*) instead of the transposes
// of dec16. Both follow gemm16's float order (acc = fma(float(isum_b),
// d_w·d_x, acc) over blocks in order), which is llama.cpp's repacked-q4_0
// order, so decode and prefill agree bit for bit.

// Layout says how a weight matrix's bytes are arranged in memory.
type Layout uint8

const (
	// LayoutGGUF is n rows of t.RowSize(k) bytes of ggml blocks, as in a
	// GGUF file.
	LayoutGGUF Layout = iota
	// LayoutRows16 is Repack's layout: groups of 16 rows, block tiles
	// interleaved (rows16.go). Same size as LayoutGGUF.
	LayoutRows16
)

// r16Rows is the group height of LayoutRows16.
const r16Rows = 16

// r16MaxGemvCols is the largest activation batch that runs the Rows16
// decode kernel once per activation row (the group stays in L1/L2 between
// them); larger batches decode the group once into the gemm16 layout
// (where AVX-512 VNNI exists: plan.go).
const r16MaxGemvCols = 3

// CanRepack reports whether n×k weights of type t can take LayoutRows16
// on this machine (and are worth it: the layout has kernels where AVX-512
// VNNI is present, and for q4_0/q5_0/q8_0/q4_K/q5_K where AVX2 is:
// rows16avx2, rows16kavx2).
func CanRepack(t weights.Type, n, k int) bool {
	if n <= 0 || n%r16Rows != 0 || k <= 0 || k%t.BlockSize() != 0 {
		return false
	}
	if !hasZVNNI {
		_, ok := r16A2Kernels(t, true)
		return ok || hasR16KA2(t)
	}
	return r16Type(t) && (t != weights.TypeQ5_0 || hasR16Q5)
}

// r16Type reports whether t has a Rows16 layout (q4_0/q8_0 here, q5_0 in
// rows16q5.go, q4_K/q6_K in rows16k.go).
func r16Type(t weights.Type) bool {
	return t == weights.TypeQ4_0 || t == weights.TypeQ5_0 || t == weights.TypeQ8_0 || r16KType(t)
}

// LayoutSupported reports whether MatMulLayout takes weights of type t in
// layout l (with rows in multiples of 16 for LayoutRows16).
func LayoutSupported(t weights.Type, l Layout) bool {
	switch l {
	case LayoutGGUF:
		return Supported(t)
	case LayoutRows16:
		return r16Type(t)
	}
	return false
}

// r16Qs is the number of quant bytes per block of t (16 or 32).
func r16Qs(t weights.Type) int { return t.TypeSize() - 2 }

// Repack writes the n×k weights src (GGUF layout) to dst in LayoutRows16.
// dst and src must not overlap.
func Repack(dst, src []byte, t weights.Type, n, k int) error {
	if !r16Type(t) || n <= 0 || n%r16Rows != 0 || k <= 0 || k%t.BlockSize() != 0 {
		return fmt.Errorf("kernels: repack %s %dx%d: only q4_0/q5_0/q8_0/q4_K/q6_K with rows a multiple of %d and k of the block size", t, n, k, r16Rows)
	}
	ts := t.TypeSize()
	nb := k / t.BlockSize()
	rb := nb * ts
	if len(src) < n*rb || len(dst) < n*rb {
		return fmt.Errorf("kernels: repack %s %dx%d: need %d bytes, have src %d, dst %d", t, n, k, n*rb, len(src), len(dst))
	}
	if r16KType(t) {
		repackK(dst, src, t, n, k)
		return nil
	}
	if t == weights.TypeQ5_0 {
		repackQ5_0(dst, src, n, k)
		return nil
	}
	qs := r16Qs(t)
	tile := r16Rows * ts
	for g := 0; g < n/r16Rows; g++ {
		grp := src[g*r16Rows*rb : (g+1)*r16Rows*rb]
		out := dst[g*r16Rows*rb : (g+1)*r16Rows*rb]
		for b := 0; b < nb; b++ {
			d := out[b*tile : (b+1)*tile]
			blk := grp[b*ts:] // row r's block at blk[r*rb:]
			for r := 0; r < r16Rows; r++ {
				d[2*r], d[2*r+1] = blk[r*rb], blk[r*rb+1]
			}
			transposeWords(d[32:], blk[2:], rb, qs/4, 64)
		}
	}
	return nil
}

// transposeWordsGo is the twin of transposeWords: word w (4 bytes) of row
// r of the 16 rows at src, rb bytes apart, to dst[cs*w+4*r:] (cs ≥ 64: the
// chunks of 16 words, 64 bytes each, cs bytes apart).
func transposeWordsGo(dst, src []byte, rb, nw, cs int) {
	for w := 0; w < nw; w++ {
		for r := 0; r < r16Rows; r++ {
			copy(dst[cs*w+4*r:cs*w+4*r+4], src[r*rb+4*w:r*rb+4*w+4])
		}
	}
}

// decR16Go is the twin of decR16Q4_0/decR16Q8_0: it decodes the nb tiles of
// the Rows16 group at w into the gemm16 slice layout (w16BlockSize bytes per
// block), exactly what decode16 makes of the same rows in GGUF layout.
func decR16Go(w []byte, nb int, dst []byte, t weights.Type) {
	tile := r16Rows * t.TypeSize()
	for b := 0; b < nb; b++ {
		s := w[b*tile : (b+1)*tile]
		d := dst[b*w16BlockSize : (b+1)*w16BlockSize]
		if t == weights.TypeQ8_0 {
			for i := 0; i < 512; i++ {
				d[i] = s[32+i] ^ 0x80
			}
		} else {
			for i := 0; i < 256; i++ {
				d[i], d[256+i] = s[32+i]&0x0f, s[32+i]>>4
			}
		}
		for r := 0; r < r16Rows; r++ {
			binary.LittleEndian.PutUint32(d[512+4*r:], math.Float32bits(f16(s[2*r:])))
		}
	}
}

// gemvR16Go is the twin of the Rows16 decode kernels of q4_0/q5_0/q8_0:
// the group at w (nb tiles) decoded by the Go decoder dec into the gemm16
// slices, times one activation row packed by pack40, through gemm16Go
// (the float order the kernels keep); 16 results to out.
func gemvR16Go(w, x []byte, nb int, out []float32, dec func(w *byte, wstride, nb int, dst *byte)) {
	d := make([]byte, nb*w16BlockSize)
	dec(&w[0], 0, nb, &d[0])
	gemm16Go(d, x, 0, nb, 1, out, r16Rows)
}

// r16Bias is t's weight bias c (u = q + c) in the packed activations.
func r16Bias(t weights.Type) int32 {
	switch t {
	case weights.TypeQ8_0:
		return 128
	case weights.TypeQ5_0:
		return 16
	}
	return 8
}

// runR16Gemv computes the outputs of Rows16 groups [lo,hi) with the
// decode kernel, once per activation row (up to r16MaxGemvCols rows with
// AVX-512 VNNI, where larger batches decode each group once for the gemm16
// or gemmK16 kernels; every batch without it, through the Go twins).
func (mt *matmulTask) runR16Gemv(lo, hi, _ int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/mt.t.BlockSize(), mt.x40Step
	for g := lo; g < hi; g++ {
		j := g * r16Rows
		for c := 0; c < mt.m; c++ {
			mt.pl.r16gemv(mt.w[j*rb:(j+r16Rows)*rb], mt.x40[c*xs:(c+1)*xs], nb, mt.out[c*n+j:c*n+j+r16Rows])
		}
	}
}

// r16A2MaxCols is the widest AVX2 Rows16 kernel (gemmR16A2*x4).
const r16A2MaxCols = 4

// runR16A2 computes the outputs of Rows16 groups [lo,hi) on AVX2 hosts
// without AVX-512 VNNI: each group against the activation rows up to
// r16A2MaxCols at a time, straight from its tiles (the group, 16·rowBytes
// bytes, stays in cache between the calls).
func (mt *matmulTask) runR16A2(lo, hi, _ int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/32, mt.x40Step
	k := &mt.pl.r16a2
	for g := lo; g < hi; g++ {
		j := g * r16Rows
		w := &mt.w[j*rb]
		for c := 0; c < mt.m; c += r16A2MaxCols {
			nc := min(r16A2MaxCols, mt.m-c)
			k[nc-1](w, &mt.x40[c*xs], xs, nb, &mt.out[c*n+j], n)
		}
	}
}

// runR16KA2 computes the outputs of Rows16 q4_K/q5_K groups [lo,hi) on
// AVX2 hosts without AVX-512 VNNI: each group against the activation rows
// two at a time in the GEMM order (gemmK16Go's, as the AVX-512 prefill
// kernels), an odd last row as a pair with itself whose second half of
// outputs is dropped.
func (mt *matmulTask) runR16KA2(lo, hi, _ int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/256, mt.x40Step
	var accm, odd [2 * r16Rows]float32
	for g := lo; g < hi; g++ {
		j := g * r16Rows
		w := mt.w[j*rb : (j+r16Rows)*rb]
		c := 0
		for ; c+2 <= mt.m; c += 2 {
			mt.pl.r16kx2(&w[0], &mt.x40[c*xs], xs, nb, &mt.out[c*n+j], n, &accm[0])
		}
		if c < mt.m {
			mt.pl.r16kx2(&w[0], &mt.x40[c*xs], 0, nb, &odd[0], r16Rows, &accm[0])
			copy(mt.out[c*n+j:c*n+j+r16Rows], odd[:r16Rows])
		}
	}
}

// r16GoKernels returns the pure-Go Rows16 kernels of t (hosts without
// AVX-512 VNNI, and the tests' reference).
func r16GoKernels(t weights.Type) (gemv func(w, x []byte, nb int, out []float32), dec func(w *byte, wstride, nb int, dst *byte)) {
	switch t {
	case weights.TypeQ8_0:
		return gemvR16GoQ8_0, decR16GoQ8_0
	case weights.TypeQ5_0:
		return gemvR16GoQ5_0, decR16GoQ5_0
	}
	return gemvR16GoQ4_0, decR16GoQ4_0
}

func gemvR16GoQ4_0(w, x []byte, nb int, out []float32) { gemvR16Go(w, x, nb, out, decR16GoQ4_0) }
func gemvR16GoQ8_0(w, x []byte, nb int, out []float32) { gemvR16Go(w, x, nb, out, decR16GoQ8_0) }

func decR16GoQ4_0(w *byte, _, nb int, dst *byte) {
	decR16Go(unsafe.Slice(w, nb*r16Rows*18), nb, unsafe.Slice(dst, nb*w16BlockSize), weights.TypeQ4_0)
}

func decR16GoQ8_0(w *byte, _, nb int, dst *byte) {
	decR16Go(unsafe.Slice(w, nb*r16Rows*q8_0Size), nb, unsafe.Slice(dst, nb*w16BlockSize), weights.TypeQ8_0)
}

// hasR16A2 reports whether Rows16 weights of type t run on the AVX2
// kernels here (q4_0/q5_0/q8_0 on AVX2 hosts; AVX-512 VNNI hosts use their
// own).
func hasR16A2(t weights.Type) bool {
	_, ok := r16A2Kernels(t, true)
	return ok
}
