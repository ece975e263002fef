package cuda

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/engine/backend/cuda/kern"
	"dayi/kernels"
	"dayi/weights"
)

// testDevice wraps a Backend with the helpers the kernel tests use.
type testDevice struct {
	Backend
	t *testing.T
}

// backends returns the devices the kernel tests run on: the PTX emulator
// always, and the first GPU when this binary can open one (-tags cuda on a
// machine with the NVIDIA driver: scripts/gpu-check.sh).
func backends(t *testing.T) map[string]*testDevice {
	t.Helper()
	em, err := NewEmulated()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*testDevice{"emulator": {em, t}}
	if d, err := Open(0); err == nil {
		t.Cleanup(func() { d.Close() })
		out["gpu"] = &testDevice{d, t}
	} else {
		t.Logf("kernels run in the emulator only: %v", err)
	}
	return out
}

func (e *testDevice) alloc(n int) uint64 {
	p, err := e.Alloc(n, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *testDevice) putF32(x []float32) uint64 {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return e.putBytes(b)
}

func (e *testDevice) putBytes(x []byte) uint64 {
	a := e.alloc(len(x))
	if err := e.Write(a, x); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *testDevice) bytes(a uint64, n int) []byte {
	b := make([]byte, n)
	if err := e.Read(a, b); err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *testDevice) f32s(a uint64, n int) []float32 {
	b := e.bytes(a, 4*n)
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func randF32(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// near fails unless |got-want| ≤ atol + rtol·|want| for every element.
func near(t *testing.T, what string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(float64(got[i]) - want[i])
		if !(d <= atol+rtol*math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %g, want %g (diff %g)", what, i, got[i], want[i], d)
		}
		worst = max(worst, d)
	}
	t.Logf("%s: %d values, max abs diff %.3g", what, len(got), worst)
}

func TestQuantizeQ8_1(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			r := rand.New(rand.NewPCG(1, 2))
			n := 32 * 19 // more blocks than one thread block holds
			x := randF32(r, n, 3)
			copy(x[64:96], make([]float32, 32)) // an all-zero block: d = 0, q = 0
			x[100] = 2.5                        // a tie (with amax 127·k): rounds to even
			xa, ya := e.putF32(x), e.alloc(n/32*kern.Q81Bytes)
			if err := kern.QuantizeQ8_1(e, xa, ya, n); err != nil {
				t.Fatal(err)
			}
			got, want := e.bytes(ya, n/32*kern.Q81Bytes), kern.RefQuantizeQ8_1(x)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("byte %d (block %d) = %d, want %d", i, i/kern.Q81Bytes, got[i], want[i])
				}
			}
			// Independent of the reference: q·d is within d/2 of x.
			deq := kern.DequantQ8_1(got)
			for i, v := range x {
				d := float64(weights.FP16ToFP32(binary.LittleEndian.Uint16(got[i/32*kern.Q81Bytes:])))
				if math.Abs(float64(deq[i]-v)) > d/2+1e-3*math.Abs(float64(v))+1e-6 {
					t.Fatalf("x[%d] = %g quantized to %g (d %g)", i, v, deq[i], d)
				}
			}
			if err := kern.QuantizeQ8_1(e, xa, ya, 33); err == nil {
				t.Fatal("33 values accepted")
			}

		})
	}
}

// quantize_q8_k writes exactly ggml-cpu's q8_K blocks (weights.QuantizeRow,
// quantize_row_q8_K_ref): scale, quants and the 16-value sums, with ties of
// the largest magnitude resolved to the first, and an all-zero block.
func TestQuantizeQ8_K(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			r := rand.New(rand.NewPCG(11, 12))
			n := 256 * 11
			x := randF32(r, n, 2)
			copy(x[256:512], make([]float32, 256)) // all zero
			x[600], x[700] = 9, -9                 // a tie of magnitudes: the first (positive) wins
			x[1000], x[1001] = -7.5, 7.5           // and here the negative one
			xa, ya := e.putF32(x), e.alloc(n/256*kern.Q8KBytes)
			if err := kern.Quantize(e, kern.ActQ8_K, xa, ya, n); err != nil {
				t.Fatal(err)
			}
			want := make([]byte, n/256*kern.Q8KBytes)
			if err := weights.QuantizeRow(weights.TypeQ8_K, want, x); err != nil {
				t.Fatal(err)
			}
			got := e.bytes(ya, len(want))
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("byte %d (block %d, offset %d) = %d, want %d", i, i/kern.Q8KBytes, i%kern.Q8KBytes, got[i], want[i])
				}
			}
		})
	}
}

