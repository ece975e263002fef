package vision

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"dayi/weights"
)

// SynthSpec describes a seeded random-weight gemma3 projector with the
// tensor layout and metadata llama.cpp's converter writes for Gemma 3 /
// MedGemma (convert_hf_to_gguf.py Gemma3VisionModel), for tests (tiny
// shapes, run once through llama.cpp to record references) and the speed
// test (the real shape).
type SynthSpec struct {
	ImageSize, PatchSize int
	Dim, FFN, Layers     int
	Heads                int
	TextDim              int
	// Merge > 0 writes clip.vision.projector.scale_factor (llama.cpp's
	// tiny test models do); 0 leaves gemma3's default of 4.
	Merge int
}

// synthPresets: "tiny" pools 8×8 patches of a 32-pixel image by 2 into 16
// tokens of the tiny-gemma3 text width (64); "medgemma-4b" is MedGemma 4B's
// SigLIP-So400m tower (27 layers, 1152 wide, FFN 4304, 16 heads, patch 14,
// image 896 → 256 tokens) projecting to Gemma 3 4B's 2560.
var synthPresets = map[string]SynthSpec{
	"tiny":        {ImageSize: 32, PatchSize: 4, Dim: 32, FFN: 64, Layers: 2, Heads: 4, TextDim: 64, Merge: 2},
	"medgemma-4b": {ImageSize: 896, PatchSize: 14, Dim: 1152, FFN: 4304, Layers: 27, Heads: 16, TextDim: 2560},
}

// SynthPreset returns a named projector shape.
func SynthPreset(name string) (SynthSpec, error) {
	s, ok := synthPresets[name]
	if !ok {
		var names []string
		for k := range synthPresets {
			names = append(names, k)
		}
		sort.Strings(names)
		return SynthSpec{}, fmt.Errorf("unknown projector preset %q (have: %s)", name, strings.Join(names, ", "))
	}
	return s, nil
}

type synthTensor struct {
	name  string
	dims  []int64 // ggml order
	kind  int     // 0 matrix (matType), 1 norm weight (≈1, f32), 2 bias/table (f32)
	std   float64
	plain bool // matrix kept f16 whatever matType (rows not a multiple of a block)
}

