package weights

import (
	"encoding/binary"
	"math"
)

// Plain float types and ggml's original 32-element block quantizations.
// Block layouts: ggml/src/ggml-common.h (block_q4_0 … block_q8_1).
// Algorithms: ggml/src/ggml-quants.c, dequantize_row_q* and
// quantize_row_q*_ref (llama.cpp v0.5.0). All arithmetic is float32, in the
// order ggml performs it, so results are bit-identical.

const qk32 = 32 // QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = QK8_1

// ---- F32, F16, BF16 ----

func dequantF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func quantF32(dst []byte, src []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// fp16Table holds FP16ToFP32 of every binary16 pattern (256 KiB, built once
// at package initialisation and never written again), as ggml's
// ggml_table_f32_f16: a load is several times faster than the branchy
// conversion for F16 weights.
var fp16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = FP16ToFP32(uint16(i))
	}
	return &t
}()

func dequantF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	tab := fp16Table
	for i := range dst {
		dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

// quantF16 is ggml_fp32_to_fp16_row: round to nearest even per element.
func quantF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToFP16(v))
	}
}

func dequantBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	}
}

// quantBF16 is ggml_fp32_to_bf16_row_ref (what ggml_quantize_chunk uses).
func quantBF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToBF16(v))
	}
}

// ---- Q4_0: f16 d; u8 qs[16]; x = (q-8)*d ----

func dequantQ4_0(dst []float32, src []byte) {
	const bs = 18
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*bs : i*bs+bs]
		y := dst[i*qk32 : i*qk32+qk32]
		d := f16At(b)
		qs := b[2:18]
		for j := 0; j < 16; j++ {
			y[j] = float32(int(qs[j]&0x0f)-8) * d
			y[j+16] = float32(int(qs[j]>>4)-8) * d
		}
	}
}

// quantQ4_0 is quantize_row_q4_0_ref: d = (signed value of largest
// magnitude)/-8, codes truncated from x/d+8.5 and clamped to 15.
func quantQ4_0(dst []byte, src []float32) {
	const bs = 18
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*bs : i*bs+bs]
		var amax, max float32
		for _, v := range x {
			if av := absf(v); amax < av {
				amax, max = av, v
			}
		}
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		for j := 0; j < 16; j++ {
			x0 := float32(x[j] * id)
			x1 := float32(x[j+16] * id)
			b[2+j] = min4(int8(x0+8.5), 15) | min4(int8(x1+8.5), 15)<<4
		}
	}
}

// min4 is MIN(hi, q) of a truncated code, as a byte.
func min4(q, hi int8) byte {
	if q > hi {
		q = hi
	}
	return byte(q)
}

// ---- Q4_1: f16 d, f16 m; u8 qs[16]; x = q*d + m ----

func dequantQ4_1(dst []float32, src []byte) {
	const bs = 20
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*bs : i*bs+bs]
		y := dst[i*qk32 : i*qk32+qk32]
		d, m := f16At(b), f16At(b[2:])
		qs := b[4:20]
		for j := 0; j < 16; j++ {
			y[j] = float32(float32(qs[j]&0x0f)*d) + m
			y[j+16] = float32(float32(qs[j]>>4)*d) + m
		}
	}
}

// quantQ4_1 is quantize_row_q4_1_ref: d = (max-min)/15, m = min.
func quantQ4_1(dst []byte, src []float32) {
	const bs = 20
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*bs : i*bs+bs]
		mn, d, id := minScale(x, 15)
		putF16(b, d)
		putF16(b[2:], mn)
		for j := 0; j < 16; j++ {
			x0 := float32((x[j] - mn) * id)
			x1 := float32((x[j+16] - mn) * id)
			b[4+j] = min4(int8(x0+0.5), 15) | min4(int8(x1+0.5), 15)<<4
		}
	}
}

// ---- Q5_0: f16 d; u32 qh; u8 qs[16]; x = (q-16)*d ----

func dequantQ5_0(dst []float32, src []byte) {
	const bs = 22
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*bs : i*bs+bs]
		y := dst[i*qk32 : i*qk32+qk32]
		d := f16At(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		qs := b[6:22]
		for j := 0; j < 16; j++ {
			xh0 := byte(qh>>uint(j)<<4) & 0x10
			xh1 := byte(qh>>uint(j+12)) & 0x10
			y[j] = float32(int(qs[j]&0x0f|xh0)-16) * d
			y[j+16] = float32(int(qs[j]>>4|xh1)-16) * d
		}
	}
}

