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
	"slices"
	"sort"
	"strconv"
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

// Hyper holds the hyper-parameters read from GGUF metadata that the engine
// and every architecture share. What only one family needs (gemma's
// embedding scale, gemma2's soft-capping) lives in that family's own struct.
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
	RopeType      RopeType
	AttnScale     float32
	// Ropes are the rotary tables, Caches the views of the KV cache, that the
	// layers read; Kinds[l] says which of each layer l uses. commonHyper
	// declares one of each (every layer alike); an architecture with other
	// layer kinds (gemma3's and gemma2's sliding-window layers) appends its
	// own. The engine fills one rotary table per Rope and one mask per Cache
	// for every step, not one per layer (as Ollama's gemma3 wraps a
	// sliding-window cache and a causal one and picks one per layer).
	Ropes  []Rope
	Caches []Cache
	Kinds  []LayerKind
}

// Rope is one rotary table: theta_i = Scale · pos / Freqs[i] · Base^(-2i/RopeDim),
// with YaRN's ramp and magnitude when ExtFactor is set: ggml_rope_ext's
// parameters (see rope.go for how they are read and applied).
type Rope struct {
	Base  float32
	Scale float32 // freq_scale = 1/factor (linear and yarn; 1 = none)
	// Freqs are per-pair frequency divisors (tensor rope_freqs.weight,
	// Llama 3.1+ "llama3" rope scaling); nil = none.
	Freqs []float32
	// ExtFactor is ggml's ext_factor: 0 plain (or linear) rope, 1 YaRN.
	ExtFactor float32
	// AttnFactor is ggml's attn_factor: it multiplies cos and sin (1 = none;
	// a rope built by hand must set it).
	AttnFactor float32
	// OrigCtx (n_ctx_orig) and BetaFast, BetaSlow place YaRN's ramp; unused
	// when ExtFactor is 0.
	OrigCtx            int
	BetaFast, BetaSlow float32
}

// equal reports whether two ropes give the same tables.
func (r Rope) equal(o Rope) bool {
	return r.Base == o.Base && r.Scale == o.Scale && slices.Equal(r.Freqs, o.Freqs) &&
		r.ExtFactor == o.ExtFactor && r.AttnFactor == o.AttnFactor && r.OrigCtx == o.OrigCtx &&
		r.BetaFast == o.BetaFast && r.BetaSlow == o.BetaSlow
}

// WithBase is the rope of another layer kind that llama.cpp builds with its
// own base and freq_scale but the context's YaRN parameters (ext_factor,
// attn_factor, n_ctx_orig, betas apply to every layer, as in
// llama_model::get_rope_freq_base/scale): gemma2's and gemma3's
// sliding-window layers. It has no Freqs.
func (r Rope) WithBase(base, scale float32) Rope {
	r.Base, r.Scale, r.Freqs = base, scale, nil
	return r
}

// Cache is one view of the KV cache a layer attends over.
type Cache struct {
	// Window > 0 limits a query at position p to keys at positions
	// p-Window+1 … p (llama.cpp's LLAMA_SWA_TYPE_STANDARD); 0 is plain causal
	// attention over every earlier position.
	Window int
	// Bidirectional: every row of a text sees every row of it, later ones
	// too (encoders: llama.cpp's non-causal attention). The engine then
	// evaluates a text in one step, from position 0.
	Bidirectional bool
}

// LayerKind is what one layer reads besides its weights: indexes into
// Hyper.Ropes and Hyper.Caches.
type LayerKind struct {
	Rope, Cache int
}

