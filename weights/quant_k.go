package weights

import (
	"encoding/binary"
	"math"
)

// K-quants: 256-element super-blocks with 16 or 8 sub-block scales.
// Block layouts: ggml/src/ggml-common.h (block_q2_K … block_q8_K).
// Algorithms: ggml/src/ggml-quants.c (llama.cpp v0.5.0) dequantize_row_q*_K,
// quantize_row_q*_K_ref and their helpers make_qx_quants, make_q3_quants and
// make_qkx2_quants, ported operation by operation in float32. Every product
// that feeds a sum is wrapped in float32() so Go cannot fuse it into an FMA
// (ggml's reference quantizers run without contraction).

const (
	qkK         = 256   // QK_K
	groupMaxEps = 1e-15 // GROUP_MAX_EPS
	q2KSize     = 84    // 16 scales + 64 qs + d + dmin
	q3KSize     = 110   // 32 hmask + 64 qs + 12 scales + d
	q4KSize     = 144   // d + dmin + 12 scales + 128 qs
	q5KSize     = 176   // d + dmin + 12 scales + 32 qh + 128 qs
	q6KSize     = 210   // 128 ql + 64 qh + 16 scales + d
	q8KSize     = 292   // f32 d + 256 qs + 16 int16 bsums
	kmask1      = 0x03030303
	kmask2      = 0x0f0f0f0f
	fltEpsGroup = float32(groupMaxEps)
)

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// maxAbs returns the largest |x| and the signed value that has it (the first
// one on ties), the "amax/max" loop that opens most ggml quantizers.
func maxAbs(x []float32) (amax, max float32) {
	for _, v := range x {
		if av := absf(v); av > amax {
			amax, max = av, v
		}
	}
	return amax, max
}

// makeQXQuants is make_qx_quants with rmse_type 1 and no importance weights
// (the only form the reference quantizers use): symmetric codes in
// [0, 2*nmax) and a least-squares scale, searching 18 scales around nmax.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	amax, max := maxAbs(x)
	if amax < fltEpsGroup {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := -fnmax / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -float32(fnmax+float32(float32(0.1)*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			fl := float32(clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			w := float32(v * v)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is make_q3_quants with do_rmse: start from the max-based codes,
// then up to five passes of coordinate descent on the weighted (x^2) error.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	amax, max := maxAbs(x)
	if amax < fltEpsGroup {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := float32(v * v)
			fl := float32(L[i])
			slx := sumlx - float32(float32(w*v)*fl)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*fl)*fl)
				nl := clampInt(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
				if nl != int(L[i]) {
					fn := float32(nl)
					slx += float32(float32(w*v) * fn)
					sl2 += float32(float32(w*fn) * fn)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(nl)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2Quants is make_qkx2_quants: asymmetric codes in [0, nmax] with a
// scale and a (negated, returned as theMin) offset fitted by weighted least
// squares over nstep+1 candidate scales. Laux is scratch of len(x).
func makeQKX2Quants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	n := len(x)
	weights, L, Laux = weights[:n], L[:n], Laux[:n] // bounds-check elimination
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range x {
			L[i] = 0
		}
		return 0, -min
	}
	fnmax := float32(nmax)
	iscale := fnmax / (max - min)
	scale = 1 / iscale
	var bestError float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*(v-min)), 0, nmax)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + min - v
		if useMad {
			diff = absf(diff)
		} else {
			diff = float32(diff * diff)
		}
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + fnmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampInt(nearestInt(iscale*(v-min)), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				if useMad {
					diff = absf(diff)
				} else {
					diff = float32(diff * diff)
				}
				curError += float32(weights[i] * diff)
			}
			if curError < bestError {
				copy(L[:n], Laux[:n])
				bestError = curError
				scale = thisScale
				min = thisMin
			}
		}
	}
	return scale, -min
}

