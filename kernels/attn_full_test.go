package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionFullF32 holds the blocked non-causal path (attn_full.go:
// T >= fullMinT queries all seeing keys [0, kvLen)) to the float64
// definition, over shapes that leave partial query and key blocks, GQA,
// a K/V cache longer than kvLen, D on the assembly path (72, SigLIP's head)
// and off it (20), and checks 1 and 2 threads give the same bits.
func TestAttentionFullF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct{ T, H, Hkv, D, S, kvLen int }{
		{T: 70, H: 4, Hkv: 2, D: 72, S: 310, kvLen: 300},
		{T: 64, H: 3, Hkv: 3, D: 20, S: 129, kvLen: 129},
		{T: 100, H: 2, Hkv: 1, D: 16, S: 64, kvLen: 50},
	}
	p1, p2 := NewPool(1), NewPool(2)
	defer p1.Close()
	defer p2.Close()
	// Both score paths: kScoresT (transposed blocks; its assembly where
	// the CPU has AVX-512, else the Go definition) and kScoresF32.
	saved, savedPV := kScoresT, kPVAcc
	defer func() { kScoresT, kPVAcc = saved, savedPV }()
	for _, st := range []func(s, kt, q []float32, scale float32){saved, scoresTGo, nil} {
		for _, pv := range []func(o, v, p []float32){savedPV, pvAccGo, nil} {
			kScoresT, kPVAcc = st, pv
			testAttentionFull(t, rng, cases, p1, p2)
		}
	}
}

func testAttentionFull(t *testing.T, rng *rand.Rand, cases []struct{ T, H, Hkv, D, S, kvLen int }, p1, p2 *Pool) {
	for ci, c := range cases {
		q := make([]float32, c.T*c.H*c.D)
		k := make([]float32, c.S*c.Hkv*c.D)
		v := make([]float32, len(k))
		for _, a := range [][]float32{q, k, v} {
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
		}
		scale := float32(1 / math.Sqrt(float64(c.D)))
		pos0 := c.kvLen - 1 // every query sees every key: non-causal
		ref := refAttention(q, c.T, c.H, c.D, k, v, c.Hkv, c.kvLen, pos0, 0, scale, false)
		var outs [2][]float32
		for pi, p := range []*Pool{p1, p2} {
			out := make([]float32, len(q))
			if err := p.Attention(q, c.T, c.H, c.D, k, v, nil, nil, c.S, c.Hkv, c.kvLen, pos0, 0, scale, out); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if e := math.Abs(float64(out[i]) - ref[i]); e > 1e-5*(1+math.Abs(ref[i])) {
					t.Fatalf("case %d threads %d (kScoresT %v): out[%d] = %g, want %g", ci, pi+1, kScoresT != nil, i, out[i], ref[i])
				}
			}
			outs[pi] = out
		}
		for i := range outs[0] {
			if math.Float32bits(outs[0][i]) != math.Float32bits(outs[1][i]) {
				t.Fatalf("case %d: out[%d] differs between 1 and 2 threads: %g vs %g", ci, i, outs[0][i], outs[1][i])
			}
		}
	}
}

// TestScoresTBits checks the transposed-block scores (assembly and Go)
// equal kScoresF32's bit for bit: the vision references match llama.cpp
// exactly at f16 and a different order of additions shows there.
func TestScoresTBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, d := range []int{8, 16, 72, 128} {
		k := make([]float32, fullKB*d)
		q := make([]float32, d)
		for _, a := range [][]float32{k, q} {
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
		}
		kt := make([]float32, len(k))
		for j := range fullKB {
			for i := range d {
				kt[i*fullKB+j] = k[j*d+i]
			}
		}
		want := make([]float32, fullKB)
		kScoresF32(want, k, d, q, 0.125)
		for name, f := range map[string]func(s, kt, q []float32, scale float32){"kScoresT": kScoresT, "go": scoresTGo} {
			if f == nil {
				continue
			}
			got := make([]float32, fullKB)
			f(got, kt, q, 0.125)
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("%s d=%d: s[%d] = %g, kScoresF32 %g", name, d, j, got[j], want[j])
				}
			}
		}
	}
}

// TestAttentionFullBits checks that the blocked path with this CPU's
// kernels gives the per-row path's bits (each query attended alone, T=1)
// when its score and p·V kernels keep their order (kScoresT, kPVAcc).
func TestAttentionFullBits(t *testing.T) {
	if kScoresT == nil || kPVAcc == nil {
		t.Skip("no order-keeping kernels on this CPU (AVX-512)")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const T, H, Hkv, D, kvLen = 64, 2, 1, 72, 300
	q := make([]float32, T*H*D)
	k := make([]float32, kvLen*Hkv*D)
	v := make([]float32, len(k))
	for _, a := range [][]float32{q, k, v} {
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
	}
	p := NewPool(2)
	defer p.Close()
	scale := float32(1 / math.Sqrt(D))
	full := make([]float32, len(q))
	if err := p.Attention(q, T, H, D, k, v, nil, nil, kvLen, Hkv, kvLen, kvLen-1, 0, scale, full); err != nil {
		t.Fatal(err)
	}
	for i := range T {
		row := make([]float32, H*D)
		if err := p.Attention(q[i*H*D:(i+1)*H*D], 1, H, D, k, v, nil, nil, kvLen, Hkv, kvLen, kvLen-1, 0, scale, row); err != nil {
			t.Fatal(err)
		}
		for j, x := range row {
			if math.Float32bits(x) != math.Float32bits(full[i*H*D+j]) {
				t.Fatalf("query %d: out[%d] = %g blocked, %g per row", i, j, full[i*H*D+j], x)
			}
		}
	}
}
