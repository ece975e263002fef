// Package arch declares, one small file per architecture, the tensors a model
// family reads from a GGUF file and the forward graph it builds with GoMLX's
// public graph API. It knows nothing of KV-cache bookkeeping, sampling or
// serving: the engine gives it a Ctx with the inputs of one step and takes back
// the logits.
package arch

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"dayi/weights"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Node is a GoMLX graph node.
type Node = graph.Node

// RopeType is ggml's rope mode: how rotary pairs are laid out in a head.
type RopeType int

const (
	// RopeNorm rotates adjacent pairs (x[2i], x[2i+1]) (ggml mode 0, llama).
	RopeNorm RopeType = 0
	// RopeNeoX rotates halves (x[i], x[i+n/2]) (ggml mode 2, qwen2/qwen3/gemma3).
	RopeNeoX RopeType = 2
)

// Hyper holds the hyper-parameters read from GGUF metadata.
type Hyper struct {
	Arch          string
	Dim           int // embedding length
	Layers        int
	Heads         int
	KVHeads       []int // per layer
	HeadDim       int   // key/value head size
	FFN           int
	Vocab         int
	ContextLength int
	NormEps       float32
	RopeDim       int
	RopeBase      float32
	RopeBaseLocal float32 // gemma3 sliding-window layers
	RopeScale     float32 // linear rope scaling factor (freq_scale = 1/factor)
	// RopeFreqs are per-pair frequency divisors (tensor rope_freqs.weight,
	// Llama 3.1+ "llama3" rope scaling); nil when absent. Global layers only.
	RopeFreqs     []float32
	RopeType      RopeType
	SlidingWindow int    // 0 = none
	LocalLayer    []bool // per layer: uses the sliding window
	AttnScale     float32
	EmbedScale    float32 // multiply token embeddings (gemma: sqrt(dim)); 0 = none
}

// MaxKVHeads is the largest per-layer KV head count.
func (h *Hyper) MaxKVHeads() int {
	m := 0
	for _, k := range h.KVHeads {
		m = max(m, k)
	}
	return m
}

// Weight is one tensor of the model as the graph sees it.
type Weight struct {
	Info *weights.TensorInfo
	Node *Node // set by the engine before Forward
	// Rows16: the raw blocks were repacked into the kernels' 16-row groups
	// (kernels.Repack); Linear passes the Rows16 scheme to the backend.
	Rows16 bool
}

// Model is an architecture's declared tensors plus its forward pass.
type Model interface {
	// Forward maps the step's input embeddings c.X [T, dim] to the hidden states
	// before the output norm ([T, dim]); the engine applies OutputNorm/Output.
	Forward(c *Ctx) *Node
	// OutputWeights returns the final norm and the output projection (which may
	// be the token embedding when tied).
	OutputWeights() (norm, output *Weight)
	// TokenEmbedding returns the token embedding table.
	TokenEmbedding() *Weight
}

// factory builds an architecture from its hyper-parameters; Bind fills the
// tensors afterwards.
type factory struct {
	hyper func(f *weights.File) (*Hyper, error)
	new   func(h *Hyper) Model
}

// registry is immutable: every architecture dayi supports, by GGUF name.
var registry = map[string]factory{
	"llama":  {hyper: llamaHyper, new: newLlama},
	"qwen2":  {hyper: qwen2Hyper, new: newQwen2},
	"qwen3":  {hyper: qwen3Hyper, new: newQwen3},
	"gemma3": {hyper: gemma3Hyper, new: newGemma3},
}

// Supported lists the architecture names dayi runs.
func Supported() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load reads the hyper-parameters and binds every declared tensor of the
// model in f. Unknown architectures and missing or mis-shaped tensors are
// errors that name them.
func Load(f *weights.File) (Model, *Hyper, error) {
	name := f.Arch()
	fac, ok := registry[name]
	if !ok {
		return nil, nil, fmt.Errorf("unknown architecture %q (dayi runs: %s)", name, strings.Join(Supported(), ", "))
	}
	h, err := fac.hyper(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s hyper-parameters: %w", name, err)
	}
	m := fac.new(h)
	if err := bind(f, reflect.ValueOf(m).Elem(), ""); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if c, ok := m.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return m, h, nil
}

// bind fills *Weight fields tagged `gguf:"name"` (",optional" allowed) and
// slices of layer structs tagged `gguf:"blk"` from f's tensors.
func bind(f *weights.File, v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Anonymous && v.Field(i).Kind() == reflect.Struct {
			if err := bind(f, v.Field(i), prefix); err != nil {
				return err
			}
			continue
		}
		tag, ok := t.Field(i).Tag.Lookup("gguf")
		if !ok {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Slice: // layers
			for l := 0; l < fv.Len(); l++ {
				if err := bind(f, fv.Index(l), fmt.Sprintf("%s.%d.", name, l)); err != nil {
					return err
				}
			}
		case reflect.Pointer:
			full := prefix + name
			info, found := f.Tensor(full)
			if !found {
				if opt == "optional" {
					continue
				}
				return fmt.Errorf("tensor %q is missing", full)
			}
			fv.Set(reflect.ValueOf(&Weight{Info: info}))
		}
	}
	return nil
}

