package kern

import (
	"encoding/binary"
	"fmt"
	"math"

	"dayi/weights"
)

// CPU references of each kernel's math, in float64 where the order of
// float operations does not matter and in the kernel's order where it does
// (the q8_1 block sum, which is stored rounded to f16). They use weights'
// dequantizers (tested against ggml) rather than the kernels' bit tricks,
// so a layout mistake in a kernel cannot hide in its reference.

// RefQuantizeQ8_1 quantizes x (a multiple of 32 values) as quantize_q8_1:
// ggml-cpu x86 q8_0 codes (round-half-even of x·127/amax) and d, plus the
// f16 sum of x in the warp's butterfly order.
func RefQuantizeQ8_1(x []float32) []byte {
	out := make([]byte, len(x)/32*Q81Bytes)
	for b := 0; b < len(x)/32; b++ {
		blk := x[32*b : 32*b+32]
		var amax float32
		var lanes [32]float32
		for i, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
			lanes[i] = v
		}
		for _, m := range []int{16, 8, 4, 2, 1} { // the warp butterfly's order
			var next [32]float32
			for l := range lanes {
				next[l] = lanes[l] + lanes[l^m]
			}
			lanes = next
		}
		d := amax / 127
		id := float32(0)
		if amax != 0 {
			id = 127 / amax
		}
		o := out[b*Q81Bytes:]
		for i, v := range blk {
			q := math.RoundToEven(float64(v * id))
			o[4+i] = byte(int8(q))
		}
		binary.LittleEndian.PutUint16(o, weights.FP32ToFP16(d))
		binary.LittleEndian.PutUint16(o[2:], weights.FP32ToFP16(lanes[0]))
	}
	return out
}

// DequantQ8_1 returns the values q·d of q8_1 blocks.
func DequantQ8_1(b []byte) []float32 {
	out := make([]float32, len(b)/Q81Bytes*32)
	for i := range len(b) / Q81Bytes {
		blk := b[i*Q81Bytes:]
		d := weights.FP16ToFP32(binary.LittleEndian.Uint16(blk))
		for j := 0; j < 32; j++ {
			out[32*i+j] = float32(int8(blk[4+j])) * d
		}
	}
	return out
}

// RefGemv computes W·x as the GEMV kernels do: for quantized t, the
// dequantized weights against the dequantized activation blocks xq (q8_1
// or q8_K, as GemvKernel says); for f32/f16,
// against f32 x (rounded to f16 for f16 weights, as ggml-cpu converts
// activations to the weights' vec_dot_type).
func RefGemv(t weights.Type, w []byte, rows, k int, xq []byte, x []float32) ([]float64, error) {
	rb, err := t.RowSize(int64(k))
	if err != nil {
		return nil, err
	}
	var xv []float32
	if _, act, err := GemvKernel(t); err != nil {
		return nil, err
	} else if act == ActQ8_1 {
		xv = DequantQ8_1(xq)
	} else if act == ActQ8_K {
		xv = make([]float32, k)
		if err := weights.DequantizeRow(weights.TypeQ8_K, xv, xq); err != nil {
			return nil, err
		}
	} else if t == weights.TypeF16 {
		xv = make([]float32, len(x))
		for i, v := range x {
			xv[i] = r16(v)
		}
	} else {
		xv = x
	}
	out := make([]float64, rows)
	row := make([]float32, k)
	for r := 0; r < rows; r++ {
		wr := w[int64(r)*rb : int64(r+1)*rb]
		if err := weights.DequantizeRow(t, row, wr); err != nil {
			return nil, fmt.Errorf("row %d: %w", r, err)
		}
		var s float64
		for i := 0; i < k; i++ {
			s += float64(row[i]) * float64(xv[i])
		}
		out[r] = s
	}
	return out, nil
}

// RefRMSNorm: x / sqrt(mean(x²)+eps) * w for each row of n.
func RefRMSNorm(x, w []float32, n int, eps float32) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/n; r++ {
		var ss float64
		for _, v := range x[r*n : r*n+n] {
			ss += float64(v) * float64(v)
		}
		sc := 1 / math.Sqrt(ss/float64(n)+float64(eps))
		for i := 0; i < n; i++ {
			out[r*n+i] = float64(x[r*n+i]) * sc * float64(w[i])
		}
	}
	return out
}