// scaleMinK4 is get_scale_min_k4: the j-th 6-bit scale and min of the 12-byte
// packed scales of q4_K/q5_K.
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// packQ2 packs 256 2-bit codes as q2_K/q3_K do: byte l of each 32-byte chunk
// holds codes l, l+32, l+64, l+96 of its 128-element half.
func packQ2(qs []byte, L []uint8) {
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// ---- Q2_K ----

func dequantQ2K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q2KSize : i*q2KSize+q2KSize]
		y := dst[i*qkK : i*qkK+qkK]
		scales, qsAll := b[0:16], b[16:80]
		d, dmin := f16At(b[80:]), f16At(b[82:])
		is, o := 0, 0
		for n := 0; n < 2; n++ {
			q := qsAll[32*n : 32*n+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for h := 0; h < 2; h++ {
					sc := scales[is]
					is++
					dl := d * float32(sc&0xf)
					ml := float32(dmin * float32(sc>>4))
					qq := q[16*h : 16*h+16]
					for l := 0; l < 16; l++ {
						y[o+l] = float32(dl*float32(qq[l]>>shift&3)) - ml
					}
					o += 16
				}
			}
		}
	}
}

// quantQ2K is quantize_row_q2_K_ref.
func quantQ2K(dst []byte, src []float32) {
	var (
		L       [qkK]uint8
		laux    [16]uint8
		weights [16]float32
		mins    [16]float32
		scales  [16]float32
	)
	const q4scale = 15
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : i*qkK+qkK]
		b := dst[i*q2KSize : i*q2KSize+q2KSize]
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = absf(v)
			}
			scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		bs := b[0:16]
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range bs {
				bs[j] = uint8(nearestInt(iscale * scales[j]))
			}
			putF16(b[80:], maxScale/q4scale)
		} else {
			clear(bs)
			putF16(b[80:], 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range bs {
				bs[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
			}
			putF16(b[82:], maxMin/q4scale)
		} else {
			putF16(b[82:], 0)
		}
		dAll, mAll := f16At(b[80:]), f16At(b[82:])
		for j := 0; j < 16; j++ {
			d := dAll * float32(bs[j]&0xf)
			if d == 0 {
				continue
			}
			dm := float32(mAll * float32(bs[j]>>4))
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = uint8(clampInt(nearestInt((x[16*j+ii]+dm)/d), 0, 3))
			}
		}
		packQ2(b[16:80], L[:])
	}
}

// ---- Q3_K ----

// q3Scales unpacks the twelve bytes of 6-bit q3_K scales into 16 values in
// [0, 64) (dequantize_row_q3_K's kmask shuffle).
func q3Scales(sc []byte) [16]int8 {
	a0 := binary.LittleEndian.Uint32(sc[0:])
	a1 := binary.LittleEndian.Uint32(sc[4:])
	tmp := binary.LittleEndian.Uint32(sc[8:])
	aux := [4]uint32{
		a0&kmask2 | (tmp>>0&kmask1)<<4,
		a1&kmask2 | (tmp>>2&kmask1)<<4,
		a0>>4&kmask2 | (tmp>>4&kmask1)<<4,
		a1>>4&kmask2 | (tmp>>6&kmask1)<<4,
	}
	var out [16]int8
	for k, a := range aux {
		out[4*k+0] = int8(a)
		out[4*k+1] = int8(a >> 8)
		out[4*k+2] = int8(a >> 16)
		out[4*k+3] = int8(a >> 24)
	}
	return out
}

func dequantQ3K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q3KSize : i*q3KSize+q3KSize]
		y := dst[i*qkK : i*qkK+qkK]
		hm, qsAll := b[0:32], b[32:96]
		scales := q3Scales(b[96:108])
		dAll := f16At(b[108:])
		is, o := 0, 0
		m := uint8(1)
		for n := 0; n < 2; n++ {
			q := qsAll[32*n : 32*n+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for h := 0; h < 2; h++ {
					dl := dAll * float32(int(scales[is])-32)
					is++
					qq, hh := q[16*h:16*h+16], hm[16*h:16*h+16]
					for l := 0; l < 16; l++ {
						v := int(qq[l] >> shift & 3)
						if hh[l]&m == 0 {
							v -= 4
						}
						y[o+l] = dl * float32(v)
					}
					o += 16
				}
				m <<= 1
			}
		}
	}
}

