package kernels

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestQuantizeRowKnownValues checks the block bytes of hand-computed rows:
// q8_0 of k/4 (k = -16..15): amax 4, d = f16(4/127), q = round-half-even(k*127/16)
// e.g. k=1: 7.9375 → 8, k=-16: -127; q4_0 of the same row: the first value
// of largest magnitude is -4, d = 0.5, q = trunc(k/2 + 8.5) capped at 15.
func TestQuantizeRowKnownValues(t *testing.T) {
	x := make([]float32, QK)
	for i := range x {
		x[i] = float32(i-16) / 4
	}
	b8 := make([]byte, KVQ8_0.BlockBytes())
	QuantizeRow(KVQ8_0, b8, x)
	if d, want := getF16(b8), weights.FP16ToFP32(weights.FP32ToFP16(float32(4)/127)); d != want {
		t.Errorf("q8_0 d = %g, want f16(4/127)", d)
	}
	for i, v := range x {
		want := int8(math.RoundToEven(float64(v * (127 / float32(4)))))
		if got := int8(b8[2+i]); got != want {
			t.Errorf("q8_0 q[%d] = %d, want %d", i, got, want)
		}
	}
	if int8(b8[2]) != -127 || int8(b8[2+17]) != 8 {
		t.Errorf("q8_0 q[0], q[17] = %d, %d; want -127, 8", int8(b8[2]), int8(b8[2+17]))
	}
	b4 := make([]byte, KVQ4_0.BlockBytes())
	QuantizeRow(KVQ4_0, b4, x)
	if d := getF16(b4); d != 0.5 {
		t.Errorf("q4_0 d = %g, want 0.5 (-4 / -8)", d)
	}
	y := make([]float32, QK)
	DequantizeRow(KVQ4_0, y, b4)
	for i, v := range x {
		q := min(15, int(v*2+8.5)) // x*id + 8.5 with id = 1/d = 2
		if want := float32(q-8) * 0.5; y[i] != want {
			t.Errorf("q4_0 value %d: %g, want %g", i, y[i], want)
		}
	}
	DequantizeRow(KVQ8_0, y, b8)
	for i, v := range x {
		if math.Abs(float64(y[i]-v)) > 4.0/127/2+1e-3 {
			t.Errorf("q8_0 value %d: %g, want %g within half a step", i, y[i], v)
		}
	}
}