// WriteSynth writes the projector into w with matrices of type matType
// (f32, f16 or q8_0; the patch embedding and the input projection stay f16
// unless matType is f32, as llama.cpp keeps them) and everything 1-D, the
// position table included, in f32. Same spec and seed, same bytes.
func WriteSynth(w io.Writer, s SynthSpec, seed uint64, matType weights.Type) error {
	E, F, p := int64(s.Dim), int64(s.FFN), int64(s.PatchSize)
	n := int64(s.ImageSize / s.PatchSize)
	gw := weights.NewWriter(w)
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", "clip"},
		{"general.name", "dayi-synth-mmproj-gemma3"},
		{"general.file_type", uint32(1)},
		{"clip.has_vision_encoder", true},
		{"clip.projector_type", "gemma3"},
		{"clip.use_gelu", true},
		{"clip.vision.image_size", uint32(s.ImageSize)},
		{"clip.vision.patch_size", uint32(s.PatchSize)},
		{"clip.vision.embedding_length", uint32(s.Dim)},
		{"clip.vision.feed_forward_length", uint32(s.FFN)},
		{"clip.vision.projection_dim", uint32(s.TextDim)},
		{"clip.vision.block_count", uint32(s.Layers)},
		{"clip.vision.attention.head_count", uint32(s.Heads)},
		{"clip.vision.attention.layer_norm_epsilon", float32(1e-6)},
		{"clip.vision.image_mean", []float32{0.5, 0.5, 0.5}},
		{"clip.vision.image_std", []float32{0.5, 0.5, 0.5}},
	}
	if s.Merge > 0 {
		kvs = append(kvs, struct {
			k string
			v any
		}{"clip.vision.projector.scale_factor", uint32(s.Merge)})
	}
	for _, kv := range kvs {
		v, err := weights.ValueOf(kv.v)
		if err != nil {
			return fmt.Errorf("%s: %w", kv.k, err)
		}
		if err := gw.AddKV(kv.k, v); err != nil {
			return err
		}
	}
	inv := func(fan int64) float64 { return 1 / math.Sqrt(float64(fan)) }
	ts := []synthTensor{
		{name: "v.patch_embd.weight", dims: []int64{p, p, 3, E}, std: inv(3 * p * p), plain: true},
		{name: "v.patch_embd.bias", dims: []int64{E}, kind: 2, std: 0.1},
		{name: "v.position_embd.weight", dims: []int64{E, n * n}, kind: 2, std: 0.5},
	}
	for l := 0; l < s.Layers; l++ {
		b := func(x string) string { return fmt.Sprintf("v.blk.%d.%s", l, x) }
		ts = append(ts,
			synthTensor{name: b("attn_k.weight"), dims: []int64{E, E}, std: inv(E)},
			synthTensor{name: b("attn_k.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("attn_out.weight"), dims: []int64{E, E}, std: inv(E)},
			synthTensor{name: b("attn_out.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("attn_q.weight"), dims: []int64{E, E}, std: inv(E)},
			synthTensor{name: b("attn_q.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("attn_v.weight"), dims: []int64{E, E}, std: inv(E)},
			synthTensor{name: b("attn_v.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("ffn_down.weight"), dims: []int64{F, E}, std: inv(F)},
			synthTensor{name: b("ffn_down.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("ffn_up.weight"), dims: []int64{E, F}, std: inv(E)},
			synthTensor{name: b("ffn_up.bias"), dims: []int64{F}, kind: 2, std: 0.1},
			synthTensor{name: b("ln1.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("ln1.weight"), dims: []int64{E}, kind: 1},
			synthTensor{name: b("ln2.bias"), dims: []int64{E}, kind: 2, std: 0.1},
			synthTensor{name: b("ln2.weight"), dims: []int64{E}, kind: 1},
		)
	}
	ts = append(ts,
		synthTensor{name: "v.post_ln.bias", dims: []int64{E}, kind: 2, std: 0.1},
		synthTensor{name: "v.post_ln.weight", dims: []int64{E}, kind: 1},
		synthTensor{name: "mm.soft_emb_norm.weight", dims: []int64{E}, kind: 1},
		synthTensor{name: "mm.input_projection.weight", dims: []int64{int64(s.TextDim), E}, std: inv(E), plain: true},
	)
	types := make([]weights.Type, len(ts))
	for i, t := range ts {
		types[i] = weights.TypeF32
		if t.kind == 0 {
			types[i] = matType
			if t.plain && matType != weights.TypeF32 {
				types[i] = weights.TypeF16
			}
		}
		if err := gw.AddTensor(t.name, types[i], t.dims); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed0f1e))
	for i, t := range ts {
		cnt := int64(1)
		for _, d := range t.dims {
			cnt *= d
		}
		buf := make([]float32, cnt)
		for j := range buf {
			if t.kind == 1 {
				buf[j] = float32(1 + 0.1*rng.NormFloat64())
			} else {
				buf[j] = float32(t.std * rng.NormFloat64())
			}
		}
		rows := cnt / t.dims[0]
		rs, err := types[i].RowSize(t.dims[0])
		if err != nil {
			return fmt.Errorf("tensor %s: %w", t.name, err)
		}
		out := make([]byte, rs*rows)
		for r := int64(0); r < rows; r++ {
			if err := weights.QuantizeRow(types[i], out[r*rs:(r+1)*rs], buf[r*t.dims[0]:(r+1)*t.dims[0]]); err != nil {
				return fmt.Errorf("tensor %s: %w", t.name, err)
			}
		}
		if err := gw.WriteTensor(t.name, out); err != nil {
			return err
		}
	}
	return gw.Close()
}
