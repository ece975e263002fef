package synth

// ropePresets are tiny models with rope scaling metadata, checked against
// llama.cpp (engine/testdata/yarn): the tiny-qwen2/qwen3/gemma3 shapes with
// YaRN factor 4 over an original context of 64 (their context is 256, so a
// prompt of 100+ tokens runs past the original context), and tiny-llama
// with linear scaling and an attention factor (which llama.cpp applies to
// every rope, scaled or not).
var ropePresets = map[string]Spec{
	"tiny-qwen2-yarn":   withRope(presets["tiny-qwen2"], "yarn", 4, 64, 0),
	"tiny-qwen3-yarn":   withRope(presets["tiny-qwen3"], "yarn", 4, 64, 0),
	"tiny-gemma3-yarn":  withRope(presets["tiny-gemma3"], "yarn", 4, 64, 0),
	"tiny-llama-linear": withRope(presets["tiny-llama"], "linear", 4, 0, 1.25),
}

func withRope(s Spec, typ string, factor float64, origCtx int, attnFactor float64) Spec {
	s.RopeScaling, s.RopeFactor, s.RopeOrigCtx, s.RopeAttnFactor = typ, factor, origCtx, attnFactor
	return s
}

// ropeScalingKV is the spec's rope.scaling.* metadata, as
// convert_hf_to_gguf's base.py writes it: type and factor, the original
// context for yarn; attn_factor as <arch>.rope.scaling.attn_factor.
func (s *Spec) ropeScalingKV() []struct {
	k string
	v any
} {
	var kv []struct {
		k string
		v any
	}
	add := func(k string, v any) {
		kv = append(kv, struct {
			k string
			v any
		}{s.Arch + ".rope.scaling." + k, v})
	}
	if s.RopeScaling != "" {
		add("type", s.RopeScaling)
	}
	if s.RopeFactor != 0 {
		add("factor", float32(s.RopeFactor))
	}
	if s.RopeOrigCtx != 0 {
		add("original_context_length", uint32(s.RopeOrigCtx))
	}
	if s.RopeAttnFactor != 0 {
		add("attn_factor", float32(s.RopeAttnFactor))
	}
	return kv
}