func TestGemvTypes(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			for _, tc := range []struct {
				typ     weights.Type
				rows, k int
			}{
				{weights.TypeQ4_0, 7, 32 * 37}, // 37 blocks: two lane rounds
				{weights.TypeQ5_0, 5, 32 * 5},
				{weights.TypeQ8_0, 9, 32 * 40},
				{weights.TypeQ4_K, 6, 256 * 5}, // 40 units of 32
				{weights.TypeQ5_K, 6, 256 * 5},
				{weights.TypeQ6_K, 5, 256 * 5},
				{weights.TypeF32, 5, 70},
				{weights.TypeF16, 6, 172},
			} {
				t.Run(tc.typ.String(), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(tc.typ), 7))
					wf := randF32(r, tc.rows*tc.k, 0.5)
					rb, _ := tc.typ.RowSize(int64(tc.k))
					w := make([]byte, int(rb)*tc.rows)
					for i := 0; i < tc.rows; i++ {
						if err := weights.QuantizeRow(tc.typ, w[i*int(rb):(i+1)*int(rb)], wf[i*tc.k:(i+1)*tc.k]); err != nil {
							t.Fatal(err)
						}
					}
					x := randF32(r, tc.k, 1)
					wa, xa, ya := e.putBytes(w), e.putF32(x), e.alloc(4*tc.rows)
					_, act, _ := kern.GemvKernel(tc.typ)
					var xq []byte
					in := xa
					if act != kern.ActF32 {
						n := kern.ActBytes(act, tc.k)
						in = e.alloc(n)
						if err := kern.Quantize(e, act, xa, in, tc.k); err != nil {
							t.Fatal(err)
						}
						xq = e.bytes(in, n)
					}
					if err := kern.Gemv(e, tc.typ, wa, in, ya, tc.rows, tc.k); err != nil {
						t.Fatal(err)
					}
					got := e.f32s(ya, tc.rows)
					want, err := kern.RefGemv(tc.typ, w, tc.rows, tc.k, xq, x)
					if err != nil {
						t.Fatal(err)
					}
					near(t, "y", got, want, 1e-4, 1e-5)
					// And against the f32 product of the dequantized weights with x
					// itself: only the activation's quantization error is left.
					row := make([]float32, tc.k)
					for i := 0; i < tc.rows; i++ {
						_ = weights.DequantizeRow(tc.typ, row, w[i*int(rb):(i+1)*int(rb)])
						var s, mag float64
						for j := range row {
							s += float64(row[j]) * float64(x[j])
							mag += math.Abs(float64(row[j]) * float64(x[j]))
						}
						if d := math.Abs(float64(got[i]) - s); d > 0.02*mag+1e-5 {
							t.Fatalf("row %d: %g against the f32 product %g (Σ|w·x| %g)", i, got[i], s, mag)
						}
					}
				})
			}

		})
	}
}

// TestGemvBatch checks that GemvBatch over 3 tokens writes, for every
// token, bit for bit what Gemv writes for that token alone (the prompt's
// batched steps and the decode steps then agree exactly).
func TestGemvBatch(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			const ntok = 3
			for _, tc := range []struct {
				typ     weights.Type
				rows, k int
			}{
				{weights.TypeQ4_0, 5, 32 * 37}, {weights.TypeQ8_0, 4, 64}, {weights.TypeQ5_K, 3, 512},
				{weights.TypeQ6_K, 3, 256}, {weights.TypeF16, 5, 70}, {weights.TypeF32, 33, 40},
			} {
				r := rand.New(rand.NewPCG(uint64(tc.typ), 11))
				rb, _ := tc.typ.RowSize(int64(tc.k))
				w := make([]byte, int(rb)*tc.rows)
				wf := randF32(r, tc.rows*tc.k, 0.5)
				for i := 0; i < tc.rows; i++ {
					if err := weights.QuantizeRow(tc.typ, w[i*int(rb):(i+1)*int(rb)], wf[i*tc.k:(i+1)*tc.k]); err != nil {
						t.Fatal(err)
					}
				}
				x := randF32(r, ntok*tc.k, 1)
				wa, xa := e.putBytes(w), e.putF32(x)
				_, act, _ := kern.GemvKernel(tc.typ)
				in, xs := xa, uint64(4*tc.k)
				if act != kern.ActF32 {
					xs = uint64(kern.ActBytes(act, tc.k))
					in = e.alloc(ntok * int(xs))
					if err := kern.Quantize(e, act, xa, in, ntok*tc.k); err != nil {
						t.Fatal(err)
					}
				}
				ya, y1 := e.alloc(4*ntok*tc.rows), e.alloc(4*tc.rows)
				if err := kern.GemvBatch(e, tc.typ, wa, in, ya, tc.rows, tc.k, ntok); err != nil {
					t.Fatal(err)
				}
				got := e.f32s(ya, ntok*tc.rows)
				for tok := 0; tok < ntok; tok++ {
					if err := kern.Gemv(e, tc.typ, wa, in+uint64(tok)*xs, y1, tc.rows, tc.k); err != nil {
						t.Fatal(err)
					}
					for i, want := range e.f32s(y1, tc.rows) {
						if g := got[tok*tc.rows+i]; math.Float32bits(g) != math.Float32bits(want) {
							t.Fatalf("%s token %d row %d: batch %g, alone %g", tc.typ, tok, i, g, want)
						}
					}
				}
			}
		})
	}
}

