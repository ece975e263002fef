package weights

import "math"

// Non-linear 4-bit codecs: IQ4_NL (16-entry learned grid, f16 scale) and
// MXFP4 (OCP microscaling FP4 E2M1 with an E8M0 shared exponent).
// Layouts: ggml/src/ggml-common.h block_iq4_nl, block_mxfp4. Algorithms:
// ggml/src/ggml-quants.c (llama.cpp v0.5.0) dequantize_row_iq4_nl,
// quantize_iq4_nl / quantize_row_iq4_nl_impl, dequantize_row_mxfp4,
// quantize_row_mxfp4_ref.

// kvaluesIQ4NL is ggml-common.h kvalues_iq4nl.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// kvaluesMXFP4 is ggml-common.h kvalues_mxfp4: E2M1 values doubled (the
// scale carries the matching 1/2).
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

const (
	iq4nlSize = 18
	mxfp4Size = 17
)

func dequantIQ4NL(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*iq4nlSize : i*iq4nlSize+iq4nlSize]
		y := dst[i*qk32 : i*qk32+qk32]
		d := f16At(b)
		qs := b[2:18]
		for j := 0; j < 16; j++ {
			y[j] = d * float32(kvaluesIQ4NL[qs[j]&0xf])
			y[j+16] = d * float32(kvaluesIQ4NL[qs[j]>>4])
		}
	}
}

// bestIndexInt8 is best_index_int8: the index of the grid value nearest x
// (the upper one on ties), by bisection of the sorted grid.
func bestIndexInt8(val *[16]int8, x float32) int {
	if x <= float32(val[0]) {
		return 0
	}
	if x >= float32(val[15]) {
		return 15
	}
	ml, mu := 0, 15
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(val[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(val[mu-1]) < float32(val[mu])-x {
		return mu - 1
	}
	return mu
}

// quantIQ4NL is quantize_iq4_nl without an importance matrix, which is what
// ggml_quantize_chunk (and llama-quantize) run: quantize_row_iq4_nl_impl with
// one 32-block per super-block, weights x^2 and ntry = 7. (ggml's
// quantize_row_iq4_nl_ref uses ntry = -1 and gives different bytes.)
func quantIQ4NL(dst []byte, src []float32) {
	const ntry = 7
	var L [qk32]uint8
	values := &kvaluesIQ4NL
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*iq4nlSize : i*iq4nlSize+iq4nlSize]
		var scale float32
		if amax, max := maxAbs(x); amax >= fltEpsGroup {
			d := -max / float32(values[0])
			id := 1 / d
			var sumqx, sumq2 float32
			for j, v := range x {
				l := bestIndexInt8(values, id*v)
				L[j] = uint8(l)
				q := float32(values[l])
				w := float32(v * v)
				sumqx += float32(float32(w*q) * v)
				sumq2 += float32(float32(w*q) * q)
			}
			d = 0
			if sumq2 > 0 {
				d = sumqx / sumq2
			}
			best := d * sumqx
			for itry := -ntry; itry <= ntry; itry++ {
				id = float32(itry+int(values[0])) / max
				sumqx, sumq2 = 0, 0
				for _, v := range x {
					q := float32(values[bestIndexInt8(values, id*v)])
					w := float32(v * v)
					sumqx += float32(float32(w*q) * v)
					sumq2 += float32(float32(w*q) * q)
				}
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
					d = sumqx / sumq2
					best = d * sumqx
				}
			}
			scale = d
		}
		putF16(b, scale)
		var id float32
		if scale != 0 {
			id = 1 / scale
		}
		for j, v := range x {
			L[j] = uint8(bestIndexInt8(values, id*v))
		}
		for j := 0; j < 16; j++ {
			b[2+j] = L[j] | L[j+16]<<4
		}
	}
}

// e8m0Half is ggml_e8m0_to_fp32_half: 2^(e-128) as float32 bits, with the
// two smallest exponents as subnormals.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

func dequantMXFP4(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*mxfp4Size : i*mxfp4Size+mxfp4Size]
		y := dst[i*qk32 : i*qk32+qk32]
		d := e8m0Half(b[0])
		qs := b[1:17]
		for j := 0; j < 16; j++ {
			y[j] = float32(kvaluesMXFP4[qs[j]&0xf]) * d
			y[j+16] = float32(kvaluesMXFP4[qs[j]>>4]) * d
		}
	}
}

// bestIndexMXFP4 is best_index_mxfp4: linear search, first minimum wins.
func bestIndexMXFP4(x, e float32) uint8 {
	best := 0
	bestErr := absf(float32(float32(kvaluesMXFP4[0])*e) - x)
	for i := 1; i < 16; i++ {
		if err := absf(float32(float32(kvaluesMXFP4[i])*e) - x); err < bestErr {
			best, bestErr = i, err
		}
	}
	return uint8(best)
}

// quantMXFP4 is quantize_row_mxfp4_ref: e = floor(log2(amax)) - 2 + 127,
// codes by nearest grid value. log2f is taken as the float32 rounding of the
// float64 log2 (glibc's log2f is correctly rounded, and so is this but for
// double-rounding cases that cannot change the floor).
func quantMXFP4(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*mxfp4Size : i*mxfp4Size+mxfp4Size]
		var amax float32
		for _, v := range x {
			if av := absf(v); amax < av {
				amax = av
			}
		}
		var e uint8
		if amax > 0 {
			lg := float32(math.Log2(float64(amax)))
			e = uint8(int32(float32(math.Floor(float64(lg))) - 2 + 127))
		}
		d := e8m0Half(e)
		b[0] = e
		for j := 0; j < 16; j++ {
			b[1+j] = bestIndexMXFP4(x[j], d) | bestIndexMXFP4(x[j+16], d)<<4
		}
	}
}
