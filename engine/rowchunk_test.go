package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"dayi/weights"
)

// TestRowChunksKeepLogits checks that running a step's feed-forward block
// in row chunks (arch.Ctx.Rows, ffnRowChunk) changes no logit: every row
// of a 35-row and a 60-row step, chunked by 16 (the last chunks 3 and 12
// rows, so a chunk meets the few-row kernel paths too), against the same
// step in one piece, bit for bit, for the llama, gemma2 and gemma3 graphs
// with f32 and quantized weights.
func TestRowChunksKeepLogits(t *testing.T) {
	for _, preset := range []string{"tiny-llama", "tiny-gemma2", "tiny-gemma3"} {
		for _, typ := range []string{"f32", "q4_0", "q8_0"} {
			t.Run(preset+"/"+typ, func(t *testing.T) {
				f := synthModelTyped(t, preset, weightTypes[typ])
				load := func(chunk int) *Model {
					m, err := Load(f, Options{Backend: "dayi", KVType: "f32", Buckets: []int{64}, PrefixCacheBytes: -1, NoWarmup: true, rowChunk: chunk})
					if err != nil {
						t.Fatal(err)
					}
					return m
				}
				whole, chunked := load(-1), load(16)
				rng := rand.New(rand.NewPCG(3, 9))
				for _, n := range []int{35, 60} {
					ids := make([]int32, n)
					for i := range ids {
						ids[i] = int32(rng.IntN(whole.Hyper.Vocab))
					}
					rows := func(m *Model) []float32 {
						s, err := m.NewSession()
						if err != nil {
							t.Fatal(err)
						}
						defer s.Close()
						out, err := s.EvalRows(context.Background(), ids)
						if err != nil {
							t.Fatal(err)
						}
						return slices.Clone(out)
					}
					a, b := rows(whole), rows(chunked)
					if !slices.Equal(a, b) {
						d, at := maxDiff(a, b)
						t.Errorf("%d rows: chunked logits differ by %g at row %d", n, d, at/whole.Hyper.Vocab)
					}
				}
			})
		}
	}
}

// weightTypes are the weight types the step-shape tests (row chunks, split
// prefill steps) run every graph with: all f32, or the matrices quantized.
var weightTypes = map[string]func(string, []int64) weights.Type{
	"f32":  func(string, []int64) weights.Type { return weights.TypeF32 },
	"q4_0": quantizedMatrices(weights.TypeQ4_0),
	"q8_0": quantizedMatrices(weights.TypeQ8_0),
}

// quantizedMatrices types every 2-D tensor whose rows are whole blocks of
// typ as typ, the rest f32.
func quantizedMatrices(typ weights.Type) func(string, []int64) weights.Type {
	return func(name string, dims []int64) weights.Type {
		if len(dims) == 2 && dims[0]%int64(typ.BlockSize()) == 0 {
			return typ
		}
		return weights.TypeF32
	}
}