// Weights lists every bound tensor of m in a stable order.
func Weights(m Model) []*Weight {
	var out []*Weight
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Anonymous && v.Field(i).Kind() == reflect.Struct {
				walk(v.Field(i))
				continue
			}
			if _, ok := t.Field(i).Tag.Lookup("gguf"); !ok {
				continue
			}
			fv := v.Field(i)
			switch fv.Kind() {
			case reflect.Slice:
				for l := 0; l < fv.Len(); l++ {
					walk(fv.Index(l))
				}
			case reflect.Pointer:
				if !fv.IsNil() {
					out = append(out, fv.Interface().(*Weight))
				}
			}
		}
	}
	walk(reflect.ValueOf(m).Elem())
	return out
}

// commonHyper reads the llama-family keys every architecture shares.
func commonHyper(f *weights.File) (*Hyper, error) {
	h := &Hyper{Arch: f.Arch()}
	get := func(key string) (int, error) {
		v := f.Int(f.ArchKey(key), -1)
		if v <= 0 || v > math.MaxInt32 {
			return 0, fmt.Errorf("metadata %s.%s missing or invalid", h.Arch, key)
		}
		return int(v), nil
	}
	var err error
	if h.Dim, err = get("embedding_length"); err != nil {
		return nil, err
	}
	if h.Layers, err = get("block_count"); err != nil {
		return nil, err
	}
	if h.Heads, err = get("attention.head_count"); err != nil {
		return nil, err
	}
	if h.FFN, err = get("feed_forward_length"); err != nil {
		// per-layer arrays of feed_forward_length exist in some models; we need the scalar
		return nil, err
	}
	h.ContextLength = int(f.Int(f.ArchKey("context_length"), 2048))
	h.KVHeads = make([]int, h.Layers)
	if arr := f.Int32s(f.ArchKey("attention.head_count_kv")); len(arr) == h.Layers {
		for i, v := range arr {
			h.KVHeads[i] = int(v)
		}
	} else {
		kv := int(f.Int(f.ArchKey("attention.head_count_kv"), int64(h.Heads)))
		for i := range h.KVHeads {
			h.KVHeads[i] = kv
		}
	}
	for i, kv := range h.KVHeads {
		if kv <= 0 || h.Heads%kv != 0 {
			return nil, fmt.Errorf("layer %d: %d KV heads do not divide %d heads", i, kv, h.Heads)
		}
	}
	h.HeadDim = int(f.Int(f.ArchKey("attention.key_length"), int64(h.Dim/h.Heads)))
	if vl := f.Int(f.ArchKey("attention.value_length"), int64(h.HeadDim)); int(vl) != h.HeadDim {
		return nil, fmt.Errorf("value_length %d != key_length %d is not supported", vl, h.HeadDim)
	}
	h.NormEps = float32(f.Float(f.ArchKey("attention.layer_norm_rms_epsilon"), 1e-5))
	h.RopeDim = int(f.Int(f.ArchKey("rope.dimension_count"), int64(h.HeadDim)))
	if h.RopeDim <= 0 || h.RopeDim > h.HeadDim || h.RopeDim%2 != 0 {
		return nil, fmt.Errorf("rope.dimension_count %d invalid for head size %d", h.RopeDim, h.HeadDim)
	}
	h.RopeBase = float32(f.Float(f.ArchKey("rope.freq_base"), 10000))
	h.RopeScale = 1
	switch st := f.String(f.ArchKey("rope.scaling.type"), "none"); st {
	case "none", "":
	case "linear":
		if fac := f.Float(f.ArchKey("rope.scaling.factor"), 1); fac > 0 {
			h.RopeScale = float32(1 / fac)
		}
	default:
		return nil, fmt.Errorf("rope scaling %q is not supported yet", st)
	}
	if fac := f.Float(f.ArchKey("rope.scale_linear"), 0); fac > 0 {
		h.RopeScale = float32(1 / fac)
	}
	if t, ok := f.Tensor("rope_freqs.weight"); ok {
		if t.Type != weights.TypeF32 || t.Elements() != int64(h.RopeDim/2) {
			return nil, fmt.Errorf("rope_freqs.weight: want %d f32 values, have %d %s", h.RopeDim/2, t.Elements(), t.Type)
		}
		h.RopeFreqs = make([]float32, h.RopeDim/2)
		if err := weights.DequantizeRow(weights.TypeF32, h.RopeFreqs, f.TensorData(t)); err != nil {
			return nil, fmt.Errorf("rope_freqs.weight: %w", err)
		}
	}
	h.AttnScale = float32(1 / math.Sqrt(float64(h.HeadDim)))
	h.LocalLayer = make([]bool, h.Layers)
	if tok := f.Strings("tokenizer.ggml.tokens"); len(tok) > 0 {
		h.Vocab = len(tok)
	}
	return h, nil
}

// checkVocab sets the vocabulary size from the embedding table.
func checkVocab(h *Hyper, emb *Weight) error {
	if emb == nil || len(emb.Info.Dims) != 2 || int(emb.Info.Dims[0]) != h.Dim {
		return fmt.Errorf("token_embd.weight shape does not match embedding_length %d", h.Dim)
	}
	h.Vocab = int(emb.Info.Dims[1])
	return nil
}

func errMissing(layer int, what string) error {
	return fmt.Errorf("layer %d: tensor %s is missing", layer, what)
}
