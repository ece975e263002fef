package arch

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"dayi/weights"
)

// ggufSpec is a model file to write for a test: metadata and tensors (all
// f32; values only matter for rope_freqs.weight).
type ggufSpec struct {
	arch    string
	kv      map[string]any // keys without the "ARCH." prefix
	tensors map[string][]int64
	order   []string
	values  map[string][]float32
}

// tinySpec is a 2-layer model of arch with every tensor llama, qwen2,
// qwen3, gemma3 and gemma2 may read (unknown ones are ignored by bind):
// dim 8, 2 heads of 4, 1 KV head, FFN 16, vocabulary 10.
func tinySpec(arch string, layers int) *ggufSpec {
	s := &ggufSpec{arch: arch, kv: map[string]any{
		"embedding_length":                 uint32(8),
		"block_count":                      uint32(layers),
		"feed_forward_length":              uint32(16),
		"attention.head_count":             uint32(2),
		"attention.head_count_kv":          uint32(1),
		"attention.layer_norm_rms_epsilon": float32(1e-6),
		"rope.freq_base":                   float32(10000),
		"context_length":                   uint32(64),
	}, tensors: map[string][]int64{}, values: map[string][]float32{}}
	s.add("token_embd.weight", 8, 10)
	s.add("output_norm.weight", 8)
	for l := 0; l < layers; l++ {
		p := "blk." + string(rune('0'+l)) + "."
		s.add(p+"attn_norm.weight", 8)
		s.add(p+"attn_q.weight", 8, 8)
		s.add(p+"attn_k.weight", 8, 4)
		s.add(p+"attn_v.weight", 8, 4)
		s.add(p+"attn_output.weight", 8, 8)
		s.add(p+"ffn_norm.weight", 8)
		s.add(p+"ffn_gate.weight", 8, 16)
		s.add(p+"ffn_up.weight", 8, 16)
		s.add(p+"ffn_down.weight", 16, 8)
		s.add(p+"attn_q.bias", 8)
		s.add(p+"attn_k.bias", 4)
		s.add(p+"attn_v.bias", 4)
		s.add(p+"attn_q_norm.weight", 4)
		s.add(p+"attn_k_norm.weight", 4)
		s.add(p+"post_attention_norm.weight", 8)
		s.add(p+"post_ffw_norm.weight", 8)
	}
	return s
}

func (s *ggufSpec) add(name string, dims ...int64) {
	if _, ok := s.tensors[name]; !ok {
		s.order = append(s.order, name)
	}
	s.tensors[name] = dims
}

func (s *ggufSpec) drop(name string) {
	delete(s.tensors, name)
}