// AddKind declares a rope and a cache (each appended unless an equal one is
// already declared) and returns the kind that reads them.
func (h *Hyper) AddKind(r Rope, c Cache) LayerKind {
	k := LayerKind{Rope: -1, Cache: -1}
	for i, have := range h.Ropes {
		if have.equal(r) {
			k.Rope = i
			break
		}
	}
	if k.Rope < 0 {
		k.Rope = len(h.Ropes)
		h.Ropes = append(h.Ropes, r)
	}
	k.Cache = slices.Index(h.Caches, c)
	if k.Cache < 0 {
		k.Cache = len(h.Caches)
		h.Caches = append(h.Caches, c)
	}
	return k
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

// factory builds an architecture: hyper reads the hyper-parameters the
// engine shares (and declares the layer kinds), new makes the model with
// whatever else of f only it needs; Load binds the tensors afterwards.
type factory struct {
	hyper func(f *weights.File) (*Hyper, error)
	new   func(f *weights.File, h *Hyper) (Model, error)
}

// registry is immutable: every architecture dayi supports, by GGUF name.
var registry = map[string]factory{
	"llama":  {hyper: llamaHyper, new: newLlama},
	"qwen2":  {hyper: qwen2Hyper, new: newQwen2},
	"qwen3":  {hyper: qwen3Hyper, new: newQwen3},
	"gemma3": {hyper: gemma3Hyper, new: newGemma3},
	"gemma2": {hyper: gemma2Hyper, new: newGemma2},
	"bert":   {hyper: bertHyper, new: newBert},
	// nomic-embed-text v1.5 and v2 (nomic.go).
	"nomic-bert":     {hyper: nomicHyper, new: newNomicBert},
	"nomic-bert-moe": {hyper: nomicHyper, new: newNomicBert},
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

// IsEncoder reports whether f's architecture embeds rather than generates
// (its model implements Encoder), from the header alone: no tensor is
// bound. An unknown or malformed model is not an encoder.
func IsEncoder(f *weights.File) bool {
	fac, ok := registry[f.Arch()]
	if !ok {
		return false
	}
	h, err := fac.hyper(f)
	if err != nil {
		return false
	}
	m, err := fac.new(f, h)
	if err != nil {
		return false
	}
	_, ok = m.(Encoder)
	return ok
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
	if err := h.checkKinds(); err != nil {
		return nil, nil, fmt.Errorf("%s hyper-parameters: %w", name, err)
	}
	m, err := fac.new(f, h)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	b := binder{f: f, h: h, bound: map[*weights.TensorInfo]*Weight{}}
	if err := b.bind(reflect.ValueOf(m).Elem(), "", -1); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if c, ok := m.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return m, h, nil
}

// checkKinds makes sure every layer has a kind and every kind points at a
// declared rope and cache, so the graph can index them without checks.
func (h *Hyper) checkKinds() error {
	if len(h.Kinds) != h.Layers {
		return fmt.Errorf("%d layer kinds for %d layers", len(h.Kinds), h.Layers)
	}
	for l, k := range h.Kinds {
		if k.Rope < 0 || k.Rope >= len(h.Ropes) || k.Cache < 0 || k.Cache >= len(h.Caches) {
			return fmt.Errorf("layer %d: kind %+v outside %d ropes, %d caches", l, k, len(h.Ropes), len(h.Caches))
		}
	}
	for i, c := range h.Caches {
		if c.Window < 0 {
			return fmt.Errorf("cache %d: sliding window %d", i, c.Window)
		}
	}
	return nil
}

// binder fills a model's *Weight fields from a file's tensors.
//
// Field tags: `gguf:"NAME"` binds tensor NAME (prefixed by "blk.N." inside
// a layer); options after commas:
//
//	optional        the tensor may be absent (the field stays nil)
//	alt:OTHER       when NAME is absent, bind tensor OTHER instead: the tied
//	                output projection, output.weight → token_embd.weight (a
//	                top-level name, never layer-prefixed)
//
// and `dims:"A,B"` checks the tensor's ggml dimensions (innermost first)
// against symbols of Hyper (see dimOf). A slice of layer structs is tagged
// `gguf:"blk"`. One tensor bound by two fields gives both the same *Weight,
// so Weights lists it (and the engine uploads it) once.
type binder struct {
	f     *weights.File
	h     *Hyper
	bound map[*weights.TensorInfo]*Weight
}

func (b *binder) bind(v reflect.Value, prefix string, layer int) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Anonymous && v.Field(i).Kind() == reflect.Struct {
			if err := b.bind(v.Field(i), prefix, layer); err != nil {
				return err
			}
			continue
		}
		tag, ok := t.Field(i).Tag.Lookup("gguf")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Slice: // layers
			for l := 0; l < fv.Len(); l++ {
				if err := b.bind(fv.Index(l), fmt.Sprintf("%s.%d.", name, l), l); err != nil {
					return err
				}
			}
		case reflect.Pointer:
			full := prefix + name
			info, found := b.f.Tensor(full)
			optional, alt := false, ""
			for _, o := range strings.Split(opts, ",") {
				switch {
				case o == "optional":
					optional = true
				case strings.HasPrefix(o, "alt:"):
					alt = strings.TrimPrefix(o, "alt:")
				}
			}
			if !found && alt != "" {
				info, found = b.f.Tensor(alt)
			}
			if !found {
				if optional {
					continue
				}
				if alt != "" {
					return fmt.Errorf("tensor %q is missing (and so is %q)", full, alt)
				}
				return fmt.Errorf("tensor %q is missing", full)
			}
			if dims, ok := t.Field(i).Tag.Lookup("dims"); ok {
				if err := b.checkDims(info, dims, layer); err != nil {
					return err
				}
			}
			w := b.bound[info]
			if w == nil {
				w = &Weight{Info: info}
				b.bound[info] = w
			}
			fv.Set(reflect.ValueOf(w))
		}
	}
	return nil
}

