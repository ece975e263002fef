package kernels

import (
	"math"
	"sync"

	"dayi/weights"
)

// GELU in llama.cpp's numerics, for a gated feed-forward's gate (gemma2,
// gemma3: ggml_geglu_split). ggml-cpu (vec.h ggml_vec_geglu_f32 with
// GGML_GELU_FP16) computes gelu(x)·g per element as: x ≤ -10 gives 0,
// x ≥ 10 gives x·g, anything else table[f16(x)]·g, where the table holds
// f16(ggml_gelu_f32(v)) for every f16 v. GeluF16Row does the gelu(x) part
// in place, so that a fused matmul can finish the gate before the graph
// multiplies it by g: the product then rounds exactly as ggml's. As one
// pass it replaces eight graph ops (f16 conversion, bitcast, widening,
// gather, two compares, two selects), which took ~40 % of a gemma3-1b
// prefill on the 2026-12-06 AMX VM (pprof).

// GeluF16Activation is the activation number a GoMLX FusedQuantizedDense
// node carries to ask dayi's backend for GeluF16Row after the matmul. It
// lies far outside GoMLX's own backends.ActivationType values (0..5 in
// v0.27.2), as the quantization scheme numbers do (Scheme).
const GeluF16Activation = 0x6e6c7567 // "guln"

// GeluF16Table is ggml_table_gelu_f16 as float32: for every f16 bit pattern
// i, f16(ggml_gelu_f32(f32(i))), where ggml_gelu_f32(x) = 0.5f·x·(1 +
// tanhf(SQRT_2_OVER_PI·x·(1 + GELU_COEF_A·x·x))) in float32, evaluated in
// C's left-to-right order (ggml-cpu vec.h; the table is filled in
// ggml_cpu_init). The explicit float32 conversions keep Go from fusing the
// products into FMAs. The slice is shared: callers must not write to it.
var GeluF16Table = sync.OnceValue(func() []float32 {
	const coefA, sqrt2OverPi = float32(0.044715), float32(0.79788456080286535587989211986876)
	t := make([]float32, 1<<16)
	for i := range t {
		x := weights.FP16ToFP32(uint16(i))
		inner := float32(float32(sqrt2OverPi*x) * float32(1+float32(float32(coefA*x)*x)))
		th := float32(math.Tanh(float64(inner)))
		y := float32(float32(0.5*x) * float32(1+th))
		t[i] = weights.FP16ToFP32(weights.FP32ToFP16(y))
	}
	return t
})

// GeluF16Row replaces each x of v by ggml's geglu gate value: 0 for
// x ≤ -10, x for x ≥ 10, else GeluF16Table()[f16(x)] (f16 rounded to
// nearest even, as F16C's VCVTPS2PH and ggml's GGML_CPU_FP32_TO_FP16).
func GeluF16Row(v []float32) {
	t := GeluF16Table()
	n := 0
	switch {
	case hasGeluAsm:
		n = len(v) &^ 15
		if n > 0 {
			geluF16Row16(&v[0], n, &t[0])
		}
	case hasAVX2:
		n = len(v) &^ 7
		if n > 0 {
			geluF16Row8(&v[0], n, &t[0])
		}
	}
	geluF16RowGo(v[n:], t)
}

// geluF16RowGo is GeluF16Row's pure-Go twin.
func geluF16RowGo(v, t []float32) {
	for i, x := range v {
		switch {
		case x <= -10:
			v[i] = 0
		case x >= 10:
		default:
			v[i] = t[weights.FP32ToFP16(x)]
		}
	}
}

// GeluF16Rows runs GeluF16Row over the rows of n values of v, split
// between the pool's workers when there is enough work.
func (p *Pool) GeluF16Rows(v []float32, n int) { p.rows(v, n, GeluF16Row) }
