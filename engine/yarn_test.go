package engine

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"dayi/benchmarks/synth"
	"dayi/internal/synthtest"
	"dayi/weights"
)

// ropePresets are the synthetic models with rope scaling metadata whose
// llama.cpp references are in testdata/yarn (see its README): YaRN factor 4
// over an original context of 64 on qwen2, qwen3 and gemma3, and linear
// factor 4 with rope.scaling.attn_factor 1.25 on llama.
var ropePresets = []string{"tiny-qwen2-yarn", "tiny-qwen3-yarn", "tiny-gemma3-yarn", "tiny-llama-linear"}

// ropeTol is the logit tolerance against llama.cpp. Measured max |diff|
// over every compared logit (first position top-40, then each greedy
// step's top-5 up to position 209), both backends: 1.9e-6 on qwen2, qwen3
// and llama, 5.1e-4 on gemma3 (its f16 GELU table, see TestSynthPortable).
func ropeTol(preset string) float64 {
	if preset == "tiny-gemma3-yarn" {
		return 1e-3
	}
	return 1e-4
}

// synthSpecModel writes spec (seed 7, f32) into memory and parses it.
func synthSpecModel(t *testing.T, spec synth.Spec) *weights.File {
	t.Helper()
	return synthtest.Model(t, spec, 7, nil)
}

func ropeRef(t *testing.T, preset string) []refCase {
	t.Helper()
	data, err := os.ReadFile("testdata/yarn/" + preset + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatalf("%s: no cases", preset)
	}
	return ref.Cases
}

// TestRopeScalingAgainstLlamaCpp runs the rope-scaled models over prompts
// that start below and run past the original context (64): the logits at
// llama.cpp's top-40 ids after the prompt, then greedy decoding of 48
// tokens with each step's top-5 logits compared, so the last compared
// position is 48 past the prompt (up to 210). Greedy ids must be llama.cpp's
// unless its own top-1/top-2 margin is within the tolerance. dayi's backend
// runs every case; the portable one (slow on a 150k vocabulary) the long
// prompt and its first 8 steps.
func TestRopeScalingAgainstLlamaCpp(t *testing.T) {
	for _, p := range ropePresets {
		for _, be := range []Options{{Backend: "go"}, {Backend: "dayi", KVType: "f32"}} {
			t.Run(p+"/"+be.Backend, func(t *testing.T) {
				cases := ropeRef(t, p)
				maxSteps := len(cases[0].StepsTop)
				if be.Backend == "go" {
					cases, maxSteps = cases[1:2], 8
				}
				be.Buckets = []int{8, 32}
				be.PrefixCacheBytes = -1
				m, err := Load(synthModel(t, p), be)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				tol := ropeTol(p)
				ctx := context.Background()
				for _, c := range cases {
					c.StepsTop = c.StepsTop[:min(maxSteps, len(c.StepsTop))]
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
					if worst > tol {
						t.Errorf("%d-token prompt: logits after it differ by %g (tolerance %g)", len(c.PromptIDs), worst, tol)
					}
					steps := 0
					for i, st := range c.StepsTop {
						for _, top := range st.Top {
							worst = math.Max(worst, math.Abs(float64(logits[int32(top[0])])-top[1]))
						}
						got := argmax(logits)
						if got != st.Token {
							if margin := st.Top[0][1] - st.Top[1][1]; margin > 2*tol {
								t.Errorf("%d-token prompt: greedy step %d: got %d want %d (llama.cpp margin %.3g)", len(c.PromptIDs), i, got, st.Token, margin)
							} else {
								t.Logf("%d-token prompt: step %d diverges within llama.cpp's margin %.3g", len(c.PromptIDs), i, margin)
							}
							break
						}
						steps++
						if i+1 < len(c.StepsTop) {
							if logits, err = s.Eval(ctx, []int32{got}); err != nil {
								t.Fatal(err)
							}
						}
					}
					s.Close()
					t.Logf("%d-token prompt: %d greedy ids equal, max |diff| %.3g through position %d", len(c.PromptIDs), steps, worst, len(c.PromptIDs)+steps-1)
					if worst > tol {
						t.Errorf("%d-token prompt: step logits differ by up to %g (tolerance %g)", len(c.PromptIDs), worst, tol)
					}
				}
			})
		}
	}
}