// checkDims compares a tensor's dims with a `dims` tag.
func (b *binder) checkDims(info *weights.TensorInfo, tag string, layer int) error {
	syms := strings.Split(tag, ",")
	want := make([]int64, len(syms))
	for i, s := range syms {
		n, err := b.h.dimOf(s, layer)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		want[i] = n
	}
	ok := len(info.Dims) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] < 0 || info.Dims[i] == want[i]
	}
	if !ok {
		return fmt.Errorf("tensor %q has dims %v, want [%s] = %v", info.Name, info.Dims, tag, want)
	}
	return nil
}

// dimOf resolves one symbol of a `dims` tag for layer (-1 outside the
// layers): dim (embedding length), q (heads × head size), kv (the layer's KV
// heads × head size), head (head size), ffn, "*" (any size: the vocabulary,
// which is read from token_embd itself) or a number.
func (h *Hyper) dimOf(sym string, layer int) (int64, error) {
	switch sym {
	case "dim":
		return int64(h.Dim), nil
	case "q":
		return int64(h.Heads * h.HeadDim), nil
	case "kv":
		if layer < 0 || layer >= len(h.KVHeads) {
			return 0, fmt.Errorf("dims symbol kv outside a layer")
		}
		return int64(h.KVHeads[layer] * h.HeadDim), nil
	case "head":
		return int64(h.HeadDim), nil
	case "ffn":
		return int64(h.FFN), nil
	case "*":
		return -1, nil
	}
	n, err := strconv.ParseInt(sym, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("unknown dims symbol %q", sym)
	}
	return n, nil
}

// Weights lists every bound tensor of m once, in a stable order (field
// order; a tensor bound by two fields, as a tied output, where it first
// appears).
func Weights(m Model) []*Weight {
	var out []*Weight
	seen := map[*Weight]bool{}
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
				if w := fv.Interface().(*Weight); w != nil && !seen[w] {
					seen[w] = true
					out = append(out, w)
				}
			}
		}
	}
	walk(reflect.ValueOf(m).Elem())
	return out
}

