package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"dayi/internal/testref"
	"dayi/weights"
)

// Test data: testdata/reference/quant at the repository root - ggml's own
// quantized bytes (ggml_quantize_chunk) and dequantized floats for 4 rows of
// 512 values. The weights under test are ggml's bytes; the reference result is
// a float64 dot of ggml's dequantized weights with the activations quantized
// by an independent float64 re-derivation of ggml's x86 quantizers.

func readF32(t testing.TB, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(testref.Path("reference", "quant", name))
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

func readBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testref.Path("reference", "quant", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refQ8 quantizes x like ggml's x86 quantize_row_q8_0/q8_1 (d = max/127,
// id = 127/max, round half to even) and returns the dequantized activations
// (f16(d)*q) and, per block, the q8_1 s field f16(d*sum q).
func refQ8(x []float32) (deq []float64, s []float64) {
	deq = make([]float64, len(x))
	for b := 0; b < len(x); b += 32 {
		mx := 0.0
		for _, v := range x[b : b+32] {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
		d := float32(mx / 127)
		id := float32(0)
		if mx != 0 {
			id = float32(127 / mx)
		}
		dh := float64(weights.FP16ToFP32(weights.FP32ToFP16(d)))
		sum := 0.0
		for j, v := range x[b : b+32] {
			q := math.RoundToEven(float64(float32(float64(v) * float64(id))))
			deq[b+j] = dh * q
			sum += q
		}
		s = append(s, float64(weights.FP16ToFP32(weights.FP32ToFP16(float32(float64(d)*sum)))))
	}
	return deq, s
}

// refQ8K quantizes like quantize_row_q8_K_ref and returns d*q.
func refQ8K(x []float32) []float64 {
	deq := make([]float64, len(x))
	for b := 0; b < len(x); b += 256 {
		var mx float64
		for _, v := range x[b : b+256] {
			if math.Abs(float64(v)) > math.Abs(mx) {
				mx = float64(v)
			}
		}
		if mx == 0 {
			continue
		}
		iscale := float32(-127 / mx)
		d := float64(float32(1 / float64(iscale)))
		for j, v := range x[b : b+256] {
			q := math.Min(127, math.RoundToEven(float64(float32(float64(iscale)*float64(v)))))
			deq[b+j] = d * q
		}
	}
	return deq
}

var testTypes = []struct {
	t    weights.Type
	file string
}{
	{weights.TypeQ4_0, "q4_0"}, {weights.TypeQ4_1, "q4_1"}, {weights.TypeQ5_0, "q5_0"}, {weights.TypeQ5_1, "q5_1"},
	{weights.TypeQ8_0, "q8_0"}, {weights.TypeQ2_K, "q2_k"}, {weights.TypeQ3_K, "q3_k"}, {weights.TypeQ4_K, "q4_k"},
	{weights.TypeQ5_K, "q5_k"}, {weights.TypeQ6_K, "q6_k"}, {weights.TypeF16, "f16"}, {weights.TypeBF16, "bf16"},
	{weights.TypeF32, "f32"},
}

// refMatMul is the float64 reference for one weight type: ggml's dequantized
// weight rows times the activations as ggml's vec_dot_type represents them.
// It returns the result and the sum of |terms| (the scale of rounding error).
func refMatMul(t testing.TB, typ weights.Type, wdeq []float32, wraw []byte, n, k int, x []float32, m int) (ref, mag []float64) {
	ref = make([]float64, m*n)
	mag = make([]float64, m*n)
	rs, _ := typ.RowSize(int64(k))
	for i := 0; i < m; i++ {
		xi := x[i*k : (i+1)*k]
		var xd, s []float64
		switch typ {
		case weights.TypeF32:
			xd = make([]float64, k)
			for j, v := range xi {
				xd[j] = float64(v)
			}
		case weights.TypeF16:
			xd = make([]float64, k)
			for j, v := range xi {
				xd[j] = float64(weights.FP16ToFP32(weights.FP32ToFP16(v)))
			}
		case weights.TypeBF16:
			xd = make([]float64, k)
			for j, v := range xi {
				xd[j] = float64(weights.BF16ToFP32(weights.FP32ToBF16(v)))
			}
		case weights.TypeQ4_0, weights.TypeQ5_0, weights.TypeQ8_0, weights.TypeQ4_1, weights.TypeQ5_1:
			xd, s = refQ8(xi)
		default:
			xd = refQ8K(xi)
		}
		for j := 0; j < n; j++ {
			var acc, am float64
			for kk := 0; kk < k; kk++ {
				p := float64(wdeq[j*k+kk]) * xd[kk]
				acc += p
				am += math.Abs(p)
			}
			if typ == weights.TypeQ4_1 || typ == weights.TypeQ5_1 {
				// ggml uses the q8_1 block's rounded s = f16(d*sum q) for the
				// min term instead of the exact sum of the dequantized values.
				bs := typ.TypeSize()
				for b := 0; b < k/32; b++ {
					mw := float64(f16(wraw[int64(j)*rs+int64(b*bs)+2:]))
					var ex float64
					for _, v := range xd[b*32 : b*32+32] {
						ex += v
					}
					acc += mw * (s[b] - ex)
				}
			}
			ref[i*n+j], mag[i*n+j] = acc, am
		}
	}
	return ref, mag
}

func loadType(t *testing.T, typ weights.Type, file string) (raw []byte, deq []float32) {
	if typ == weights.TypeF32 {
		in := readF32(t, "input.f32")
		raw = make([]byte, 4*len(in))
		for i, v := range in {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		return raw, in
	}
	return readBytes(t, file+".bin"), readF32(t, file+".deq.f32")
}

// TestMatMulGGMLWeights multiplies ggml-quantized weight rows by activation
// rows (decode m=1 and batched m>1, 1 and 2 threads) and compares with the
// float64 reference.
func TestMatMulGGMLWeights(t *testing.T) {
	const k = 512
	in := readF32(t, "input.f32") // 4 rows; also used as activations
	// Activations: the 4 input rows reversed and scaled, plus a row with exact
	// rounding ties for the q8 quantizers.
	x := make([]float32, 5*k)
	for i := 0; i < 4; i++ {
		for j := 0; j < k; j++ {
			x[i*k+j] = in[(3-i)*k+(j*7)%k] * 0.5
		}
	}
	for j := 0; j < k; j++ {
		x[4*k+j] = float32(j%255-127) + 0.5*float32(j%3-1) // ties at x*127/max
	}
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		for _, tc := range testTypes {
			raw, deq := loadType(t, tc.t, tc.file)
			n := len(deq) / k
			// Repeat the 4 rows to exercise row chunking over workers.
			const rep = 13
			rawN := make([]byte, 0, rep*len(raw))
			deqN := make([]float32, 0, rep*len(deq))
			for r := 0; r < rep; r++ {
				rawN = append(rawN, raw...)
				deqN = append(deqN, deq...)
			}
			n *= rep
			for _, m := range []int{1, 5} {
				out := make([]float32, m*n)
				if err := p.MatMul(tc.t, rawN, n, k, x, m, out); err != nil {
					t.Fatalf("%s: %v", tc.t, err)
				}
				ref, mag := refMatMul(t, tc.t, deqN, rawN, n, k, x, m)
				worst := 0.0
				for i := range out {
					e := math.Abs(float64(out[i])-ref[i]) / (mag[i] + 1e-30)
					worst = math.Max(worst, e)
				}
				// float32 accumulation of 512 terms: a few 1e-7 relative to sum|terms|.
				if worst > 2e-6 {
					t.Errorf("%s threads=%d m=%d: worst error %.3g of sum|terms| (want <= 2e-6)", tc.t, threads, m, worst)
				}
			}
		}
		p.Close()
	}
}

// TestMatMulCloseToF32 checks that quantizing activations changes results only
// by the expected quantization noise, relative to an f32 dot of the same
// dequantized weights.
func TestMatMulCloseToF32(t *testing.T) {
	const k = 512
	in := readF32(t, "input.f32")
	x := in[k : 2*k]
	tol := map[weights.Type]float64{ // relative to sum|w*x|; q8_0 step ~1/254 per element
		weights.TypeF32: 1e-6, weights.TypeF16: 1e-3, weights.TypeBF16: 5e-3,
	}
	p := NewPool(2)
	defer p.Close()
	for _, tc := range testTypes {
		raw, deq := loadType(t, tc.t, tc.file)
		n := len(deq) / k
		out := make([]float32, n)
		if err := p.MatMul(tc.t, raw, n, k, x, 1, out); err != nil {
			t.Fatal(err)
		}
		want, ok := tol[tc.t]
		if !ok {
			want = 1e-2
		}
		for j := 0; j < n; j++ {
			var acc, mag float64
			for kk := 0; kk < k; kk++ {
				acc += float64(deq[j*k+kk]) * float64(x[kk])
				mag += math.Abs(float64(deq[j*k+kk]) * float64(x[kk]))
			}
			if e := math.Abs(float64(out[j])-acc) / mag; e > want {
				t.Errorf("%s row %d: %g vs f32 %g (rel %.3g > %.3g)", tc.t, j, out[j], acc, e, want)
			}
		}
	}
}

func TestMatMulErrors(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	out := make([]float32, 4)
	x := make([]float32, 64)
	if err := p.MatMul(weights.TypeIQ4_NL, make([]byte, 36), 2, 32, x, 1, out); err == nil {
		t.Error("iq4_nl: want unsupported-type error")
	}
	if err := p.MatMul(weights.TypeQ4_0, make([]byte, 35), 2, 32, x, 1, out); err == nil {
		t.Error("short weights: want error")
	}
	if err := p.MatMul(weights.TypeQ4_K, make([]byte, 144), 1, 128, x, 1, out); err == nil {
		t.Error("k not a multiple of 256: want error")
	}
	if err := p.MatMul(weights.TypeQ8_0, make([]byte, 68), 2, 32, x, 3, out); err == nil {
		t.Error("short output: want error")
	}
	if err := p.MatMul(weights.TypeQ8_0, make([]byte, 68), 2, 32, x[:10], 1, out); err == nil {
		t.Error("short activations: want error")
	}
}

// TestQuantizeQ8_0Ties pins the x86 SIMD rounding: with max|x| = 127 the
// multiplier is exactly 1 and x.5 values round half to even (ggml's _ref code
// would round them away from zero).
func TestQuantizeQ8_0Ties(t *testing.T) {
	x := make([]float32, 32)
	x[0] = 127
	x[1], x[2], x[3], x[4] = 2.5, -2.5, 3.5, 0.5
	dst := make([]byte, q8_0Size)
	quantizeQ8_0(dst, x)
	want := []int8{127, 2, -2, 4, 0}
	for i, w := range want {
		if got := int8(dst[2+i]); got != w {
			t.Errorf("q[%d] = %d, want %d", i, got, w)
		}
	}
	if d := f16(dst); d != weights.FP16ToFP32(weights.FP32ToFP16(1)) {
		t.Errorf("d = %g, want 1", d)
	}
}

// TestQuantizeQ8_0VsGGMLRef compares with ggml's reference quantizer bytes
// (testdata/reference/quant/q8_0.bin, made by quantize_row_q8_0_ref): the scales are the
// same formula and must match exactly; quants may differ by one only where
// the two roundings disagree.
func TestQuantizeQ8_0VsGGMLRef(t *testing.T) {
	in := readF32(t, "input.f32")
	ref := readBytes(t, "q8_0.bin")
	got := make([]byte, len(ref))
	quantizeQ8_0(got, in)
	diff := 0
	for b := 0; b < len(in)/32; b++ {
		g, r := got[b*34:b*34+34], ref[b*34:b*34+34]
		if g[0] != r[0] || g[1] != r[1] {
			t.Fatalf("block %d: d differs", b)
		}
		for j := 2; j < 34; j++ {
			if dq := int(int8(g[j])) - int(int8(r[j])); dq != 0 {
				if dq < -1 || dq > 1 {
					t.Fatalf("block %d elem %d: %d vs ggml ref %d", b, j-2, int8(g[j]), int8(r[j]))
				}
				diff++
			}
		}
	}
	if diff > len(in)/100 {
		t.Errorf("%d of %d quants differ from ggml's reference quantizer", diff, len(in))
	}
}

// TestMatMulPlanXReuse checks the activation reuse of MatMulPlanX: a
// second matmul keyed like the previous one, with the same quantization
// and packing, takes the previous matmul's quantized activations (shown by
// passing other activations under the same key, which the caller must
// never do: the result is that of the first activations), while a zero
// key, another key, or a different packing (another type, another batch)
// quantizes its own.
func TestMatMulPlanXReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(101, 102))
	const k = 256
	p := NewPool(2)
	defer p.Close()
	for _, typ := range []weights.Type{weights.TypeQ8_0, weights.TypeQ4_0, weights.TypeQ4_K, weights.TypeQ6_K, weights.TypeF16} {
		for _, m := range []int{1, 5, 32} {
			x1 := make([]float32, m*k)
			x2 := make([]float32, m*k)
			for i := range x1 {
				x1[i], x2[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			plan := func(n int) (*Plan, []byte) {
				pl, err := NewPlan(typ, LayoutGGUF, n, k)
				if err != nil {
					t.Fatal(err)
				}
				return pl, randBlocks(rng, n*k/typ.BlockSize(), typ.TypeSize(), scaleOffsets(typ)...)
			}
			pa, wa := plan(64)
			pb, wb := plan(48)
			run := func(pl *Plan, w []byte, x []float32, key XKey) []float32 {
				out := make([]float32, m*pl.n)
				if err := p.MatMulPlanX(pl, w, x, m, out, key); err != nil {
					t.Fatal(err)
				}
				return out
			}
			b1 := run(pb, wb, x1, XKey{})
			b2 := run(pb, wb, x2, XKey{})
			key := XKey{Run: 7, Node: 3}
			run(pa, wa, x1, key)
			if got := run(pb, wb, x2, key); !equalBits(got, b1) {
				t.Fatalf("%s m=%d: the same key did not reuse the quantized activations", typ, m)
			}
			run(pa, wa, x1, key)
			if got := run(pb, wb, x2, XKey{Run: 7, Node: 4}); !equalBits(got, b2) {
				t.Fatalf("%s m=%d: another key reused the activations", typ, m)
			}
			run(pa, wa, x1, XKey{})
			if got := run(pb, wb, x2, XKey{}); !equalBits(got, b2) {
				t.Fatalf("%s m=%d: the zero key reused the activations", typ, m)
			}
			// another type under the same key: its own quantization
			other := weights.TypeQ8_0
			if typ == weights.TypeQ8_0 {
				other = weights.TypeQ4_K
			}
			po, err := NewPlan(other, LayoutGGUF, 32, k)
			if err != nil {
				t.Fatal(err)
			}
			wo := randBlocks(rng, 32*k/other.BlockSize(), other.TypeSize(), scaleOffsets(other)...)
			want := make([]float32, m*32)
			if err := p.MatMulPlanX(po, wo, x2, m, want, XKey{}); err != nil {
				t.Fatal(err)
			}
			run(pa, wa, x1, key)
			got := make([]float32, m*32)
			if err := p.MatMulPlanX(po, wo, x2, m, got, key); err != nil {
				t.Fatal(err)
			}
			if !equalBits(got, want) {
				t.Fatalf("%s m=%d: a %s matmul reused activations quantized for %s", typ, m, other, typ)
			}
			// another batch under the same key: its own quantization
			if m > 1 {
				run(pa, wa, x1, key)
				out := make([]float32, (m-1)*pb.n)
				if err := p.MatMulPlanX(pb, wb, x2, m-1, out, key); err != nil {
					t.Fatal(err)
				}
				if !equalBits(out, b2[:(m-1)*pb.n]) {
					t.Fatalf("%s m=%d: a %d-row matmul reused %d-row activations", typ, m, m-1, m)
				}
			}
		}
	}
}

func equalBits(a, b []float32) bool { return len(a) == len(b) && sameBits(a, b) < 0 }

// scaleOffsets are the f16 scales' offsets in a block of t (randBlocks).
func scaleOffsets(t weights.Type) []int {
	switch t {
	case weights.TypeQ4_K:
		return []int{0, 2}
	case weights.TypeQ6_K:
		return []int{208}
	}
	return []int{0}
}
