package arch

import (
	"math"
	"testing"
)

// The rope each combination of rope.scaling.* keys gives, as llama.cpp
// v0.5.0's load_hparams and llama_context read them (the numbers against
// llama.cpp's own outputs are in engine's TestRopeScalingAgainstLlamaCpp).
func TestRopeScalingRead(t *testing.T) {
	mscale := 1 + 0.1*math.Log(4) // YaRN's magnitude for factor 4
	for _, c := range []struct {
		name  string
		arch  string
		kv    map[string]any
		scale float32
		ext   float32
		attn  float64 // AttnFactor; with ext the table's magnitude is attn·mscale
		orig  int
	}{
		{"none by default", "llama", nil, 1, 0, 1, 0},
		{"linear", "llama", map[string]any{"rope.scaling.type": "linear", "rope.scaling.factor": float32(4)}, 0.25, 0, 1, 0},
		// llama.cpp's type defaults to linear, its factor to the old key.
		{"factor without type", "qwen2", map[string]any{"rope.scaling.factor": float32(2)}, 0.5, 0, 1, 0},
		{"old key", "llama", map[string]any{"rope.scale_linear": float32(8)}, 0.125, 0, 1, 0},
		{"none ignores factor", "llama", map[string]any{"rope.scaling.type": "none", "rope.scaling.factor": float32(4)}, 1, 0, 1, 0},
		{"attn factor without scaling", "llama", map[string]any{"rope.scaling.attn_factor": float32(0.5)}, 1, 0, 0.5, 0},
		{"yarn", "qwen3", map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4),
			"rope.scaling.original_context_length": uint32(32)}, 0.25, 1, 1, 32},
		// Without an original context, YaRN's is context_length (64 here);
		// v0.5.0 reads yarn_beta_fast only for grok and mistral3.
		{"yarn defaults", "qwen2", map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4),
			"rope.scaling.yarn_beta_fast": float32(8)}, 0.25, 1, 1, 64},
		{"yarn with attn factor", "llama", map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4),
			"rope.scaling.attn_factor": float32(0.5)}, 0.25, 1, 0.5, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := tinySpec(c.arch, 2)
			for k, v := range c.kv {
				s.kv[k] = v
			}
			_, h, err := Load(s.file(t))
			if err != nil {
				t.Fatal(err)
			}
			r := h.Ropes[h.Kinds[0].Rope]
			if r.Scale != c.scale || r.ExtFactor != c.ext || r.OrigCtx != c.orig || math.Abs(float64(r.AttnFactor)-c.attn) > 1e-6 {
				t.Errorf("rope %+v; want scale %g ext %g attn %g orig %d", r, c.scale, c.ext, c.attn, c.orig)
			}
			if c.ext != 0 && (r.BetaFast != 32 || r.BetaSlow != 1) {
				t.Errorf("betas %g %g, want llama.cpp's 32 and 1", r.BetaFast, r.BetaSlow)
			}
			// The table's magnitude: cos²+sin² = (attn·mscale)².
			cos, sin := make([]float32, 2), make([]float32, 2)
			r.Table(cos, sin, 1, 4, 7)
			want := c.attn
			if c.ext != 0 {
				want *= mscale
			}
			if got := math.Hypot(float64(cos[1]), float64(sin[1])); math.Abs(got-want) > 1e-5 {
				t.Errorf("magnitude %g, want %g", got, want)
			}
		})
	}
}

// Gemma 3's sliding-window layers keep base 10000 and no interpolation but
// share the context's YaRN parameters, as llama.cpp passes ext_factor and
// attn_factor to every layer.
func TestRopeScalingGemma3Local(t *testing.T) {
	s := tinySpec("gemma3", 6)
	s.kv["attention.sliding_window"] = uint32(4)
	s.kv["rope.freq_base"] = float32(1e6)
	s.kv["rope.scaling.type"] = "yarn"
	s.kv["rope.scaling.factor"] = float32(8)
	s.kv["rope.scaling.original_context_length"] = uint32(16)
	_, h, err := Load(s.file(t))
	if err != nil {
		t.Fatal(err)
	}
	global, local := h.Ropes[h.Kinds[5].Rope], h.Ropes[h.Kinds[0].Rope]
	if global.Base != 1e6 || global.Scale != 0.125 || global.ExtFactor != 1 {
		t.Errorf("global rope %+v", global)
	}
	if local.Base != 10000 || local.Scale != 1 || local.ExtFactor != 1 || local.AttnFactor != global.AttnFactor || local.OrigCtx != 16 {
		t.Errorf("local rope %+v (global %+v)", local, global)
	}
}