func TestRMSNorm(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			r := rand.New(rand.NewPCG(3, 4))
			rows, n := 5, 72
			x, w := randF32(r, rows*n, 2), randF32(r, n, 1)
			xa, wa, ya := e.putF32(x), e.putF32(w), e.alloc(4*rows*n)
			if err := kern.RMSNorm(e, xa, wa, ya, rows, n, 1e-5); err != nil {
				t.Fatal(err)
			}
			near(t, "rms_norm", e.f32s(ya, rows*n), kern.RefRMSNorm(x, w, n, 1e-5), 1e-6, 1e-5)

		})
	}
}

func TestRope(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			for _, neox := range []bool{false, true} {
				r := rand.New(rand.NewPCG(5, 6))
				heads, hd, nrot := 9, 64, 48 // partial rotation: the last 16 dims stay
				x := randF32(r, heads*hd, 1)
				cs := kern.RopeTable(1234, nrot, 10000)
				xa, ca := e.putF32(x), e.putF32(cs)
				if err := kern.Rope(e, xa, ca, heads, hd, nrot, neox); err != nil {
					t.Fatal(err)
				}
				near(t, map[bool]string{false: "rope normal", true: "rope neox"}[neox], e.f32s(xa, len(x)),
					kern.RefRope(x, cs, heads, hd, nrot, neox), 1e-6, 1e-5)
			}

		})
	}
}

func TestElementwise(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			r := rand.New(rand.NewPCG(7, 8))
			n := 600
			a, b := randF32(r, n, 3), randF32(r, n, 1)
			a[0], a[1] = 60, -60 // exp saturation
			aa, ba, ya := e.putF32(a), e.putF32(b), e.alloc(4*n)
			check := func(name string, f func(i int) float64, rtol float64) {
				t.Helper()
				want := make([]float64, n)
				for i := range want {
					want[i] = f(i)
				}
				near(t, name, e.f32s(ya, n), want, 1e-6, rtol)
			}
			for _, tc := range []struct {
				name string
				f    func(i int) float64
			}{
				{"swiglu", func(i int) float64 { return kern.RefSiLU(float64(a[i])) * float64(b[i]) }},
				{"geglu", func(i int) float64 { return kern.RefGELU(float64(a[i])) * float64(b[i]) }},
				{"add", func(i int) float64 { return float64(a[i] + b[i]) }},
				{"mul", func(i int) float64 { return float64(a[i] * b[i]) }},
			} {
				if err := kern.Binary(e, tc.name, aa, ba, ya, n); err != nil {
					t.Fatal(err)
				}
				check(tc.name, tc.f, 1e-5)
			}
			// geglu_f16: bit for bit ggml-cpu's table GeGLU, on the random
			// gates and around the ±10 cut-offs, with NaN and ±0 up values.
			gt := append([]float32{-10, -10.000001, -9.999999, 10, 9.999999, 10.000001, -60, 60, 0, float32(math.Copysign(0, -1))}, a[10:]...)
			ut := append([]float32{-1, float32(math.NaN()), 2, -3, 0.5, -0.5, float32(math.Inf(-1)), -2, 1, 1}, b[10:]...)
			tab := kernels.GeluF16Table()
			gta, uta, taba := e.putF32(gt), e.putF32(ut), e.putF32(tab)
			if err := kern.GegluF16(e, gta, uta, taba, ya, n); err != nil {
				t.Fatal(err)
			}
			for i, got := range e.f32s(ya, n) {
				g, u := gt[i], ut[i]
				var want float32 // ggml_vec_geglu_f32 with GGML_GELU_FP16
				switch {
				case g <= -10:
					want = 0
				case g >= 10:
					want = g * u
				default:
					want = tab[weights.FP32ToFP16(g)] * u
				}
				if math.Float32bits(got) != math.Float32bits(want) && !(want != want && got != got) {
					t.Fatalf("geglu_f16(%g, %g) = %g, want %g", g, u, got, want)
				}
			}
			if err := kern.Unary(e, "gelu", aa, ya, n); err != nil {
				t.Fatal(err)
			}
			check("gelu", func(i int) float64 { return kern.RefGELU(float64(a[i])) }, 1e-5)
			if err := kern.Unary(e, "copy", aa, ya, n); err != nil {
				t.Fatal(err)
			}
			check("copy", func(i int) float64 { return float64(a[i]) }, 0)
			ha := e.alloc(2 * n)
			if err := kern.Unary(e, "f32_to_f16", aa, ha, n); err != nil {
				t.Fatal(err)
			}
			hb := e.bytes(ha, 2*n)
			for i, v := range a {
				if got, want := binary.LittleEndian.Uint16(hb[2*i:]), weights.FP32ToFP16(v); got != want {
					t.Fatalf("f16(%g) = %#x, want %#x", v, got, want)
				}
			}

		})
	}
}