// Logits is the output head on the hidden states x [T, dim] that Forward
// returned: the final norm, the output projection, and whatever the
// architecture does to the logits after it (gemma2's soft-capping: an
// architecture implementing logitsFinisher).
func Logits(c *Ctx, m Model, x *Node) *Node {
	norm, out := m.OutputWeights()
	y := c.Linear(c.RMSNorm(x, norm), out)
	if f, ok := m.(logitsFinisher); ok {
		y = f.finishLogits(c, y)
	}
	return y
}

// Normed is the final norm of the hidden states x [T, dim] (embeddings); an
// encoder without one (bert) gives its last layer's states.
func Normed(c *Ctx, m Model, x *Node) *Node {
	norm, _ := m.OutputWeights()
	if norm == nil {
		if _, ok := m.(Encoder); ok {
			return x
		}
	}
	return c.RMSNorm(x, norm)
}

// logitsFinisher is implemented by architectures that transform the logits
// after the output projection.
type logitsFinisher interface {
	finishLogits(c *Ctx, logits *Node) *Node
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
	ctxTrain := f.Int(f.ArchKey("context_length"), 2048)
	if ctxTrain < 1 || ctxTrain > MaxContextLength {
		// Negative or 2^62 loaded (the KV footprint overflowed past the
		// memory check) and failed at the first session.
		return nil, fmt.Errorf("metadata %s: context length %d outside 1..%d", f.ArchKey("context_length"), ctxTrain, MaxContextLength)
	}
	h.ContextLength = int(ctxTrain)
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
	rope, err := readRope(f, h.RopeDim, h.ContextLength)
	if err != nil {
		return nil, err
	}
	if t, ok := f.Tensor("rope_freqs.weight"); ok {
		if t.Type != weights.TypeF32 || t.Elements() != int64(h.RopeDim/2) {
			return nil, fmt.Errorf("rope_freqs.weight: want %d f32 values, have %d %s", h.RopeDim/2, t.Elements(), t.Type)
		}
		rope.Freqs = make([]float32, h.RopeDim/2)
		if err := weights.DequantizeRow(weights.TypeF32, rope.Freqs, f.TensorData(t)); err != nil {
			return nil, fmt.Errorf("rope_freqs.weight: %w", err)
		}
	}
	h.AttnScale = float32(1 / math.Sqrt(float64(h.HeadDim)))
	// Every layer alike: one rope, plain causal attention. Architectures
	// with other layer kinds replace Kinds[l] (AddKind).
	kind := h.AddKind(rope, Cache{})
	h.Kinds = make([]LayerKind, h.Layers)
	for l := range h.Kinds {
		h.Kinds[l] = kind
	}
	if tok := f.Strings("tokenizer.ggml.tokens"); len(tok) > 0 {
		h.Vocab = len(tok)
	}
	return h, nil
}

// checkVocab sets the vocabulary size from the embedding table and checks
// that the output projection (when not the embedding itself) gives as many
// logits.
func checkVocab(h *Hyper, emb, out *Weight) error {
	if emb == nil || len(emb.Info.Dims) != 2 || int(emb.Info.Dims[0]) != h.Dim {
		return fmt.Errorf("token_embd.weight shape does not match embedding_length %d", h.Dim)
	}
	if v := emb.Info.Dims[1]; v <= 0 || v > math.MaxInt32 {
		return fmt.Errorf("token_embd.weight: vocabulary of %d tokens", v)
	}
	h.Vocab = int(emb.Info.Dims[1])
	if out != nil && out != emb && (len(out.Info.Dims) != 2 || int(out.Info.Dims[1]) != h.Vocab) {
		return fmt.Errorf("tensor %q has dims %v, want [%d %d] (the vocabulary of token_embd.weight)",
			out.Info.Name, out.Info.Dims, h.Dim, h.Vocab)
	}
	return nil
}

func errMissing(layer int, what string) error {
	return fmt.Errorf("layer %d: tensor %s is missing", layer, what)
}
