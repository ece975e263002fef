package kernels

import (
	"encoding/binary"
	"math"
)

// Prefill of q4_0/q8_0 weights on 16-row interleaved tiles.
//
// The decode kernels (gemvQ4_0x4 and the per-row dots) follow ggml's
// vec_dot order: per block, 8 float lanes of partial integer sums are
// scaled and accumulated, then reduced at the end. That costs four float
// operations per block and weight-row × activation-row pair, which caps a
// prefill at a fraction of what VPDPBUSD can do. For batches, llama.cpp
// itself does not use vec_dot either: on AVX2/AVX-512 hosts it repacks
// q4_0 weights into 8-row interleaved blocks (ggml-cpu "repack",
// block_q4_0x8) and its GEMM computes each block's exact integer dot
// product first, then accumulates float(sum)·(d_w·d_x) with one FMA per
// output and block. This path does the same, 16 rows at a time:
//
//   - each group of 16 weight rows is decoded once per matmul into worker
//     scratch (decode16): per 32-value block, 8 slices of 64 bytes, slice g
//     holding elements 4g..4g+3 of the 16 rows as unsigned u = q + c
//     (c = 8 for q4_0's nibbles, 128 for q8_0 via xor 0x80), followed by
//     the 16 rows' d_w as float32: w16BlockSize bytes per block;
//   - each activation row is packed per block as its 32 q8_0 quants, the
//     int32 bias -c·Σq and d_x as float32 (x40BlockSize bytes; pack40);
//   - the kernel (gemm16_amd64.s) broadcasts 4 activation bytes at a time
//     into VPDPBUSD against a slice, so each of the 16 int32 lanes collects
//     one row's whole block sum (exact: Σu·x - c·Σx = Σq·x), converts the
//     16 sums to float and adds them times d_w·d_x to the 16 outputs with
//     one FMA: 8 VPDPBUSD and 3 float instructions per block and 16×1
//     outputs, instead of 16 × 4 float instructions.
//
// The float order per output is therefore acc = fma(float(isum_b),
// d_w·d_x, acc) over blocks b in order, from acc = 0: gemm16Go below is
// the exact twin, and it differs from vec_dot's order only in the last
// bits (TestGemm16AgainstDot bounds it).
const (
	w16Rows      = 16
	w16BlockSize = 8*64 + w16Rows*4
	x40BlockSize = 40
	q5_0Size     = 22 // f16 d, u32 qh, 16 bytes qs
)

// decode16 decodes nb blocks of the 16 weight rows w + r*wstride (q4_0,
// q5_0 or q8_0 as blockBytes says; q5_0's u = q + 16) into dst (nb*w16BlockSize bytes).
func decode16(dst, w []byte, wstride, nb, blockBytes int) {
	var u [32]byte
	for b := 0; b < nb; b++ {
		d := dst[b*w16BlockSize : (b+1)*w16BlockSize]
		for r := 0; r < w16Rows; r++ {
			blk := w[r*wstride+b*blockBytes : r*wstride+(b+1)*blockBytes]
			switch blockBytes {
			case q8_0Size:
				for i, q := range blk[2:34] {
					u[i] = q ^ 0x80
				}
			case q5_0Size:
				qh := binary.LittleEndian.Uint32(blk[2:6])
				for i, q := range blk[6:22] {
					u[i] = q&0x0f | byte(qh>>i&1)<<4
					u[i+16] = q>>4 | byte(qh>>(i+16)&1)<<4
				}
			default:
				for i, q := range blk[2:18] {
					u[i], u[i+16] = q&0x0f, q>>4
				}
			}
			for g := 0; g < 8; g++ {
				copy(d[g*64+r*4:g*64+r*4+4], u[4*g:4*g+4])
			}
			binary.LittleEndian.PutUint32(d[512+4*r:], math.Float32bits(f16(blk)))
		}
	}
}

// pack40 packs the nb q8_0 blocks of one quantized activation row x into
// dst (nb*x40BlockSize bytes) for weights biased by c. The assembly
// (pack40AVX2, quant_amd64.s) takes it where the CPU has AVX2: the Go loop
// below adds the 32 quants one at a time and was ~15 % of a q8_0 prefill
// matmul at k = 896 (BenchmarkPack40).
func pack40(dst, x []byte, nb int, c int32) {
	if nb == 0 {
		return
	}
	if hasAVX2 {
		_, _ = dst[nb*x40BlockSize-1], x[nb*q8_0Size-1]
		pack40AVX2(&dst[0], &x[0], nb, c)
		return
	}
	pack40Go(dst, x, nb, c)
}

// pack40Go is pack40's twin.
func pack40Go(dst, x []byte, nb int, c int32) {
	for b := 0; b < nb; b++ {
		blk := x[b*q8_0Size : (b+1)*q8_0Size]
		d := dst[b*x40BlockSize : (b+1)*x40BlockSize]
		copy(d[:32], blk[2:34])
		var s int32
		for _, q := range blk[2:34] {
			s += int32(int8(q))
		}
		binary.LittleEndian.PutUint32(d[32:], uint32(-c*s))
		binary.LittleEndian.PutUint32(d[36:], math.Float32bits(f16(blk)))
	}
}