// quantQ3K is quantize_row_q3_K_ref.
func quantQ3K(dst []byte, src []float32) {
	var (
		L      [qkK]int8
		scales [16]float32
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : i*qkK+qkK]
		b := dst[i*q3KSize : i*q3KSize+q3KSize]
		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
			if s := absf(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		bs := b[96:108]
		clear(bs)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := int8(nearestInt(iscale * scales[j]))
				l = int8(clampInt(int(l), -32, 31) + 32)
				if j < 8 {
					bs[j] = byte(l) & 0xf
				} else {
					bs[j-8] |= (byte(l) & 0xf) << 4
				}
				l >>= 4
				bs[j%4+8] |= byte(l) << (2 * uint(j/4))
			}
			putF16(b[108:], 1/iscale)
		} else {
			putF16(b[108:], 0)
		}
		dAll := f16At(b[108:])
		for j := 0; j < 16; j++ {
			var sc int8
			if j < 8 {
				sc = int8(bs[j] & 0xf)
			} else {
				sc = int8(bs[j-8] >> 4)
			}
			sc = int8(byte(sc)|(bs[8+j%4]>>(2*uint(j/4))&3)<<4) - 32
			d := dAll * float32(sc)
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = int8(clampInt(nearestInt(x[16*j+ii]/d), -4, 3) + 4)
			}
		}
		hmask := b[0:32]
		clear(hmask)
		var U [qkK]uint8
		m, hbit := 0, uint8(1)
		for j := 0; j < qkK; j++ {
			u := uint8(L[j])
			if L[j] > 3 {
				hmask[m] |= hbit
				u -= 4
			}
			U[j] = u
			if m++; m == qkK/8 {
				m, hbit = 0, hbit<<1
			}
		}
		packQ2(b[32:96], U[:])
	}
}

// ---- Q4_K ----

func dequantQ4K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q4KSize : i*q4KSize+q4KSize]
		y := dst[i*qkK : i*qkK+qkK]
		d, dmin := f16At(b[0:]), f16At(b[2:])
		sc := b[4:16]
		for j := 0; j < 4; j++ {
			q := b[16+32*j : 16+32*j+32]
			s1, m1 := scaleMinK4(2*j, sc)
			s2, m2 := scaleMinK4(2*j+1, sc)
			d1, mm1 := d*float32(s1), float32(dmin*float32(m1))
			d2, mm2 := d*float32(s2), float32(dmin*float32(m2))
			y1 := y[64*j : 64*j+32]
			y2 := y[64*j+32 : 64*j+64]
			for l := 0; l < 32; l++ {
				y1[l] = float32(d1*float32(q[l]&0xf)) - mm1
				y2[l] = float32(d2*float32(q[l]>>4)) - mm2
			}
		}
	}
}

// kScalesQ4Q5 is the part shared by quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: per-32 weights av_x+|x|, make_qkx2_quants per
// sub-block, then 6-bit scales and mins packed into b[4:16], d and dmin into
// b[0:4], and the final codes recomputed from the rounded scales into L.
func kScalesQ4Q5(b []byte, x []float32, L *[qkK]uint8, nmax int, rmin float32, nstep int) {
	var (
		laux    [32]uint8
		weights [32]float32
		mins    [8]float32
		scales  [8]float32
	)
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrtf(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + absf(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], laux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := b[4:16]
	for j := 0; j < 8; j++ {
		ls := min(uint8(nearestInt(invScale*scales[j])), 63)
		lm := min(uint8(nearestInt(invMin*mins[j])), 63)
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(b[0:], maxScale/63)
	putF16(b[2:], maxMin/63)
	dAll, mAll := f16At(b[0:]), f16At(b[2:])
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		dm := float32(mAll * float32(m))
		for ii := 0; ii < 32; ii++ {
			L[32*j+ii] = uint8(clampInt(nearestInt((x[32*j+ii]+dm)/d), 0, nmax))
		}
	}
}

// quantQ4K is quantize_row_q4_K_ref.
func quantQ4K(dst []byte, src []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : i*qkK+qkK]
		b := dst[i*q4KSize : i*q4KSize+q4KSize]
		kScalesQ4Q5(b, x, &L, 15, -1, 20)
		for j := 0; j < 4; j++ {
			q := b[16+32*j : 16+32*j+32]
			for l := range q {
				q[l] = L[64*j+l] | L[64*j+l+32]<<4
			}
		}
	}
}

// ---- Q5_K ----