// quantQ5_0 is quantize_row_q5_0_ref: d = (signed max magnitude)/-16.
func quantQ5_0(dst []byte, src []float32) {
	const bs = 22
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*bs : i*bs+bs]
		var amax, max float32
		for _, v := range x {
			if av := absf(v); amax < av {
				amax, max = av, v
			}
		}
		d := max / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		var qh uint32
		for j := 0; j < 16; j++ {
			xi0 := min4(int8(float32(x[j]*id)+16.5), 31)
			xi1 := min4(int8(float32(x[j+16]*id)+16.5), 31)
			b[6+j] = xi0&0x0f | (xi1&0x0f)<<4
			qh |= uint32(xi0&0x10) >> 4 << uint(j)
			qh |= uint32(xi1&0x10) >> 4 << uint(j+16)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	}
}

// ---- Q5_1: f16 d, f16 m; u32 qh; u8 qs[16]; x = q*d + m ----

func dequantQ5_1(dst []float32, src []byte) {
	const bs = 24
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*bs : i*bs+bs]
		y := dst[i*qk32 : i*qk32+qk32]
		d, m := f16At(b), f16At(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		qs := b[8:24]
		for j := 0; j < 16; j++ {
			xh0 := byte(qh>>uint(j)<<4) & 0x10
			xh1 := byte(qh>>uint(j+12)) & 0x10
			y[j] = float32(float32(qs[j]&0x0f|xh0)*d) + m
			y[j+16] = float32(float32(qs[j]>>4|xh1)*d) + m
		}
	}
}

// quantQ5_1 is quantize_row_q5_1_ref: d = (max-min)/31, m = min; codes are
// truncated without a clamp, as in ggml.
func quantQ5_1(dst []byte, src []float32) {
	const bs = 24
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*bs : i*bs+bs]
		mn, d, id := minScale(x, 31)
		putF16(b, d)
		putF16(b[2:], mn)
		var qh uint32
		for j := 0; j < 16; j++ {
			xi0 := byte(int32(float32((x[j]-mn)*id) + 0.5))
			xi1 := byte(int32(float32((x[j+16]-mn)*id) + 0.5))
			b[8+j] = xi0&0x0f | (xi1&0x0f)<<4
			qh |= uint32(xi0&0x10) >> 4 << uint(j)
			qh |= uint32(xi1&0x10) >> 4 << uint(j+16)
		}
		binary.LittleEndian.PutUint32(b[4:], qh)
	}
}

// ---- Q8_0: f16 d; i8 qs[32]; x = q*d ----

func dequantQ8_0(dst []float32, src []byte) {
	const bs = 34
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*bs : i*bs+bs]
		y := dst[i*qk32 : i*qk32+qk32]
		d := f16At(b)
		qs := b[2:34]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
	}
}

// amaxQ8 is the max(|x|) loop of quantize_row_q8_0_ref, with ggml's MAX macro
// (a > b ? a : b) so NaNs propagate the same way.
func amaxQ8(x []float32) float32 {
	var amax float32
	for _, v := range x {
		if av := absf(v); !(amax > av) {
			amax = av
		}
	}
	return amax
}

// quantQ8_0 is quantize_row_q8_0_ref: d = amax/127, codes roundf(x/d).
func quantQ8_0(dst []byte, src []float32) {
	const bs = 34
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*bs : i*bs+bs]
		d := amaxQ8(x) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		for j, v := range x {
			b[2+j] = byte(int8(int32(roundf(v * id))))
		}
	}
}

// ---- Q8_1: f16 d, f16 s (= d*sum(q)); i8 qs[32] ----

// dequantQ8_1 decodes q*d; ggml has no to_float for q8_1 (it is only an
// activation format), this is the obvious inverse of its quantizer.
func dequantQ8_1(dst []float32, src []byte) {
	const bs = 36
	for i := 0; i < len(dst)/qk32; i++ {
		b := src[i*bs : i*bs+bs]
		y := dst[i*qk32 : i*qk32+qk32]
		d := f16At(b)
		qs := b[4:36]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
	}
}

// quantQ8_1 is quantize_row_q8_1_ref.
func quantQ8_1(dst []byte, src []float32) {
	const bs = 36
	for i := 0; i < len(src)/qk32; i++ {
		x := src[i*qk32 : i*qk32+qk32]
		b := dst[i*bs : i*bs+bs]
		d := amaxQ8(x) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		sum := 0
		for j, v := range x {
			q := int8(int32(roundf(v * id)))
			b[4+j] = byte(q)
			sum += int(q)
		}
		putF16(b[2:], float32(sum)*d)
	}
}

// minScale is the shared start of ggml's q4_1/q5_1 reference quantizers: the
// block minimum, the step d = (max-min)/levels and its inverse (0 when d is 0),
// all in float32 as ggml computes them.
func minScale(x []float32, levels float32) (mn, d, id float32) {
	mn, mx := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range x {
		if v < mn {
			mn = v
		}
		if v > mx {
			mx = v
		}
	}
	d = (mx - mn) / levels
	if d != 0 {
		id = 1 / d
	}
	return mn, d, id
}
