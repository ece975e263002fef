package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionDecodeMatchesRows checks attentionDecode (one query at
// depth: scores by position chunk, V compacted per kv head) against the
// per-row path bit for bit: chunks that do not divide the key range, a
// sliding window whose first key is not lane-aligned, the float64 tail
// past nkv&^63, keys past the query's position, two groups of 4 heads on
// one kv head, groups of 2 and 1 head by head, 1-3 threads, and the
// pure-Go twins of the kernels it calls.
func TestAttentionDecodeMatchesRows(t *testing.T) {
	type tc struct{ H, Hkv, D, S, kvLen, pos, win int }
	cases := []tc{
		{H: 32, Hkv: 8, D: 64, S: 2048, kvLen: 2048, pos: 2047},
		{H: 8, Hkv: 1, D: 128, S: 700, kvLen: 650, pos: 649},            // group 8; nkv 672: 10 tail positions
		{H: 8, Hkv: 2, D: 64, S: 1024, kvLen: 1000, pos: 999, win: 300}, // jlo 700
		{H: 4, Hkv: 1, D: 256, S: 1024, kvLen: 300, pos: 299},
		{H: 8, Hkv: 2, D: 64, S: 640, kvLen: 600, pos: 400}, // keys 401.. masked
		// Head by head: gemma3-4b's groups of 2 (head size 256, a
		// window), groups of 1, a head size with a float64 tail.
		{H: 8, Hkv: 4, D: 256, S: 1344, kvLen: 1300, pos: 1299, win: 1024},
		{H: 4, Hkv: 4, D: 64, S: 512, kvLen: 500, pos: 499},
		{H: 4, Hkv: 2, D: 80, S: 512, kvLen: 400, pos: 399},
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range cases {
		q, k16, v16 := wideAttnData(rng, c.H*c.D, c.S*c.Hkv*c.D)
		scale := float32(1 / math.Sqrt(float64(c.D)))
		want := make([]float32, len(q))
		ref := attnTask{q: q, T: 1, H: c.H, D: c.D, kf16: k16, vf16: v16, S: c.S, Hkv: c.Hkv,
			kvLen: c.kvLen, pos0: c.pos, win: c.win, scale: scale, out: want}
		sc := make([]float32, ref.rowScratch())
		for h := range c.H {
			ref.row(0, h, sc)
		}
		for _, impl := range []string{"sel", "go4", "go"} {
			for _, th := range []int{1, 2, 3} {
				t.Run(fmt.Sprintf("%+v/%s/t%d", c, impl, th), func(t *testing.T) {
					switch impl {
					case "go4": // the 4-head kernels' Go twins
						s4, pv := kScoresH16V4, kPVTile4
						kScoresH16V4, kPVTile4 = scoresH16VGroupGo, pvTile4Go
						defer func() { kScoresH16V4, kPVTile4 = s4, pv }()
					case "go": // no 4-head kernels: head by head, Go twins
						defer swapAttnGo()()
					}
					p := NewPool(th)
					defer p.Close()
					got := make([]float32, len(q))
					for i := range got {
						got[i] = float32(math.NaN()) // must be overwritten
					}
					if err := p.Attention(q, 1, c.H, c.D, nil, nil, k16, v16, c.S, c.Hkv, c.kvLen, c.pos, c.win, scale, got); err != nil {
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
}

// TestAttentionDecodeAllocs checks that a decode step at depth allocates
// nothing once the pool's scratch is there, as the key range grows by one
// position a token (scratch sized to fit each call would be made anew
// every step: 35 MiB more peak RSS in a 2048-token llama-1b run).
func TestAttentionDecodeAllocs(t *testing.T) {
	const H, Hkv, D, S = 8, 2, 64, 1024
	rng := rand.New(rand.NewPCG(5, 6))
	q, k16, v16 := wideAttnData(rng, H*D, S*Hkv*D)
	out := make([]float32, H*D)
	p := NewPool(2)
	defer p.Close()
	kvLen := decodeMinKV
	step := func() {
		if err := p.Attention(q, 1, H, D, nil, nil, k16, v16, S, Hkv, kvLen, kvLen-1, 0, 0.125, out); err != nil {
			t.Fatal(err)
		}
		kvLen++
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("%v allocations per decode step at depth", n)
	}
}

// swapAttnGo selects the pure-Go attention twins (and no tiles) and
// returns the undo.
func swapAttnGo() func() {
	undoTiles := swapTiles(nil, nil)
	v4 := kScoresH16V4
	kScoresH16V4 = nil // no quads: head by head through the twins
	a, b, c, d, e, f := kScoresH16, kScoresF32, kProbsH16, kPVH16, kPVF32, kSoftmax
	g, h, l := kScoresH16V, kPVTail, kPVLanes
	kScoresH16, kScoresF32, kProbsH16, kPVH16, kPVF32, kSoftmax = scoresH16Go, scoresF32Go, probsH16Go, pvH16Go, pvF32Go, softmaxGo
	kScoresH16V, kPVTail, kPVLanes = scoresH16VGo, pvTailGo, nil
	return func() {
		kScoresH16, kScoresF32, kProbsH16, kPVH16, kPVF32, kSoftmax = a, b, c, d, e, f
		kScoresH16V, kPVTail, kPVLanes = g, h, l
		kScoresH16V4 = v4
		undoTiles()
	}
}