// TestFWHTIsHadamard compares FWHT with the Sylvester Hadamard matrix
// H[i][j] = (-1)^popcount(i&j)/sqrt(n), and checks it is its own inverse.
func TestFWHTIsHadamard(t *testing.T) {
	for _, n := range []int{64, 128} {
		r := rand.New(rand.NewPCG(3, uint64(n)))
		x := make([]float32, 2*n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		y := append([]float32(nil), x...)
		FWHT(y, n)
		for c := 0; c < 2; c++ {
			for i := 0; i < n; i++ {
				var want float64
				for j := 0; j < n; j++ {
					s := 1.0
					if bits.OnesCount(uint(i&j))%2 == 1 {
						s = -1
					}
					want += s * float64(x[c*n+j])
				}
				want /= math.Sqrt(float64(n))
				if math.Abs(want-float64(y[c*n+i])) > 1e-5 {
					t.Fatalf("n=%d chunk %d [%d]: %g, want %g", n, c, i, y[c*n+i], want)
				}
			}
		}
		FWHT(y, n)
		for i := range x {
			if math.Abs(float64(y[i]-x[i])) > 1e-5 {
				t.Fatalf("n=%d: FWHT twice moved [%d] from %g to %g", n, i, x[i], y[i])
			}
		}
	}
}

// TestAttentionQuantMatchesNaive compares AttentionQuant (head size 32: no
// rotation) with attention computed in float64 over the dequantized cache
// and the q8_0-rounded query, with a causal window, GQA and a prefill of 3
// rows at position 5.
func TestAttentionQuantMatchesNaive(t *testing.T) {
	const T, H, Hkv, D, S, pos0, kvLen, win = 3, 4, 2, 32, 16, 5, 8, 6
	r := rand.New(rand.NewPCG(5, 6))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	q, kf, vf := randv(T*H*D), randv(S*Hkv*D), randv(S*Hkv*D)
	p := NewPool(2)
	defer p.Close()
	for _, typ := range []KVQuant{KVQ8_0, KVQ4_0} {
		rb := typ.RowBytes(D)
		k, v := make([]byte, S*Hkv*rb), make([]byte, S*Hkv*rb)
		for row := 0; row < S*Hkv; row++ {
			QuantizeRow(typ, k[row*rb:], kf[row*D:(row+1)*D])
			QuantizeRow(typ, v[row*rb:], vf[row*D:(row+1)*D])
		}
		out := make([]float32, T*H*D)
		if err := p.AttentionQuant(q, T, H, D, k, v, typ, typ, S, Hkv, kvLen, pos0, win, 0.125, out); err != nil {
			t.Fatal(err)
		}
		kd, vd := make([]float32, D), make([]float32, D)
		qb := make([]byte, 34)
		qd := make([]float32, D)
		for i := 0; i < T; i++ {
			for h := 0; h < H; h++ {
				QuantizeRow(KVQ8_0, qb, q[(i*H+h)*D:(i*H+h+1)*D])
				DequantizeRow(KVQ8_0, qd, qb)
				pos := pos0 + i
				lo, hi := max(0, pos+1-win), min(kvLen, pos+1)
				sc := make([]float64, hi-lo)
				mx := math.Inf(-1)
				for j := lo; j < hi; j++ {
					row := j*Hkv + h/(H/Hkv)
					DequantizeRow(typ, kd, k[row*rb:(row+1)*rb])
					var s float64
					for d := range kd {
						s += float64(kd[d]) * float64(qd[d])
					}
					sc[j-lo] = s * 0.125
					mx = math.Max(mx, sc[j-lo])
				}
				want := make([]float64, D)
				var sum float64
				for j := lo; j < hi; j++ {
					row := j*Hkv + h/(H/Hkv)
					DequantizeRow(typ, vd, v[row*rb:(row+1)*rb])
					e := math.Exp(sc[j-lo] - mx)
					sum += e
					for d := range vd {
						want[d] += e * float64(vd[d])
					}
				}
				for d := range want {
					got := out[(i*H+h)*D+d]
					if math.Abs(float64(got)-want[d]/sum) > 1e-5 {
						t.Fatalf("%s: row %d head %d [%d]: %g, want %g", typ, i, h, d, got, want[d]/sum)
					}
				}
			}
		}
	}
}

// TestAttentionQuantRejectsBadShapes: short caches, a head size that is not
// a multiple of 32 and unknown types are errors, not panics.
func TestAttentionQuantRejectsBadShapes(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	q, out := make([]float32, 64), make([]float32, 64)
	k := make([]byte, 4*KVQ8_0.RowBytes(64))
	cases := []struct {
		name string
		err  error
	}{
		{"short K", p.AttentionQuant(q, 1, 1, 64, k[:10], k, KVQ8_0, KVQ8_0, 4, 1, 1, 0, 0, 1, out)},
		{"head size 48", p.AttentionQuant(q, 1, 1, 48, k, k, KVQ8_0, KVQ8_0, 4, 1, 1, 0, 0, 1, out)},
		{"unknown type", p.AttentionQuant(q, 1, 1, 64, k, k, KVQuant(9), KVQ8_0, 4, 1, 1, 0, 0, 1, out)},
		{"kvLen past S", p.AttentionQuant(q, 1, 1, 64, k, k, KVQ8_0, KVQ8_0, 4, 1, 5, 0, 0, 1, out)},
		{"short q", p.AttentionQuant(q[:10], 1, 1, 64, k, k, KVQ8_0, KVQ8_0, 4, 1, 1, 0, 0, 1, out)},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// BenchmarkAttentionDepth4096 is one decode query's attention of one layer
// with Llama-3-8B's shape (32 heads, 8 KV heads, head size 128) over 4096
// cached positions, one thread, per cache type.
func BenchmarkAttentionDepth4096(b *testing.B) {
	const H, Hkv, D, S = 32, 8, 128, 4096
	r := rand.New(rand.NewPCG(7, 8))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	q, kf, vf := randv(H*D), randv(S*Hkv*D), randv(S*Hkv*D)
	out := make([]float32, H*D)
	p := NewPool(1)
	defer p.Close()
	b.Run("f32", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := p.Attention(q, 1, H, D, kf, vf, nil, nil, S, Hkv, S, S-1, 0, 0.088, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("f16", func(b *testing.B) {
		kh, vh := make([]uint16, len(kf)), make([]uint16, len(vf))
		for i := range kf {
			kh[i], vh[i] = weights.FP32ToFP16(kf[i]), weights.FP32ToFP16(vf[i])
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := p.Attention(q, 1, H, D, nil, nil, kh, vh, S, Hkv, S, S-1, 0, 0.088, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, typ := range []KVQuant{KVQ8_0, KVQ4_0} {
		b.Run(typ.String(), func(b *testing.B) {
			rb := typ.RowBytes(D)
			k, v := make([]byte, S*Hkv*rb), make([]byte, S*Hkv*rb)
			for row := 0; row < S*Hkv; row++ {
				QuantizeRow(typ, k[row*rb:], kf[row*D:(row+1)*D])
				QuantizeRow(typ, v[row*rb:], vf[row*D:(row+1)*D])
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.AttentionQuant(q, 1, H, D, k, v, typ, typ, S, Hkv, S, S-1, 0, 0.088, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestVecDotQ8AsmMatchesGo: the assembly block dot products (where the CPU
// has them) equal the Go twin bit for bit, including blocks with -127/127
// extremes and zero scales.
func TestVecDotQ8AsmMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const nb = 8
	x := make([]float32, nb*QK)
	y := make([]float32, nb*QK)
	for trial := 0; trial < 50; trial++ {
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Exp(r.NormFloat64()))
			y[i] = float32(r.NormFloat64())
		}
		if trial%5 == 0 {
			clear(x[QK : 2*QK]) // a zero block
		}
		yq := make([]byte, nb*34)
		QuantizeRow(KVQ8_0, yq, y)
		for _, typ := range []KVQuant{KVQ8_0, KVQ4_0} {
			xq := make([]byte, nb*typ.BlockBytes())
			QuantizeRow(typ, xq, x)
			got, want := kVecDotQ8(typ, xq, yq, nb), vecDotQ8Go(typ, xq, yq, nb)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s trial %d: kernel %g, Go twin %g", typ, trial, got, want)
			}
		}
	}
}
