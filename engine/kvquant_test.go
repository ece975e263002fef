package engine

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"dayi/engine/arch"
	"dayi/kernels"
)

// TestKVQuantAgainstLlamaCpp runs tiny-llama-k (f32 weights, head size 64)
// with q8_0 and q4_0 KV caches against llama.cpp run with the same
// --cache-type-k/-v and flash attention (testdata/synth/README.md has the
// command). Tolerance 1e-4 on the first-position top-40 logits and on every
// greedy step's top-5 (measured: at most 7.2e-7 for both types, all 16
// greedy ids equal for the three prompts); greedy decoding must follow
// llama.cpp's ids except where its own top-1/top-2 margin is within 2e-4.
// Without llama.cpp's Hadamard rotation of q/k/v (kernels.RotK) the first
// logits differed by 0.02 (q8_0) and 0.3 (q4_0), so this guards it too.
func TestKVQuantAgainstLlamaCpp(t *testing.T) {
	for _, typ := range []string{"q8_0", "q4_0"} {
		t.Run(typ, func(t *testing.T) {
			checkSynthRef(t, "tiny-llama-k", "tiny-llama-k-flash-"+typ+".json",
				Options{Backend: "dayi", KVType: typ, Buckets: []int{8, 32}}, 1e-4)
		})
	}
}

// checkSynthRef is checkSynth with the reference file named.
func checkSynthRef(t *testing.T, preset, file string, opt Options, tol float64) {
	t.Helper()
	f := synthModel(t, preset)
	data, err := os.ReadFile("testdata/synth/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range ref.Cases {
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		logits, err := s.Eval(ctx, c.PromptIDs)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for _, top := range c.FirstPosition.Top {
			worst = math.Max(worst, math.Abs(float64(logits[top.ID]-top.Logit)))
		}
		t.Logf("%s %q: max |diff| over llama.cpp's top-%d: %.3g", file, c.Prompt, len(c.FirstPosition.Top), worst)
		if worst > tol {
			t.Errorf("%s %q: first-position logits differ by %g (tolerance %g)", file, c.Prompt, worst, tol)
		}
		steps := 0
		for i, st := range c.StepsTop {
			got := argmax(logits)
			if got != st.Token {
				margin := st.Top[0][1] - st.Top[1][1]
				if margin > 2*tol {
					t.Errorf("%s %q: greedy step %d: got %d want %d (llama.cpp margin %.3g)", file, c.Prompt, i, got, st.Token, margin)
				} else {
					t.Logf("%s %q: step %d diverges within llama.cpp's margin %.3g", file, c.Prompt, i, margin)
				}
				break
			}
			steps++
			stepWorst := 0.0
			for _, p := range st.Top {
				stepWorst = math.Max(stepWorst, math.Abs(float64(logits[int(p[0])])-p[1]))
			}
			if stepWorst > tol {
				t.Errorf("%s %q: step %d logits differ by %g (tolerance %g)", file, c.Prompt, i, stepWorst, tol)
			}
			if i+1 < len(c.StepsTop) {
				if logits, err = s.Eval(ctx, []int32{got}); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Logf("%s %q: %d greedy steps equal", file, c.Prompt, steps)
		s.Close()
	}
}

// TestQuantizeKVGraphMatchesKernel checks that the cache bytes the step graph
// writes (arch.QuantizeKV on dayi's backend) are kernels.QuantizeRow's, on
// rows with an all-zero block, ties of equal magnitude and opposite sign (q4_0
// takes the first), values on .5 rounding boundaries (q8_0 rounds half to
// even) and random values.
func TestQuantizeKVGraphMatchesKernel(t *testing.T) {
	const T, KV, D = 3, 2, 64
	x := make([]float32, T*KV*D)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	clear(x[:32])              // an all-zero block
	x[32], x[33] = -2, 2       // a tie in magnitude: the first (negative) sets q4_0's d
	for j := 34; j < 64; j++ { // q8_0: 127/2 * (k/127) lands on k/2
		x[j] = float32(j-34) / 127
	}
	m, err := Load(synthModel(t, "tiny-llama-k"), Options{Backend: "dayi", Buckets: []int{8}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []kernels.KVQuant{kernels.KVQ8_0, kernels.KVQ4_0} {
		exec, err := graph.NewExec(m.backend, func(in *graph.Node) *graph.Node { return arch.QuantizeKV(in, q) })
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, T, KV, D))
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got := outs[0].Value().([][][]uint8)
		want := make([]byte, q.RowBytes(D))
		for i := 0; i < T*KV; i++ {
			kernels.QuantizeRow(q, want, x[i*D:(i+1)*D])
			row := got[i/KV][i%KV]
			for b := range want {
				if row[b] != want[b] {
					t.Fatalf("%s: row %d byte %d: graph %d, QuantizeRow %d", q, i, b, row[b], want[b])
				}
			}
		}
	}
}
