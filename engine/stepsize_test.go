package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStepSize pins the prefill step plan of the default buckets (4, 16,
// 32, 64, 128, 256, 512): no step pads a prompt to twice its rows, steps
// below 16 rows only for prompts that short or where the room left takes
// no more, the largest bucket while the tokens fill it, the context's room
// respected (a step of b rows needs b cells), single steps where no bucket
// fits.
func TestStepSize(t *testing.T) {
	m := &Model{buckets: bucketsOf(Options{})}
	for _, tc := range []struct {
		n, room int
		want    []int
	}{
		{2, 1000, []int{4}},
		{3, 1000, []int{4}},
		{4, 1000, []int{4}},
		{5, 1000, []int{16}},
		{16, 1000, []int{16}},
		{17, 1000, []int{32}},
		{40, 1000, []int{32, 16}}, // not 64
		{100, 1000, []int{128}},
		{128, 1000, []int{128}},
		{130, 1000, []int{128, 16}}, // not 256
		{250, 1000, []int{256}},
		{257, 1000, []int{256, 16}},
		{600, 1000, []int{512, 64, 32}},
		{100, 100, []int{64, 32, 4}}, // the last 4 cells take no 16-row step
		{40, 50, []int{32, 16}},
		{6, 6, []int{4, 1, 1}},
		{3, 3, []int{1, 1, 1}},
	} {
		got := m.planSteps(nil, tc.n, tc.room)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d tokens, room %d: steps %v, want %v", tc.n, tc.room, got, tc.want)
		}
	}
}

// TestStepSplitKeepsLogits checks that a prompt fed in several steps
// (default buckets: 40 tokens as 32+16, 130 as 128+16, 200 as 128+64+16)
// gives the last token's logits, which attend over every earlier row's keys
// and values, of one padded 256-row step (the tiny models' context): bit
// for bit with an f32 cache, for the llama and gemma3 (sliding window,
// compact caches) graphs with f32 and quantized weights. With the default
// f16 cache the attention's f16 sums follow ggml's orders, which depend on
// a step's query count, so there the logits may differ in the last place
// (as after a prefix cache hit): within 1e-5.
func TestStepSplitKeepsLogits(t *testing.T) {
	for _, preset := range []string{"tiny-llama", "tiny-gemma3"} {
		for _, typ := range []string{"f32", "q4_0", "q8_0"} {
			for _, kv := range []string{"f32", "f16"} {
				t.Run(preset+"/"+typ+"/kv-"+kv, func(t *testing.T) {
					f := synthModelTyped(t, preset, weightTypes[typ])
					load := func(buckets []int) *Model {
						m, err := Load(f, Options{Backend: "dayi", KVType: kv, Buckets: buckets, PrefixCacheBytes: -1, NoWarmup: true})
						if err != nil {
							t.Fatal(err)
						}
						return m
					}
					split, whole := load(nil), load([]int{256})
					rng := rand.New(rand.NewPCG(5, 11))
					for _, n := range []int{40, 130, 200} {
						if steps := split.planSteps(nil, n, split.Ctx); len(steps) < 2 {
							t.Fatalf("%d tokens run as %v: not split, the test would prove nothing", n, steps)
						}
						ids := make([]int32, n)
						for i := range ids {
							ids[i] = int32(rng.IntN(whole.Hyper.Vocab))
						}
						last := func(m *Model) []float32 {
							s, err := m.NewSession()
							if err != nil {
								t.Fatal(err)
							}
							defer s.Close()
							out, err := s.Eval(context.Background(), ids)
							if err != nil {
								t.Fatal(err)
							}
							return slices.Clone(out)
						}
						a, b := last(split), last(whole)
						d, at := maxDiff(a, b)
						if kv == "f32" && !slices.Equal(a, b) || d > 1e-5 {
							t.Errorf("%d tokens: the split steps' last logits differ by %g at %d", n, d, at)
						}
					}
				})
			}
		}
	}
}