func dequantQ5K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q5KSize : i*q5KSize+q5KSize]
		y := dst[i*qkK : i*qkK+qkK]
		d, dmin := f16At(b[0:]), f16At(b[2:])
		sc := b[4:16]
		qh := b[16:48]
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < 4; j++ {
			ql := b[48+32*j : 48+32*j+32]
			s1, m1 := scaleMinK4(2*j, sc)
			s2, m2 := scaleMinK4(2*j+1, sc)
			d1, mm1 := d*float32(s1), float32(dmin*float32(m1))
			d2, mm2 := d*float32(s2), float32(dmin*float32(m2))
			y1 := y[64*j : 64*j+32]
			y2 := y[64*j+32 : 64*j+64]
			for l := 0; l < 32; l++ {
				q1, q2 := int(ql[l]&0xf), int(ql[l]>>4)
				if qh[l]&u1 != 0 {
					q1 += 16
				}
				if qh[l]&u2 != 0 {
					q2 += 16
				}
				y1[l] = float32(d1*float32(q1)) - mm1
				y2[l] = float32(d2*float32(q2)) - mm2
			}
			u1 <<= 2
			u2 <<= 2
		}
	}
}

// quantQ5K is quantize_row_q5_K_ref.
func quantQ5K(dst []byte, src []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : i*qkK+qkK]
		b := dst[i*q5KSize : i*q5KSize+q5KSize]
		kScalesQ4Q5(b, x, &L, 31, -0.5, 15)
		qh := b[16:48]
		clear(qh)
		m1, m2 := uint8(1), uint8(2)
		for n := 0; n < 4; n++ {
			ql := b[48+32*n : 48+32*n+32]
			for j := 0; j < 32; j++ {
				l1, l2 := L[64*n+j], L[64*n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
		}
	}
}

// ---- Q6_K ----

func dequantQ6K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q6KSize : i*q6KSize+q6KSize]
		y := dst[i*qkK : i*qkK+qkK]
		d := f16At(b[208:])
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			sc := b[192+8*n : 192+8*n+8]
			yy := y[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
				q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				yy[l] = d * float32(int8(sc[is])) * float32(q1)
				yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
		}
	}
}

// quantQ6K is quantize_row_q6_K_ref.
func quantQ6K(dst []byte, src []float32) {
	var (
		L      [qkK]int8
		scales [16]float32
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : i*qkK+qkK]
		b := dst[i*q6KSize : i*q6KSize+q6KSize]
		var maxScale, maxAbsScale float32
		for ib := 0; ib < 16; ib++ {
			scales[ib] = makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
			if a := absf(scales[ib]); a > maxAbsScale {
				maxAbsScale, maxScale = a, scales[ib]
			}
		}
		if maxAbsScale < fltEpsGroup {
			clear(b)
			continue
		}
		iscale := -128 / maxScale
		putF16(b[208:], 1/iscale)
		bs := b[192:208]
		for ib := range bs {
			bs[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		dAll := f16At(b[208:])
		for j := 0; j < 16; j++ {
			d := dAll * float32(int8(bs[j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = int8(clampInt(nearestInt(x[16*j+ii]/d), -32, 31) + 32)
			}
		}
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			Ln := L[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				q1, q2, q3, q4 := uint8(Ln[l]), uint8(Ln[l+32]), uint8(Ln[l+64]), uint8(Ln[l+96])
				ql[l] = q1&0xf | (q3&0xf)<<4
				ql[l+32] = q2&0xf | (q4&0xf)<<4
				qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
	}
}

// ---- Q8_K: f32 d; i8 qs[256]; i16 bsums[16] (sums of 16 codes) ----

func dequantQ8K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q8KSize : i*q8KSize+q8KSize]
		y := dst[i*qkK : i*qkK+qkK]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		qs := b[4 : 4+qkK]
		for j := range y {
			y[j] = d * float32(int8(qs[j]))
		}
	}
}

// quantQ8K is quantize_row_q8_K_ref: d = max/-127 of the signed value of
// largest magnitude, codes nearest_int(x/d), plus the 16-element sums the
// K-quant dot products use. (ggml leaves bsums unwritten for an all-zero
// block; we write zeros.)
func quantQ8K(dst []byte, src []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : i*qkK+qkK]
		b := dst[i*q8KSize : i*q8KSize+q8KSize]
		amax, max := maxAbs(x)
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / max
		qs := b[4 : 4+qkK]
		for j, v := range x {
			qs[j] = byte(int8(min(127, nearestInt(iscale*v))))
		}
		for j := 0; j < 16; j++ {
			sum := 0
			for _, q := range qs[16*j : 16*j+16] {
				sum += int(int8(q))
			}
			binary.LittleEndian.PutUint16(b[4+qkK+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}
