package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestAttentionBlocked checks the blocked prefill path (runBlocked, with the
// selected tiles and with the Go twins swapped in, and with no tiles) bit for
// bit against row, the per-query path whose orders TestAttention and the
// parity tests pin to ggml's: causal and sliding-window prompts, at depth,
// GQA groups of 1, 2, 4 and 7, head sizes with and without tiles, row counts
// that leave partial tiles and partial blocks.
func TestAttentionBlocked(t *testing.T) {
	type tc struct{ T, H, Hkv, D, S, kvLen, pos0, win int }
	cases := []tc{
		{T: 37, H: 4, Hkv: 1, D: 64, S: 64, kvLen: 37},                       // prompt, one kv head
		{T: 33, H: 8, Hkv: 4, D: 128, S: 96, kvLen: 90, pos0: 57},            // at depth, group 2
		{T: 20, H: 14, Hkv: 2, D: 64, S: 64, kvLen: 23, pos0: 3},             // group 7
		{T: 40, H: 8, Hkv: 2, D: 256, S: 128, kvLen: 100, pos0: 60, win: 13}, // sliding window
		{T: 9, H: 4, Hkv: 4, D: 32, S: 32, kvLen: 9},                         // no tile (D%64 != 0)
		{T: 6, H: 2, Hkv: 1, D: 64, S: 32, kvLen: 6, win: 1},                 // window 1: self only
		{T: 17, H: 4, Hkv: 2, D: 64, S: 64, kvLen: 45, pos0: 28, win: 3},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	type impl struct {
		name     string
		sc       func(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32)
		pv       func(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int)
		selected bool
	}
	impls := []impl{{name: "selected", sc: kScoresTile4, pv: kPVTile4, selected: true},
		{name: "twins", sc: scoresTile4Go, pv: pvTile4Go}, {name: "rows"}}
	for _, c := range cases {
		q, k16, v16 := wideAttnData(rng, c.T*c.H*c.D, c.S*c.Hkv*c.D)
		scale := float32(1 / math.Sqrt(float64(c.D)))
		if st, pt := f16Order(c.T, c.D, ggmlNKV(c.kvLen, c.S)); !st || !pt {
			t.Fatalf("%+v: not a tinyBLAS-order shape", c)
		}
		// The reference: row for every query, as the path before blocking.
		want := make([]float32, len(q))
		ref := attnTask{q: q, T: c.T, H: c.H, D: c.D, kf16: k16, vf16: v16, S: c.S, Hkv: c.Hkv,
			kvLen: c.kvLen, pos0: c.pos0, win: c.win, scale: scale, out: want}
		sc := make([]float32, ref.rowScratch())
		for i := range c.T {
			for h := range c.H {
				ref.row(i, h, sc)
			}
		}
		for _, im := range impls {
			if im.selected && im.sc == nil {
				continue // no tile kernels on this CPU
			}
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%+v/%s/t%d", c, im.name, threads)
				t.Run(name, func(t *testing.T) {
					defer swapTiles(im.sc, im.pv)()
					p := NewPool(threads)
					defer p.Close()
					got := make([]float32, len(q))
					for i := range got {
						got[i] = float32(math.NaN()) // every output must be written
					}
					if err := p.Attention(q, c.T, c.H, c.D, nil, nil, k16, v16, c.S, c.Hkv, c.kvLen, c.pos0, c.win, scale, got); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("out[%d] (query %d, head %d) = %g, row path %g", i, i/(c.H*c.D), i/c.D%c.H, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// TestAttentionDecodeQuad checks decode (T = 1, ggml_vec_dot_f16's orders),
// where runQuad runs the 4 heads of a GQA group through one score pass and
// one p·V tile of 64 lanes (or head by head without tiles), bit for bit
// against row: caches whose used length leaves positions for the float64
// tail, windows, and a window that starts inside a lane block.
func TestAttentionDecodeQuad(t *testing.T) {
	type tc struct{ H, Hkv, D, S, kvLen, win int }
	cases := []tc{
		{H: 8, Hkv: 2, D: 64, S: 256, kvLen: 1},
		{H: 8, Hkv: 2, D: 64, S: 256, kvLen: 100},  // nkv 128: no tail
		{H: 4, Hkv: 1, D: 128, S: 160, kvLen: 150}, // nkv 160: 32 tail positions
		{H: 8, Hkv: 1, D: 256, S: 256, kvLen: 200, win: 77},
		{H: 4, Hkv: 1, D: 64, S: 96, kvLen: 70, win: 5}, // all in the tail
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range cases {
		q, k16, v16 := wideAttnData(rng, c.H*c.D, c.S*c.Hkv*c.D)
		scale := float32(1 / math.Sqrt(float64(c.D)))
		want := make([]float32, len(q))
		ref := attnTask{q: q, T: 1, H: c.H, D: c.D, kf16: k16, vf16: v16, S: c.S, Hkv: c.Hkv,
			kvLen: c.kvLen, pos0: c.kvLen - 1, win: c.win, scale: scale, out: want}
		sc := make([]float32, ref.rowScratch())
		for h := range c.H {
			ref.row(0, h, sc)
		}
		for _, tiles := range []bool{true, false} {
			t.Run(fmt.Sprintf("%+v/tiles=%v", c, tiles), func(t *testing.T) {
				if !tiles {
					defer swapTiles(nil, nil)()
				}
				p := NewPool(2)
				defer p.Close()
				got := make([]float32, len(q))
				if err := p.Attention(q, 1, c.H, c.D, nil, nil, k16, v16, c.S, c.Hkv, c.kvLen, c.kvLen-1, c.win, scale, got); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("out[%d] (head %d) = %g, row path %g", i, i/c.D, got[i], want[i])
					}
				}
			})
		}
	}
}

// wideAttnData returns nq query values and nkv f16 keys and values whose
// magnitudes span 2^-6..2^6, so that scores spread the probabilities over
// many binades and p·V sums round: with values of one scale most sums are
// exact in float32 and a wrong summation order would go unseen.
func wideAttnData(rng *rand.Rand, nq, nkv int) (q []float32, k16, v16 []uint16) {
	wide := func() float32 { return float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(13)-6)) }
	q = make([]float32, nq)
	for i := range q {
		q[i] = float32(rng.NormFloat64() * 2)
	}
	k16, v16 = make([]uint16, nkv), make([]uint16, nkv)
	for i := range k16 {
		k16[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
		v16[i] = weights.FP32ToFP16(wide())
	}
	return q, k16, v16
}

// swapTiles selects the given tile kernels (nil: none, row by row) and
// returns the undo.
func swapTiles(sc func(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32),
	pv func(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int)) func() {
	a, b := kScoresTile4, kPVTile4
	kScoresTile4, kPVTile4 = sc, pv
	return func() { kScoresTile4, kPVTile4 = a, b }
}

// TestBlockOrder checks that blockOrder is a permutation that alternates
// the first and the last remaining block.
func TestBlockOrder(t *testing.T) {
	for nb := 1; nb <= 9; nb++ {
		seen := make([]bool, nb)
		for b := range nb {
			x := blockOrder(b, nb)
			if x < 0 || x >= nb || seen[x] {
				t.Fatalf("nb=%d: block %d -> %d repeats or is out of range", nb, b, x)
			}
			seen[x] = true
		}
	}
	if got := []int{blockOrder(0, 5), blockOrder(1, 5), blockOrder(2, 5), blockOrder(3, 5), blockOrder(4, 5)}; fmt.Sprint(got) != "[0 4 1 3 2]" {
		t.Errorf("order of 5 blocks %v, want [0 4 1 3 2]", got)
	}
}

// TestTileTwins checks scoresTile4Go and pvTile4Go against scoresH16Go and
// pvH16Lanes' per-lane sums written out directly, so that the twins (and
// through TestAttnTileAsm the assembly) compute what their comments say.
func TestTileTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const d, n, kstride = 32, 12, 40
	k := make([]uint16, n*kstride)
	for i := range k {
		k[i] = weights.FP32ToFP16(float32(rng.NormFloat64()))
	}
	rows := make([][]float32, 4)
	qi := make([]float32, 4*d)
	for r := range rows {
		rows[r] = make([]float32, d)
		for e := range rows[r] {
			rows[r][e] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.NormFloat64())))
			qi[(e/16*4+r)*16+e%16] = rows[r][e]
		}
	}
	s := make([]float32, 3*n+n+5)
	scoresTile4Go(s, n+1, k, kstride, n, qi, d, 0.25)
	for r := range rows {
		want := make([]float32, n)
		scoresH16Go(want, k, kstride, rows[r], 0.25)
		for j := range want {
			if s[r*(n+1)+j] != want[j] {
				t.Fatalf("score query %d key %d: %g, scoresH16Go %g", r, j, s[r*(n+1)+j], want[j])
			}
		}
	}
	// p·V: lane sums of 4 queries, positions lane0+i.
	const dv, lane0 = 16, 13
	p := make([]float32, 3*(n+2)+n)
	for i := range p {
		p[i] = weights.FP16ToFP32(weights.FP32ToFP16(float32(rng.Float64())))
	}
	acc := make([]float32, 64*dv)
	pvTile4Go(acc, dv, k, kstride, p, n+2, n, lane0, 16)
	for r := range 4 {
		pr := p[r*(n+2) : r*(n+2)+n]
		o := make([]float32, dv)
		reduceLanes16(o, acc[r*16*dv:(r+1)*16*dv])
		want := make([]float32, dv)
		pvH16Lanes(want, k, kstride, pr, lane0, 32, 16, make([]float32, 64*dv+n))
		for e := range o {
			if o[e] != want[e] {
				t.Fatalf("p·V query %d [%d]: %g, pvH16Lanes %g", r, e, o[e], want[e])
			}
		}
	}
}
