package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestAttnAsmTwins checks the assembly attention kernels against their pure-Go
// twins bit for bit, for head sizes with and without the 16/32-wide main
// loops and for strided (GQA) rows.
func TestAttnAsmTwins(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA: assembly kernels unused on this CPU")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	h16 := func(x float64) uint16 { return weights.FP32ToFP16(float32(x)) }
	for _, d := range []int{8, 16, 24, 40, 64, 128, 192, 256} {
		for _, n := range []int{0, 1, 2, 7, 33} {
			for _, extra := range []int{0, d, 3 * d} {
				stride := d + extra
				size := n*stride + d
				k16 := make([]uint16, size)
				v16 := make([]uint16, size)
				k32 := make([]float32, size)
				v32 := make([]float32, size)
				for i := range k16 {
					k16[i], v16[i] = h16(rng.NormFloat64()), h16(rng.NormFloat64()*3)
					k32[i], v32[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				}
				q := make([]float32, d)
				for i := range q {
					q[i] = weights.FP16ToFP32(h16(rng.NormFloat64()))
				}
				scale := float32(1 / math.Sqrt(float64(d)))
				got, want := make([]float32, n), make([]float32, n)
				same := func(what string, a, b []float32) {
					t.Helper()
					for i := range a {
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
							t.Fatalf("%s d=%d n=%d stride=%d: [%d] asm %g, Go %g", what, d, n, stride, i, a[i], b[i])
						}
					}
				}
				scoresH16Asm(got, k16, stride, q, scale)
				scoresH16Go(want, k16, stride, q, scale)
				same("scoresH16", got, want)
				scoresH16VAsm(got, k16, stride, q, scale)
				scoresH16VGo(want, k16, stride, q, scale)
				same("scoresH16V", got, want)
				scoresF32Asm(got, k32, stride, q, scale)
				scoresF32Go(want, k32, stride, q, scale)
				same("scoresF32", got, want)
				for i := range got {
					got[i] = float32(rng.Float64())
					want[i] = got[i]
				}
				inv := float32(1 / (1 + rng.Float64()*float64(n)))
				probsH16Asm(got, inv)
				probsH16Go(want, inv)
				same("probsH16", got, want)
				og, ow := make([]float32, d), make([]float32, d)
				for i := range og {
					og[i], ow[i] = 1, 2 // must be overwritten
				}
				pvH16Asm(og, v16, stride, got)
				pvH16Go(ow, v16, stride, want)
				same("pvH16", og, ow)
				pvTailAsm(og, v16, stride, got)
				pvTailGo(ow, v16, stride, want)
				same("pvTail", og, ow)
				pvF32Asm(og, v32, stride, got)
				pvF32Go(ow, v32, stride, want)
				same("pvF32", og, ow)
			}
		}
	}
}

