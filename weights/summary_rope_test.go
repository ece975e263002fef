package weights

import (
	"bytes"
	"testing"
)

// The rope scaling a summary reports, for the key combinations
// convert_hf_to_gguf writes (and llama.cpp's defaults: type linear, factor
// from the old rope.scale_linear key, YaRN's original context from
// context_length).
func TestSummarizeRopeScaling(t *testing.T) {
	for _, c := range []struct {
		name string
		kv   map[string]any
		want *RopeScaling
	}{
		{"none", nil, nil},
		{"stated none", map[string]any{"rope.scaling.type": "none", "rope.scaling.factor": float32(4)}, nil},
		{"linear", map[string]any{"rope.scaling.type": "linear", "rope.scaling.factor": float32(8)}, &RopeScaling{Type: "linear", Factor: 8}},
		{"old key", map[string]any{"rope.scale_linear": float32(2)}, &RopeScaling{Type: "linear", Factor: 2}},
		{"yarn", map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4),
			"rope.scaling.original_context_length": uint32(32768), "rope.scaling.attn_factor": float32(0.5)},
			&RopeScaling{Type: "yarn", Factor: 4, OriginalContextLength: 32768, AttnFactor: 0.5}},
		{"yarn default context", map[string]any{"rope.scaling.type": "yarn", "rope.scaling.factor": float32(4)},
			&RopeScaling{Type: "yarn", Factor: 4, OriginalContextLength: 4096}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			kv := func(k string, x any) {
				v, err := ValueOf(x)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.AddKV(k, v); err != nil {
					t.Fatal(err)
				}
			}
			kv("general.architecture", "qwen2")
			kv("qwen2.context_length", uint32(4096))
			for k, v := range c.kv {
				kv("qwen2."+k, v)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := Parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			got := Summarize(f, false).RopeScaling
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Errorf("rope scaling %+v, want %+v", got, c.want)
			}
		})
	}
}