func TestRopeScalingRejects(t *testing.T) {
	for _, c := range []struct {
		kv   map[string]any
		want string
	}{
		{map[string]any{"rope.scaling.type": "longrope"}, `"longrope"`},
		{map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(-4)}, "rope.scaling.factor"},
		{map[string]any{"rope.scaling.type": "linear", "rope.scaling.factor": float32(math.NaN())}, "rope.scaling.factor"},
		{map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(1e9)}, "rope.scaling.factor"},
		{map[string]any{"rope.scale_linear": float32(math.Inf(1))}, "rope.scale_linear"},
		{map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4), "rope.scaling.original_context_length": int32(-5)}, "original_context_length"},
		{map[string]any{"rope.scaling.attn_factor": float32(0)}, "rope.scaling.attn_factor"},
		{map[string]any{"rope.freq_base": float32(0)}, "rope.freq_base"},
	} {
		s := tinySpec("qwen2", 2)
		for k, v := range c.kv {
			s.kv[k] = v
		}
		wantErr(t, loadErr(t, s), c.want)
	}
}

// YaRN's angles from the paper's definition in float64: with base 1e6, 32
// rotary dims and an original context of 64, the ramp runs from pair 0
// (ggml_rope_yarn_corr_dims: floor(32·ln(64/(2π·32))/(2 ln 1e6)) = -2,
// clamped to 0) to pair 3 (ceil(32·ln(64/2π)/(2 ln 1e6)) = ceil(2.69));
// pair 0 keeps its angle, pairs from 3 on are divided by the factor, pairs
// 1 and 2 mix the two (ramp 2/3 and 1/3). Rotation turns a row of Table by
// the same angles without the magnitude.
func TestYarnTable(t *testing.T) {
	r := Rope{Base: 1e6, Scale: 0.25, ExtFactor: 1, AttnFactor: 1, OrigCtx: 64, BetaFast: 32, BetaSlow: 1}
	const rd, pos = 32, 100
	cos, sin := make([]float32, rd/2), make([]float32, rd/2)
	r.Table(cos, sin, 1, rd, pos)
	m := 1 + 0.1*math.Log(4)
	for i := range rd / 2 {
		ext := pos * math.Pow(1e6, -2*float64(i)/rd)
		ramp := math.Max(0, 1-float64(i)/3)
		th := ext/4*(1-ramp) + ext*ramp
		if dc, ds := math.Abs(float64(cos[i])-m*math.Cos(th)), math.Abs(float64(sin[i])-m*math.Sin(th)); dc > 1e-5 || ds > 1e-5 {
			t.Errorf("pair %d: cos %g sin %g, want %g %g", i, cos[i], sin[i], m*math.Cos(th), m*math.Sin(th))
		}
	}
	// Table(pos) turned by Rotation(-40) is Table(pos-40).
	rc, rs := make([]float32, rd/2), make([]float32, rd/2)
	r.Rotation(rc, rs, rd, -40)
	wc, ws := make([]float32, rd/2), make([]float32, rd/2)
	r.Table(wc, ws, 1, rd, pos-40)
	for i := range rd / 2 {
		c := cos[i]*rc[i] - sin[i]*rs[i]
		s := cos[i]*rs[i] + sin[i]*rc[i]
		if math.Abs(float64(c-wc[i])) > 1e-4 || math.Abs(float64(s-ws[i])) > 1e-4 {
			t.Errorf("pair %d: rotated (%g, %g), want (%g, %g)", i, c, s, wc[i], ws[i])
		}
	}
}

// A YaRN model may run past context_length up to its original context
// times its factor; linear scaling and none keep context_length.
func TestRopeMaxContext(t *testing.T) {
	for _, c := range []struct {
		kv   map[string]any
		want int
	}{
		{nil, 64},
		{map[string]any{"rope.scaling.type": "linear", "rope.scaling.factor": float32(4)}, 64},
		{map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4)}, 256},
		{map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4), "rope.scaling.original_context_length": uint32(8)}, 64},
	} {
		s := tinySpec("qwen2", 2)
		for k, v := range c.kv {
			s.kv[k] = v
		}
		_, h, err := Load(s.file(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.MaxContext(); got != c.want {
			t.Errorf("%v: max context %d, want %d", c.kv, got, c.want)
		}
	}
}