// file writes s and parses it back.
func (s *ggufSpec) file(t *testing.T) *weights.File {
	t.Helper()
	var buf bytes.Buffer
	w := weights.NewWriter(&buf)
	kv := func(k string, v any) {
		val, err := weights.ValueOf(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddKV(k, val); err != nil {
			t.Fatal(err)
		}
	}
	kv("general.architecture", s.arch)
	for k, v := range s.kv {
		kv(s.arch+"."+k, v)
	}
	var names []string
	for _, n := range s.order {
		if dims, ok := s.tensors[n]; ok {
			names = append(names, n)
			if err := w.AddTensor(n, weights.TypeF32, dims); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range names {
		elems := int64(1)
		for _, d := range s.tensors[n] {
			elems *= d
		}
		data := make([]byte, 4*elems)
		for i, v := range s.values[n] {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
		if err := w.WriteTensor(n, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func loadErr(t *testing.T, s *ggufSpec) error {
	t.Helper()
	_, _, err := Load(s.file(t))
	return err
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %q", err, p)
		}
	}
}

func TestBindTiedOutput(t *testing.T) {
	m, h, err := Load(tinySpec("llama", 2).file(t))
	if err != nil {
		t.Fatal(err)
	}
	_, out := m.OutputWeights()
	if out == nil || out != m.TokenEmbedding() {
		t.Fatalf("without output.weight the output is %v, want the token embedding %v", out, m.TokenEmbedding())
	}
	ws := Weights(m)
	n := 0
	for _, w := range ws {
		if w.Info.Name == "token_embd.weight" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Weights lists token_embd.weight %d times, want once", n)
	}
	// llama reads 9 tensors per layer plus optional biases and norms, all
	// present here: 14 per layer, 2 at the top.
	if len(ws) != 2+2*14 {
		t.Errorf("Weights has %d tensors, want %d", len(ws), 2+2*14)
	}
	if h.Vocab != 10 {
		t.Errorf("vocab %d, want 10 (token_embd's second dim)", h.Vocab)
	}

	s := tinySpec("llama", 2)
	s.add("output.weight", 8, 10)
	m, _, err = Load(s.file(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, out := m.OutputWeights(); out == m.TokenEmbedding() || out.Info.Name != "output.weight" {
		t.Errorf("with output.weight the output is %q", out.Info.Name)
	}
	if got := len(Weights(m)); got != 2+2*14+1 {
		t.Errorf("Weights has %d tensors with an untied output, want %d", got, 2+2*14+1)
	}
}

func TestBindMissingTensor(t *testing.T) {
	s := tinySpec("llama", 2)
	s.drop("blk.1.ffn_up.weight")
	wantErr(t, loadErr(t, s), `"blk.1.ffn_up.weight" is missing`, "llama")

	// Both the tensor and its alt missing: the error names both.
	s = tinySpec("gemma2", 2)
	s.drop("token_embd.weight")
	wantErr(t, loadErr(t, s), "token_embd.weight")

	// Optional tensors may be absent for llama, not for qwen2 (biases) and
	// qwen3 (Q/K norms).
	for _, c := range []struct{ arch, drop, want string }{
		{"llama", "blk.0.attn_q.bias", ""},
		{"llama", "blk.1.attn_k_norm.weight", ""},
		{"qwen2", "blk.1.attn_v.bias", "attn_q/k/v.bias"},
		{"qwen3", "blk.0.attn_q_norm.weight", "attn_q_norm/attn_k_norm"},
		{"gemma3", "blk.1.post_ffw_norm.weight", "blk.1.post_ffw_norm.weight"},
		{"gemma2", "blk.0.post_attention_norm.weight", "blk.0.post_attention_norm.weight"},
	} {
		s := tinySpec(c.arch, 2)
		s.drop(c.drop)
		err := loadErr(t, s)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s without %s: %v", c.arch, c.drop, err)
			}
			continue
		}
		wantErr(t, err, c.want)
	}
}

func TestBindShapes(t *testing.T) {
	for _, c := range []struct {
		arch, name string
		dims       []int64
	}{
		{"llama", "blk.1.attn_k.weight", []int64{8, 8}},    // kv is 1 head of 4
		{"llama", "blk.0.attn_q.weight", []int64{8, 4}},    // q is 2 heads of 4
		{"llama", "blk.0.ffn_down.weight", []int64{8, 16}}, // transposed
		{"llama", "output_norm.weight", []int64{8, 1}},     // rank
		{"llama", "blk.0.attn_q.bias", []int64{4}},         // optional, still checked
		{"qwen3", "blk.1.attn_q_norm.weight", []int64{8}},
		{"gemma3", "blk.0.attn_k_norm.weight", []int64{5}},
		{"gemma2", "blk.1.post_ffw_norm.weight", []int64{16}},
		{"gemma2", "token_embd.weight", []int64{4, 10}},
	} {
		s := tinySpec(c.arch, 2)
		s.add(c.name, c.dims...)
		wantErr(t, loadErr(t, s), `"`+c.name+`"`, "has dims")
	}
	// An untied output must give as many logits as the embedding has rows.
	s := tinySpec("llama", 2)
	s.add("output.weight", 8, 11)
	wantErr(t, loadErr(t, s), `"output.weight"`, "vocabulary")
}

func TestLoadRejects(t *testing.T) {
	wantErr(t, loadErr(t, tinySpec("mamba", 2)), `"mamba"`, "gemma2", "llama")

	s := tinySpec("llama", 2)
	s.kv["attention.head_count_kv"] = uint32(3)
	wantErr(t, loadErr(t, s), "KV heads")

	s = tinySpec("llama", 2)
	delete(s.kv, "embedding_length")
	wantErr(t, loadErr(t, s), "embedding_length")

	s = tinySpec("llama", 2)
	s.add("rope_freqs.weight", 3) // want RopeDim/2 = 2
	wantErr(t, loadErr(t, s), "rope_freqs.weight")

	for _, c := range []struct {
		key  string
		val  any
		want string
	}{
		{"attn_logit_softcapping", float32(0), "attn_logit_softcapping"},
		{"final_logit_softcapping", float32(-30), "final_logit_softcapping"},
		{"attention.sliding_window_pattern", []bool{true, false}, "sliding_window_pattern"},
	} {
		s := tinySpec("gemma2", 2)
		s.kv[c.key] = c.val
		wantErr(t, loadErr(t, s), c.want)
	}
}

func TestDimsSymbols(t *testing.T) {
	h := &Hyper{Dim: 8, Heads: 2, HeadDim: 4, KVHeads: []int{1, 2}, FFN: 16}
	for _, c := range []struct {
		sym   string
		layer int
		want  int64
	}{{"dim", -1, 8}, {"q", 0, 8}, {"kv", 0, 4}, {"kv", 1, 8}, {"head", 1, 4}, {"ffn", 0, 16}, {"*", 0, -1}, {"12", 0, 12}} {
		got, err := h.dimOf(c.sym, c.layer)
		if err != nil || got != c.want {
			t.Errorf("dimOf(%q, %d) = %d, %v; want %d", c.sym, c.layer, got, err, c.want)
		}
	}
	for _, sym := range []string{"kv", "vocab", "-3", ""} {
		if _, err := h.dimOf(sym, -1); err == nil {
			t.Errorf("dimOf(%q) outside a layer: no error", sym)
		}
	}
}

func TestLayerKinds(t *testing.T) {
	// llama: one rope (with its linear scaling and rope_freqs), one causal
	// view, every layer alike.
	s := tinySpec("llama", 3)
	s.kv["rope.scaling.type"] = "linear"
	s.kv["rope.scaling.factor"] = float32(4)
	s.add("rope_freqs.weight", 2)
	s.values["rope_freqs.weight"] = []float32{1, 8}
	_, h, err := Load(s.file(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Ropes) != 1 || len(h.Caches) != 1 || h.Caches[0].Window != 0 {
		t.Fatalf("llama ropes %+v caches %+v: want one of each, causal", h.Ropes, h.Caches)
	}
	if r := h.Ropes[0]; r.Base != 10000 || r.Scale != 0.25 || len(r.Freqs) != 2 || r.Freqs[1] != 8 {
		t.Errorf("llama rope %+v: want base 10000, scale 1/4, freqs [1 8]", r)
	}
	for l, k := range h.Kinds {
		if k != (LayerKind{}) {
			t.Errorf("llama layer %d kind %+v", l, k)
		}
	}

	// gemma3: five sliding layers (own rope base 10000, no scaling) for
	// every global one.
	s = tinySpec("gemma3", 7)
	s.kv["rope.freq_base"] = float32(1e6)
	s.kv["attention.sliding_window"] = uint32(512)
	if _, h, err = Load(s.file(t)); err != nil {
		t.Fatal(err)
	}
	if len(h.Ropes) != 2 || len(h.Caches) != 2 {
		t.Fatalf("gemma3 ropes %+v caches %+v: want two of each", h.Ropes, h.Caches)
	}
	for l, k := range h.Kinds {
		local := l != 5
		r, c := h.Ropes[k.Rope], h.Caches[k.Cache]
		if local && (r.Base != 10000 || r.Scale != 1 || c.Window != 512) || !local && (r.Base != 1e6 || c.Window != 0) {
			t.Errorf("gemma3 layer %d: rope %+v cache %+v (local %v)", l, r, c, local)
		}
	}
	s.kv["rope.freq_base_swa"] = float32(20000)
	if _, h, err = Load(s.file(t)); err != nil {
		t.Fatal(err)
	}
	if r := h.Ropes[h.Kinds[0].Rope]; r.Base != 20000 {
		t.Errorf("gemma3 with rope.freq_base_swa 20000: local rope %+v", r)
	}
	// Without a window every gemma3 layer is global.
	s = tinySpec("gemma3", 7)
	if _, h, err = Load(s.file(t)); err != nil {
		t.Fatal(err)
	}
	if len(h.Ropes) != 1 || len(h.Caches) != 1 {
		t.Errorf("gemma3 without a window: ropes %+v caches %+v", h.Ropes, h.Caches)
	}

	// gemma2: even layers slide (default window 4096), one rope shared by
	// both kinds; a file may set the window and the period.
	for _, c := range []struct {
		kv     map[string]any
		window int
		local  []bool
	}{
		{nil, 4096, []bool{true, false, true, false, true}},
		{map[string]any{"attention.sliding_window": uint32(4), "attention.sliding_window_pattern": uint32(3)}, 4,
			[]bool{true, true, false, true, true}},
		{map[string]any{"attention.sliding_window_pattern": uint32(0)}, 4096, []bool{true, true, true, true, true}},
	} {
		s := tinySpec("gemma2", 5)
		for k, v := range c.kv {
			s.kv[k] = v
		}
		_, h, err := Load(s.file(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Ropes) != 1 {
			t.Errorf("gemma2 %v: %d ropes, want one shared", c.kv, len(h.Ropes))
		}
		for l, k := range h.Kinds {
			w := h.Caches[k.Cache].Window
			if c.local[l] != (w == c.window) || !c.local[l] && w != 0 {
				t.Errorf("gemma2 %v layer %d: window %d, want sliding %v (%d)", c.kv, l, w, c.local[l], c.window)
			}
		}
	}
}

func TestAddKindShares(t *testing.T) {
	h := &Hyper{}
	a := h.AddKind(Rope{Base: 1e4, Scale: 1}, Cache{})
	b := h.AddKind(Rope{Base: 1e4, Scale: 1}, Cache{Window: 8})
	c := h.AddKind(Rope{Base: 1e6, Scale: 1, Freqs: []float32{1, 2}}, Cache{Window: 8})
	d := h.AddKind(Rope{Base: 1e6, Scale: 1, Freqs: []float32{1, 2}}, Cache{})
	if len(h.Ropes) != 2 || len(h.Caches) != 2 {
		t.Fatalf("ropes %+v caches %+v: want 2 of each (equal ones shared)", h.Ropes, h.Caches)
	}
	if a.Rope != b.Rope || c.Rope != d.Rope || a.Rope == c.Rope || b.Cache != c.Cache || a.Cache != d.Cache || a.Cache == b.Cache {
		t.Errorf("kinds %+v %+v %+v %+v", a, b, c, d)
	}
}
