package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestAttnTileAsm checks the tile kernels, scoresTile4, pvTile4 and
// pvTile4L64 (AVX-512) and scoresTile4A2, pvTile4A2, pvTile4A2L64 (AVX2), against their
// Go twins bit for bit over head sizes, key counts, strides, lane counts
// and lane offsets.
func TestAttnTileAsm(t *testing.T) {
	type tileKernels struct {
		name   string
		scores func(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32)
		pv     func(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int)
	}
	var ks []tileKernels
	if hasZ512 {
		ks = append(ks, tileKernels{"avx512", scoresTile4Asm, pvTile4Asm})
	}
	if hasAVX2 {
		ks = append(ks, tileKernels{"avx2", scoresTile4A2Asm, pvTile4A2Asm})
	}
	if len(ks) == 0 {
		t.Skip("no AVX2 or AVX-512: tile kernels unused on this CPU")
	}
	for _, kt := range ks {
		t.Run(kt.name, func(t *testing.T) { testAttnTile(t, kt.scores, kt.pv) })
	}
}

func testAttnTile(t *testing.T, scoresTile func(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32),
	pvTile func(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int)) {
	rng := rand.New(rand.NewPCG(9, 10))
	h16 := func(x float64) uint16 { return weights.FP32ToFP16(float32(x)) }
	for _, d := range []int{16, 48, 64, 128, 256} {
		for _, n := range []int{1, 4, 15, 16, 17, 36, 100} {
			for _, extra := range []int{0, 3 * d} {
				stride := d + extra
				k := make([]uint16, (n-1)*stride+d)
				for i := range k {
					k[i] = h16(rng.NormFloat64() * 3)
				}
				q := make([]float32, 4*d)
				for i := range q {
					q[i] = weights.FP16ToFP32(h16(rng.NormFloat64()))
				}
				if n%4 == 0 {
					sstride := n + 3
					got, want := make([]float32, 4*sstride), make([]float32, 4*sstride)
					scoresTile(got, sstride, k, stride, n, q, d, 0.125)
					scoresTile4Go(want, sstride, k, stride, n, q, d, 0.125)
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("scoresTile4 d=%d n=%d stride=%d: [%d] asm %g, Go %g", d, n, stride, i, got[i], want[i])
					}
				}
				if d%64 != 0 {
					continue
				}
				pstride := n + 5
				p := make([]float32, 4*pstride)
				for i := range p {
					p[i] = weights.FP16ToFP32(h16(rng.Float64()))
				}
				for _, lanes := range []int{16, 64} {
					for _, lane0 := range []int{0, 5, 15, 63} {
						got, want := make([]float32, 4*lanes*d), make([]float32, 4*lanes*d)
						for i := range got {
							got[i] = float32(math.NaN()) // every lane row must be written
						}
						pvTile(got, d, k, stride, p, pstride, n, lane0, lanes)
						pvTile4Go(want, d, k, stride, p, pstride, n, lane0, lanes)
						if i := sameBits(got, want); i >= 0 {
							t.Fatalf("pvTile4 lanes=%d d=%d n=%d stride=%d lane0=%d: [%d] asm %g, Go %g", lanes, d, n, stride, lane0, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// BenchmarkAttentionPrefill times one prefill step's attention over an f16
// cache: llama-1b heads (H=32, Hkv=8, D=64) for a 256-row step at depth 0 and
// 1792 and a 128-row step at depth 3904, and MedGemma-4B heads (H=8, Hkv=4,
// D=256) for a 256-row step at depth 1792; with the tiles and row by row.
func BenchmarkAttentionPrefill(b *testing.B) {
	type shape struct {
		name                string
		H, Hkv, D, T, depth int
	}
	for _, sh := range []shape{{"llama1b-256@0", 32, 8, 64, 256, 0}, {"llama1b-256@1792", 32, 8, 64, 256, 1792},
		{"llama1b-128@3904", 32, 8, 64, 128, 3904}, {"gemma4b-256@1792", 8, 4, 256, 256, 1792}} {
		rng := rand.New(rand.NewPCG(1, 1))
		S := (sh.depth + sh.T + 255) &^ 255
		kv := S * sh.Hkv * sh.D
		k16, v16 := make([]uint16, kv), make([]uint16, kv)
		for i := range k16 {
			k16[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
			v16[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
		}
		q := make([]float32, sh.T*sh.H*sh.D)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		out := make([]float32, len(q))
		for _, impl := range []string{"tiles", "rows"} {
			for _, th := range []int{1, 2} {
				b.Run(sh.name+"/"+impl+"/t"+string(rune('0'+th)), func(b *testing.B) {
					if impl == "rows" {
						defer swapTiles(nil, nil)()
					}
					p := NewPool(th)
					defer p.Close()
					b.ReportAllocs()
					for b.Loop() {
						if err := p.Attention(q, sh.T, sh.H, sh.D, nil, nil, k16, v16, S, sh.Hkv, sh.depth+sh.T, sh.depth, 0, 0.125, out); err != nil {
							b.Fatal(err)
						}
					}
					// query-key pairs per second, causal: T*(depth + (T+1)/2) per head
					pairs := float64(sh.T) * (float64(sh.depth) + float64(sh.T+1)/2) * float64(sh.H)
					b.ReportMetric(pairs*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gpairs/s")
				})
			}
		}
	}
}