// BenchmarkAttention times one decode step's attention (T=1) over a 1024-key
// f16 cache for llama-1b heads (H=32, Hkv=8, D=64) and stories260K heads
// (H=8, Hkv=4, D=8), with the selected kernels and the pure-Go twins.
func BenchmarkAttention(b *testing.B) {
	type shape struct {
		name         string
		H, Hkv, D, S int
	}
	for _, sh := range []shape{{"llama1b", 32, 8, 64, 1024}, {"stories", 8, 4, 8, 256}} {
		rng := rand.New(rand.NewPCG(1, 1))
		kv := sh.S * sh.Hkv * sh.D
		k16, v16 := make([]uint16, kv), make([]uint16, kv)
		for i := range k16 {
			k16[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
			v16[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
		}
		q := make([]float32, sh.H*sh.D)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		out := make([]float32, len(q))
		for _, impl := range []string{"sel", "go"} {
			for _, th := range []int{1, 2} {
				b.Run(sh.name+"/"+impl+"/t"+string(rune('0'+th)), func(b *testing.B) {
					if impl == "go" {
						defer swapAttnGo()()
					}
					p := NewPool(th)
					defer p.Close()
					b.ReportAllocs()
					b.SetBytes(int64(4 * kv)) // K and V bytes read
					for b.Loop() {
						if err := p.Attention(q, 1, sh.H, sh.D, nil, nil, k16, v16, sh.S, sh.Hkv, sh.S, sh.S-1, 0, 0.125, out); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// TestSoftmaxAsmTwin checks the assembly max/exp/sum against softmaxGo bit for
// bit, and expSum4 on its own (AVX-512 hosts give it only the last 4
// values of a row, AVX2 hosts every one).
func TestSoftmaxAsmTwin(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA: assembly kernels unused on this CPU")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for _, n4 := range []int{4, 8, 12, 16, 36, 1024} {
		s := make([]float32, n4)
		for i := range s {
			s[i] = float32(rng.NormFloat64() * 30)
		}
		want := append([]float32(nil), s...)
		var accWant [4]float64
		for j := range want {
			want[j] = expPoly(want[j] - 7)
			accWant[j&3] += float64(want[j])
		}
		var acc [4]float64
		expSum4(&s[0], n4, 7, &acc)
		if i := sameBits(s, want); i >= 0 {
			t.Fatalf("expSum4 n4=%d: [%d] asm %g, Go %g", n4, i, s[i], want[i])
		}
		for l := range acc {
			if math.Float64bits(acc[l]) != math.Float64bits(accWant[l]) {
				t.Fatalf("expSum4 n4=%d: acc[%d] asm %v, Go %v", n4, l, acc[l], accWant[l])
			}
		}
	}
	for _, n := range []int{1, 2, 3, 4, 5, 8, 9, 31, 1000, 1027} {
		for rep := 0; rep < 20; rep++ {
			a := make([]float32, n)
			for i := range a {
				a[i] = float32(rng.NormFloat64() * 30)
			}
			b := append([]float32(nil), a...)
			sa, sb := softmaxAsm(a), softmaxGo(b)
			if math.Float64bits(sa) != math.Float64bits(sb) {
				t.Fatalf("n=%d: sum asm %v, Go %v", n, sa, sb)
			}
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("n=%d: [%d] asm %g, Go %g", n, i, a[i], b[i])
				}
			}
		}
	}
}

// BenchmarkAttentionDecodeStream times decode attention (T=1) as a decode
// step meets it: the layer's K/V cache comes from memory, not from the
// caches (a step streams every layer's weights between two visits of one
// layer's cache). It cycles over enough layers' caches (≥ 512 MiB) that
// none stays in L3 (260 MiB on the dev VM). MB/s counts the K and V bytes of the kvLen positions.
func BenchmarkAttentionDecodeStream(b *testing.B) {
	type shape struct {
		name             string
		H, Hkv, D, kvLen int
	}
	for _, sh := range []shape{{"llama1b-2048", 32, 8, 64, 2048}, {"llama8b-4096", 32, 8, 128, 4096}, {"gemma3-4b-4096", 8, 4, 256, 4096}} {
		rng := rand.New(rand.NewPCG(3, 4))
		kv := sh.kvLen * sh.Hkv * sh.D
		layers := max(2, (512<<20)/(4*kv))
		k16, v16 := make([][]uint16, layers), make([][]uint16, layers)
		for l := range layers {
			k16[l], v16[l] = make([]uint16, kv), make([]uint16, kv)
			for i := range kv {
				k16[l][i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
				v16[l][i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
			}
		}
		q := make([]float32, sh.H*sh.D)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		out := make([]float32, len(q))
		for _, th := range []int{1, 2} {
			b.Run(sh.name+"/t"+string(rune('0'+th)), func(b *testing.B) {
				p := NewPool(th)
				defer p.Close()
				b.ReportAllocs()
				b.SetBytes(int64(4 * kv))
				l := 0
				for b.Loop() {
					if err := p.Attention(q, 1, sh.H, sh.D, nil, nil, k16[l], v16[l], sh.kvLen, sh.Hkv, sh.kvLen, sh.kvLen-1, 0, 0.125, out); err != nil {
						b.Fatal(err)
					}
					l = (l + 1) % layers
				}
			})
		}
	}
}
