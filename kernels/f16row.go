package kernels

import (
	"math"

	"dayi/weights"
)

// Row conversions between float32 and IEEE binary16 for the backend's
// ConvertDType (engine/backend convertChunk): every step writes its new
// K and V rows into an F16 cache through one, a few thousand values per
// layer, below the size the backend splits over threads, so the main thread
// converted them one value at a time in Go (~1 % of a 2-thread qwen2-0.5b
// prefill step, with the helper thread idle meanwhile). F16C converts 8 per
// instruction with the same rounding (to nearest even, VCVTPS2PH's
// immediate 0, as ggml's ggml_cpu_fp32_to_fp16 on x86), so the assembly
// equals the Go twins bit for bit, NaN payloads included (TestF16Rows).

// F32ToF16Row sets o[i] to x[i] rounded to binary16 for i < len(o); x must be
// at least as long as o.
func F32ToF16Row(o []uint16, x []float32) { convertRow(o, x, cvtF32F16AVX2, f32ToF16Go) }

// F16ToF32Row sets o[i] to the binary16 value x[i] for i < len(o) (exact; a
// signalling NaN comes out quiet); x must be at least as long as o.
func F16ToF32Row(o []float32, x []uint16) { convertRow(o, x, cvtF16F32AVX2, f16ToF32Go) }

// convertRow runs the F16C kernel over the longest multiple of 8 values
// and the Go twin over the rest.
func convertRow[O, X any](o []O, x []X, simd func(o *O, x *X, n int), twin func(o []O, x []X)) {
	n := len(o)
	if n == 0 {
		return
	}
	x = x[:n]
	done := 0
	if hasAVX2 && n >= 8 {
		done = n &^ 7
		simd(&o[0], &x[0], done)
	}
	twin(o[done:], x[done:])
}

// f32ToF16Go is F32ToF16Row's twin.
func f32ToF16Go(o []uint16, x []float32) {
	x = x[:len(o)]
	for i, v := range x {
		o[i] = f32ToF16(v)
	}
}

// f16ToF32Go is F16ToF32Row's twin. A signalling NaN comes out quiet, as
// from VCVTPH2PS (and ggml's x86 GGML_CPU_FP16_TO_FP32, _cvtsh_ss);
// weights.FP16ToFP32 keeps the quiet bit as it is.
func f16ToF32Go(o []float32, x []uint16) {
	x = x[:len(o)]
	for i, v := range x {
		f := weights.FP16ToFP32(v)
		if v&0x7c00 == 0x7c00 && v&0x3ff != 0 {
			f = math.Float32frombits(math.Float32bits(f) | 1<<22)
		}
		o[i] = f
	}
}

// f32ToF16 is weights.FP32ToFP16 (round to nearest even, as ggml) with the
// common case, a float32 that maps to a normal float16, rounded without a
// branch: on activations the round-up decision is a coin flip, and the
// mispredicted branch made each conversion cost ~10 ns (the K/V rows of a
// prefill go through here). Everything else (zeros, subnormals, overflow,
// inf, NaN) takes weights.FP32ToFP16. TestF32ToF16MatchesWeights compares
// the two.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	// Biased float32 exponents 113..142 are float16 exponents 1..30.
	if e := (b >> 23) & 0xff; e-113 < 30 {
		h := (e-112)<<10 | (b>>13)&0x3ff
		// Round to nearest even: add 1 when the dropped 13 bits exceed half,
		// or equal half and h is odd; a carry into the exponent is right (up
		// to inf from exponent 30).
		h += ((b & 0x1fff) + 0xfff + (h & 1)) >> 13
		return uint16(b>>16)&0x8000 | uint16(h)
	}
	return weights.FP32ToFP16(f)
}