func TestSoftmax(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			r := rand.New(rand.NewPCG(9, 10))
			rows, n := 3, 100
			x := randF32(r, rows*n, 4)
			xa := e.putF32(x)
			if err := kern.Softmax(e, xa, rows, n); err != nil {
				t.Fatal(err)
			}
			near(t, "softmax", e.f32s(xa, rows*n), kern.RefSoftmax(x, n), 1e-7, 1e-5)

		})
	}
}

func TestAttention(t *testing.T) {
	for name, e := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			for _, tc := range []struct{ heads, kv, hd, start, n int }{
				{8, 4, 8, 0, 5},    // stories260K's shape
				{4, 4, 64, 0, 1},   // first token
				{8, 2, 128, 3, 40}, // GQA and a sliding window start
				{2, 1, 256, 0, 33}, // the largest head
				{5, 5, 80, 10, 11}, // head size not a multiple of 32
			} {
				r := rand.New(rand.NewPCG(uint64(tc.hd), uint64(tc.n)))
				q := randF32(r, tc.heads*tc.hd, 1)
				kf, vf := randF32(r, tc.n*tc.kv*tc.hd, 1), randF32(r, tc.n*tc.kv*tc.hd, 1)
				k16, v16 := make([]uint16, len(kf)), make([]uint16, len(vf))
				kb, vb := make([]byte, 2*len(kf)), make([]byte, 2*len(vf))
				for i := range kf {
					k16[i], v16[i] = weights.FP32ToFP16(kf[i]), weights.FP32ToFP16(vf[i])
					binary.LittleEndian.PutUint16(kb[2*i:], k16[i])
					binary.LittleEndian.PutUint16(vb[2*i:], v16[i])
				}
				scale := float32(1 / math.Sqrt(float64(tc.hd)))
				a := kern.AttentionArgs{Q: e.putF32(q), K: e.putBytes(kb), V: e.putBytes(vb), O: e.alloc(4 * len(q)),
					Heads: tc.heads, KVHeads: tc.kv, HeadDim: tc.hd, Start: tc.start, N: tc.n, Scale: scale}
				if err := kern.Attention(e, a); err != nil {
					t.Fatal(err)
				}
				near(t, "attention", e.f32s(a.O, len(q)), kern.RefAttention(q, k16, v16, tc.heads, tc.kv, tc.hd, tc.start, tc.n, scale), 1e-5, 1e-4)
				// The f32 cache.
				a.K, a.V, a.F32 = e.putF32(kf), e.putF32(vf), true
				if err := kern.Attention(e, a); err != nil {
					t.Fatal(err)
				}
				near(t, "attention_f32", e.f32s(a.O, len(q)), kern.RefAttentionF32(q, kf, vf, tc.heads, tc.kv, tc.hd, tc.start, tc.n, scale), 1e-5, 1e-4)
			}

		})
	}
}
