package vision_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"dayi/vision"
	"dayi/weights"
)

// rewrite copies the tiny f16 projector with metadata overrides (nil
// deletes the key) and tensors dropped or renamed.
func rewrite(t *testing.T, kv map[string]any, drop, rename map[string]string) *weights.File {
	t.Helper()
	src := tinyProjector(t, weights.TypeF16)
	var b bytes.Buffer
	gw := weights.NewWriter(&b)
	seen := map[string]bool{}
	for _, e := range src.KV {
		v := e.Value
		if nv, ok := kv[e.Key]; ok {
			seen[e.Key] = true
			if nv == nil {
				continue
			}
			var err error
			if v, err = weights.ValueOf(nv); err != nil {
				t.Fatal(err)
			}
		}
		if err := gw.AddKV(e.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, nv := range kv {
		if !seen[k] && nv != nil {
			v, err := weights.ValueOf(nv)
			if err != nil {
				t.Fatal(err)
			}
			if err := gw.AddKV(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	name := func(n string) string {
		if r, ok := rename[n]; ok {
			return r
		}
		return n
	}
	var kept []*weights.TensorInfo
	for i := range src.Tensors {
		ti := &src.Tensors[i]
		if _, ok := drop[ti.Name]; ok {
			continue
		}
		kept = append(kept, ti)
		if err := gw.AddTensor(name(ti.Name), ti.Type, ti.Dims); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range kept {
		if err := gw.WriteTensor(name(ti.Name), src.TensorData(ti)); err != nil {
			t.Fatal(err)
		}
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHostileProjectorsRefused: an mmproj is a file from outside; every
// malformed or oversized header field and every missing or mis-shaped
// tensor is an error naming it, never a panic or a huge allocation.
func TestHostileProjectorsRefused(t *testing.T) {
	be, err := backends.NewWithConfig("dayi:threads=1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		kv     map[string]any
		drop   map[string]string
		rename map[string]string
		want   string
	}{
		{name: "not clip", kv: map[string]any{"general.architecture": "llama"}, want: "not a vision projector"},
		{name: "other projector", kv: map[string]any{"clip.projector_type": "mlp"}, want: `"mlp"`},
		{name: "no vision", kv: map[string]any{"clip.has_vision_encoder": false}, want: "has_vision_encoder"},
		{name: "huge image", kv: map[string]any{"clip.vision.image_size": uint32(1 << 30)}, want: "clip.vision.image_size"},
		{name: "zero patch", kv: map[string]any{"clip.vision.patch_size": uint32(0)}, want: "clip.vision.patch_size"},
		{name: "tiny patch", kv: map[string]any{"clip.vision.image_size": uint32(4096), "clip.vision.patch_size": uint32(1)}, want: "patches"},
		{name: "ragged patches", kv: map[string]any{"clip.vision.patch_size": uint32(5)}, want: "not a multiple of the patch size"},
		{name: "heads", kv: map[string]any{"clip.vision.attention.head_count": uint32(5)}, want: "heads"},
		{name: "huge layers", kv: map[string]any{"clip.vision.block_count": uint32(1 << 31)}, want: "block_count"},
		{name: "more layers than tensors", kv: map[string]any{"clip.vision.block_count": uint32(3)}, want: "v.blk.2"},
		{name: "pool", kv: map[string]any{"clip.vision.projector.scale_factor": uint32(3)}, want: "pooled"},
		{name: "no eps", kv: map[string]any{"clip.vision.attention.layer_norm_epsilon": nil}, want: "layer_norm_epsilon"},
		{name: "short mean", kv: map[string]any{"clip.vision.image_mean": []float32{0.5}}, want: "image_mean"},
		{name: "zero std", kv: map[string]any{"clip.vision.image_std": []float32{0.5, 0, 0.5}}, want: "image_std"},
		{name: "no projection", drop: map[string]string{"mm.input_projection.weight": ""}, want: "mm.input_projection.weight"},
		{name: "no q", drop: map[string]string{"v.blk.1.attn_q.weight": ""}, want: "v.blk.1.attn_q.weight"},
		{name: "swapped shape", rename: map[string]string{"v.blk.0.attn_q.weight": "x", "v.blk.0.ffn_up.weight": "v.blk.0.attn_q.weight"}, want: "v.blk.0.attn_q.weight"},
		{name: "no positions", drop: map[string]string{"v.position_embd.weight": ""}, want: "v.position_embd.weight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := rewrite(t, c.kv, c.drop, c.rename)
			_, err := vision.New(f, be, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}