// RopeTable returns the (cos, sin) pairs for position pos: θ_i = pos·base^(-2i/nrot),
// as ggml's rope (theta_scale = base^(-2/n_dims)).
func RopeTable(pos int, nrot int, base float64) []float32 {
	cs := make([]float32, nrot)
	for i := 0; i < nrot/2; i++ {
		th := float64(pos) * math.Pow(base, -2*float64(i)/float64(nrot))
		cs[2*i], cs[2*i+1] = float32(math.Cos(th)), float32(math.Sin(th))
	}
	return cs
}

// RefRope rotates heads×hd values of x by the table cs.
func RefRope(x []float32, cs []float32, heads, hd, nrot int, neox bool) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	for h := 0; h < heads; h++ {
		for i := 0; i < nrot/2; i++ {
			a, b := h*hd+2*i, h*hd+2*i+1
			if neox {
				a, b = h*hd+i, h*hd+i+nrot/2
			}
			c, s := float64(cs[2*i]), float64(cs[2*i+1])
			x0, x1 := float64(x[a]), float64(x[b])
			out[a], out[b] = x0*c-x1*s, x0*s+x1*c
		}
	}
	return out
}

// RefSiLU and RefGELU are the activations in float64.
func RefSiLU(x float64) float64 { return x / (1 + math.Exp(-x)) }

// RefGELU is the tanh form ggml uses.
func RefGELU(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x)))
}

// RefSoftmax normalises each row of n values.
func RefSoftmax(x []float32, n int) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/n; r++ {
		m := math.Inf(-1)
		for _, v := range x[r*n : r*n+n] {
			m = math.Max(m, float64(v))
		}
		var s float64
		for i := 0; i < n; i++ {
			out[r*n+i] = math.Exp(float64(x[r*n+i]) - m)
			s += out[r*n+i]
		}
		for i := 0; i < n; i++ {
			out[r*n+i] /= s
		}
	}
	return out
}

// RefAttention: one query per head over f16 caches k, v ([pos][kvHeads][hd]),
// with q and the softmax weights rounded to f16 as ggml-cpu does.
func RefAttention(q []float32, k, v []uint16, heads, kvHeads, hd, start, n int, scale float32) []float64 {
	out := make([]float64, heads*hd)
	group := heads / kvHeads
	for h := 0; h < heads; h++ {
		g := h / group
		scores := make([]float64, n)
		m := math.Inf(-1)
		for t := start; t < n; t++ {
			var s float64
			for d := 0; d < hd; d++ {
				s += float64(r16(q[h*hd+d])) * float64(weights.FP16ToFP32(k[(t*kvHeads+g)*hd+d]))
			}
			scores[t] = s * float64(scale)
			m = math.Max(m, scores[t])
		}
		var sum float64
		for t := start; t < n; t++ {
			scores[t] = math.Exp(scores[t] - m)
			sum += scores[t]
		}
		for t := start; t < n; t++ {
			for d := 0; d < hd; d++ {
				out[h*hd+d] += float64(r16(float32(scores[t]/sum))) * float64(weights.FP16ToFP32(v[(t*kvHeads+g)*hd+d]))
			}
		}
	}
	return out
}

func r16(f float32) float32 { return weights.FP16ToFP32(weights.FP32ToFP16(f)) }

// RefAttentionF32: one query per head over f32 caches, no roundings.
func RefAttentionF32(q, k, v []float32, heads, kvHeads, hd, start, n int, scale float32) []float64 {
	out := make([]float64, heads*hd)
	group := heads / kvHeads
	for h := 0; h < heads; h++ {
		g := h / group
		scores := make([]float64, n)
		m := math.Inf(-1)
		for t := start; t < n; t++ {
			var s float64
			for d := 0; d < hd; d++ {
				s += float64(q[h*hd+d]) * float64(k[(t*kvHeads+g)*hd+d])
			}
			scores[t] = s * float64(scale)
			m = math.Max(m, scores[t])
		}
		var sum float64
		for t := start; t < n; t++ {
			scores[t] = math.Exp(scores[t] - m)
			sum += scores[t]
		}
		for t := start; t < n; t++ {
			for d := 0; d < hd; d++ {
				out[h*hd+d] += scores[t] / sum * float64(v[(t*kvHeads+g)*hd+d])
			}
		}
	}
	return out
}