// gemm16Go is the twin of the gemm16 kernels: the decoded group w (nb
// blocks) times ncols packed activation rows x + c*xstride; the 16 results
// of column c go to out[c*ostride : c*ostride+16].
func gemm16Go(w, x []byte, xstride, nb, ncols int, out []float32, ostride int) {
	for c := 0; c < ncols; c++ {
		var acc [w16Rows]float32
		for b := 0; b < nb; b++ {
			wb := w[b*w16BlockSize : (b+1)*w16BlockSize]
			xb := x[c*xstride+b*x40BlockSize : c*xstride+(b+1)*x40BlockSize]
			bias := int32(binary.LittleEndian.Uint32(xb[32:]))
			dx := math.Float32frombits(binary.LittleEndian.Uint32(xb[36:]))
			for r := 0; r < w16Rows; r++ {
				s := bias
				for g := 0; g < 8; g++ {
					for i := 0; i < 4; i++ {
						s += int32(wb[g*64+r*4+i]) * int32(int8(xb[4*g+i]))
					}
				}
				dw := math.Float32frombits(binary.LittleEndian.Uint32(wb[512+4*r:]))
				acc[r] = fma32(float32(s), dw*dx, acc[r])
			}
		}
		copy(out[c*ostride:c*ostride+w16Rows], acc[:])
	}
}

// gemm16MinRows is the batch from which q4_0/q8_0 matmuls take the 16-row
// path: decoding a group costs about as much as running it against a few
// activation rows (BenchmarkGemm16: dec16Q4_0 ~5.8 µs per 16×2048 group,
// the 6-column kernel ~1.4 µs).
const gemm16MinRows = 8

// runGemm16 computes the outputs of weight-row groups [lo,hi) (16 rows
// each) for all m activation rows: each full group is decoded by the
// plan's g16dec (from GGUF rows, or from a Rows16 group) into the worker's
// scratch and run against the activation rows 16 or 32 at a time on AMX
// tiles where the plan has them (amx.go), two weight groups per call where
// two are left, and the rest 6 at a time on the VNNI kernels; q8_0 Rows16
// groups go to the AMX tiles as stored and are decoded only for the rest;
// a short last group (n not a multiple of 16) takes the per-row dots.
func (mt *matmulTask) runGemm16(lo, hi, worker int) {
	rb, n, nb, xs := mt.rowBytes, mt.n, mt.k/32, mt.x40Step
	amx, groups := &mt.pl.g16amx, mt.m/16
	useAMX := amx.one != nil && groups > 0
	gsize, ndec := nb*w16BlockSize, 1
	if useAMX {
		ndec = 2 // the two weight groups of an AMX call
	}
	dec, cbuf := mt.decScratch(worker, ndec*gsize, amxCbufBytes, useAMX)
	c0 := 0 // the first activation row the VNNI kernels take
	if useAMX {
		c0 = groups * 16
	}
	decode := c0 < mt.m || (useAMX && !amx.inPlace)
	for g := lo; g < hi; {
		j := g * w16Rows
		if j+w16Rows > n {
			mt.dotRows(j, n, worker)
			return
		}
		ng := 1
		if useAMX && g+1 < hi && j+2*w16Rows <= n {
			ng = 2
		}
		for h := 0; h < ng; h++ {
			d := dec[h*gsize:]
			if decode {
				mt.pl.g16dec(&mt.w[(j+h*w16Rows)*rb], rb, nb, &d[0])
			}
			for c := c0; c < mt.m; c += 6 {
				nc := min(6, mt.m-c)
				gemm16Kernels[nc-1](&d[0], &mt.x40[c*xs], xs, nb, &mt.out[c*n+j+h*w16Rows], n)
			}
		}
		if useAMX {
			k := amx.one
			if ng == 2 {
				k = amx.two
			}
			if amx.inPlace {
				k(&mt.w[j*rb], w16Rows*rb, &mt.x40[0], xs, nb, groups, &mt.out[j], n, cbuf, 0)
			} else {
				// Last: it turns dec's u = q + c into q in place.
				k(&dec[0], gsize, &mt.x40[0], xs, nb, groups, &mt.out[j], n, cbuf, int(mt.pl.g16bias))
			}
		}
		g += ng
	}
}

// decScratch returns the worker's scratch for one decoded 16-row group of
// size bytes and, when amx is set, the aligned C-tile scratch of cbufBytes
// behind it (nil otherwise), growing the worker's buffer as needed.
func (mt *matmulTask) decScratch(worker, size, cbufBytes int, amx bool) ([]byte, *byte) {
	need := size
	if amx {
		need += cbufBytes
	}
	if cap(mt.kdec[worker]) < need {
		mt.kdec[worker] = make([]byte, need)
	}
	buf := mt.kdec[worker][:need]
	if !amx {
		return buf, nil
	}
	return buf[:size], amxCbuf(buf[size:])
}