// TestRopeScalingIsNotANoOp: the same weights without the rope.scaling
// metadata give logits far from llama.cpp's scaled ones on the long prompt,
// so TestRopeScalingAgainstLlamaCpp would catch scaling read but not
// applied. Nor is the rest of YaRN (its ramp and magnitude: the same factor
// as plain linear scaling is far off too), nor linear scaling's attention
// factor.
func TestRopeScalingIsNotANoOp(t *testing.T) {
	for _, p := range ropePresets {
		t.Run(p, func(t *testing.T) {
			spec, err := synth.Preset(p)
			if err != nil {
				t.Fatal(err)
			}
			c := ropeRef(t, p)[1] // the long English prompt
			if len(c.PromptIDs) <= 64 {
				t.Fatalf("prompt of %d tokens does not pass the original context", len(c.PromptIDs))
			}
			variants := map[string]synth.Spec{}
			plain := spec
			plain.RopeScaling, plain.RopeFactor, plain.RopeOrigCtx, plain.RopeAttnFactor = "", 0, 0, 0
			variants["unscaled"] = plain
			if spec.RopeScaling == "yarn" {
				lin := spec
				lin.RopeScaling = "linear"
				variants["linear instead of yarn"] = lin
			}
			if spec.RopeScaling == "linear" {
				noAttn := spec
				noAttn.RopeAttnFactor = 0
				variants["without attn_factor"] = noAttn
			}
			for name, v := range variants {
				m, err := Load(synthSpecModel(t, v), Options{Backend: "go", Buckets: []int{8, 32}, PrefixCacheBytes: -1})
				if err != nil {
					t.Fatal(err)
				}
				s, err := m.NewSession()
				if err != nil {
					t.Fatal(err)
				}
				logits, err := s.Eval(context.Background(), c.PromptIDs)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				m.Close()
				worst := 0.0
				for _, top := range c.FirstPosition.Top {
					worst = math.Max(worst, math.Abs(float64(logits[top.ID]-top.Logit)))
				}
				t.Logf("%s: max |diff| %.3g from llama.cpp's scaled logits", name, worst)
				if worst < 100*ropeTol(p) {
					t.Errorf("%s: logits within %g of llama.cpp's scaled ones: the reference cannot tell the scaling from none", name, worst)
				}
			}
		})
	}
}

// Load accepts a context past context_length up to YaRN's original context
// times its factor (tiny-llama's shape with context_length 128, YaRN 4 over
// 64), and its footprint counts that context.
func TestRopeScalingContextLength(t *testing.T) {
	spec, err := synth.Preset("tiny-llama")
	if err != nil {
		t.Fatal(err)
	}
	spec.ContextLength, spec.RopeScaling, spec.RopeFactor, spec.RopeOrigCtx = 128, "yarn", 4, 64
	f := synthSpecModel(t, spec)
	opt := Options{Backend: "dayi", ContextLength: 256, PrefixCacheBytes: -1}
	m, err := Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Ctx != 256 {
		t.Errorf("context %d, want 256", m.Ctx)
	}
	if fp, err := EstimateFootprint(f, opt); err != nil || fp.Ctx != 256 {
		t.Errorf("footprint context %d (%v), want 256", fp.Ctx, err)
	}
	opt.ContextLength = 257
	if _, err := Load(f, opt); err == nil {
		t.Errorf("a context of 257 past YaRN's 4×64 was accepted")
	}
	spec.RopeScaling = "linear"
	if _, err := Load(synthSpecModel(t, spec), Options{Backend: "dayi", ContextLength: 256, PrefixCacheBytes: -1}); err == nil {
		t.Errorf("linear scaling: a context past context_length 128 was accepted")
	}
}
