package arch

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"dayi/weights"
)

// gemma2 (Gemma 2 and its medical fine-tunes): gemma3's block without the
// per-head Q/K norms, with soft-capped attention scores and logits
// (s ← cap·tanh(s/cap); caps 50 and 30 unless the file says otherwise) and
// sliding-window attention on every other layer (layers 0, 2, 4…; window
// 4096 unless the file says otherwise), one rope base for all layers. The
// output projection is the token embedding. Reference: llama.cpp
// src/models/gemma2.cpp (graph, hyper-parameters), llama-graph.cpp
// build_attn_mha (the soft-cap), llama-hparams.cpp set_swa_pattern.
type gemma2 struct {
	h                 *Hyper
	embedScale        float32 // √dim
	attnCap, finalCap float32
	TokEmbd           *Weight       `gguf:"token_embd.weight" dims:"dim,*"`
	OutputNorm        *Weight       `gguf:"output_norm.weight" dims:"dim"`
	Output            *Weight       `gguf:"output.weight,alt:token_embd.weight" dims:"dim,*"`
	Blocks            []gemma2Block `gguf:"blk"`
}

type gemma2Block struct {
	AttnNorm     *Weight `gguf:"attn_norm.weight" dims:"dim"`
	Q            *Weight `gguf:"attn_q.weight" dims:"dim,q"`
	K            *Weight `gguf:"attn_k.weight" dims:"dim,kv"`
	V            *Weight `gguf:"attn_v.weight" dims:"dim,kv"`
	O            *Weight `gguf:"attn_output.weight" dims:"q,dim"`
	PostAttnNorm *Weight `gguf:"post_attention_norm.weight" dims:"dim"`
	FFNNorm      *Weight `gguf:"ffn_norm.weight" dims:"dim"`
	Gate         *Weight `gguf:"ffn_gate.weight" dims:"dim,ffn"`
	Up           *Weight `gguf:"ffn_up.weight" dims:"dim,ffn"`
	Down         *Weight `gguf:"ffn_down.weight" dims:"ffn,dim"`
	PostFFNNorm  *Weight `gguf:"post_ffw_norm.weight" dims:"dim"`
}

// Gemma 2's defaults where a GGUF omits the keys (llama.cpp llama-hparams.h
// and gemma2.cpp load_arch_hparams).
const (
	gemma2Window     = 4096
	gemma2SWAPattern = 2
	gemma2AttnCap    = 50
	gemma2FinalCap   = 30
)

func gemma2Hyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	h.RopeType = RopeNeoX
	window := f.Int(f.ArchKey("attention.sliding_window"), gemma2Window)
	if window <= 0 || window > math.MaxInt32 {
		return nil, fmt.Errorf("metadata %s: sliding window %d", f.ArchKey("attention.sliding_window"), window)
	}
	patKey := f.ArchKey("attention.sliding_window_pattern")
	pattern := f.Int(patKey, gemma2SWAPattern)
	if f.Has(patKey) && f.Int(patKey, -1) < 0 {
		return nil, fmt.Errorf("metadata %s: only a layer period is supported", patKey)
	}
	// The sliding-window layers' rope: rope.freq_base_swa, else the global
	// one (llama.cpp: rope_freq_base_train_swa = rope_freq_base_train).
	global := h.Ropes[h.Kinds[0].Rope]
	local := global.WithBase(float32(f.Float(f.ArchKey("rope.freq_base_swa"), float64(global.Base))), global.Scale)
	swa := h.AddKind(local, Cache{Window: int(window)})
	for l := range h.Kinds {
		// set_swa_pattern: a layer slides unless it ends a period.
		if pattern == 0 || int64(l)%pattern < pattern-1 {
			h.Kinds[l] = swa
		}
	}
	// f_attention_scale: 1/√head_dim, except the 27B (46 layers), whose
	// query_pre_attn_scalar is dim/heads.
	h.AttnScale = float32(1 / math.Sqrt(float64(h.HeadDim)))
	if h.Layers == 46 {
		h.AttnScale = float32(1 / math.Sqrt(float64(h.Dim/h.Heads)))
	}
	return h, nil
}

// gemma2Caps reads the soft-caps; they divide, so they must be positive.
func gemma2Caps(f *weights.File) (attn, final float32, err error) {
	for _, c := range []struct {
		key string
		def float64
		dst *float32
	}{{"attn_logit_softcapping", gemma2AttnCap, &attn}, {"final_logit_softcapping", gemma2FinalCap, &final}} {
		v := f.Float(f.ArchKey(c.key), c.def)
		if !(v > 0 && v < math.MaxFloat32) {
			return 0, 0, fmt.Errorf("metadata %s: soft-cap %g must be positive", f.ArchKey(c.key), v)
		}
		*c.dst = float32(v)
	}
	return attn, final, nil
}

func newGemma2(f *weights.File, h *Hyper) (Model, error) {
	attnCap, finalCap, err := gemma2Caps(f)
	if err != nil {
		return nil, err
	}
	return &gemma2{h: h, embedScale: float32(math.Sqrt(float64(h.Dim))), attnCap: attnCap, finalCap: finalCap,
		Blocks: make([]gemma2Block, h.Layers)}, nil
}

func (m *gemma2) TokenEmbedding() *Weight { return m.TokEmbd }

func (m *gemma2) OutputWeights() (norm, output *Weight) { return m.OutputNorm, m.Output }

func (m *gemma2) check() error { return checkVocab(m.h, m.TokEmbd, m.Output) }

// finishLogits is the final soft-cap (gemma2.cpp: ggml_scale by 1/cap, tanh,
// ggml_scale by cap).
func (m *gemma2) finishLogits(c *Ctx, y *Node) *Node {
	return softcap(y, m.finalCap)
}

// softcap is cap·tanh(x·(1/cap)), 1/cap rounded to float32 as ggml_scale's.
func softcap(x *Node, limit float32) *Node {
	return graph.MulScalar(graph.Tanh(graph.MulScalar(x, float64(1/limit))), float64(limit))
}

// Forward is the gemma2 decoder stack.
func (m *gemma2) Forward(c *Ctx) *Node {
	h := m.h
	x := graph.MulScalar(c.X, float64(m.embedScale))
	gelu := geluTableConst(c.G)
	for l := range m.Blocks {
		b := &m.Blocks[l]
		kv := h.KVHeads[l]
		n := c.RMSNorm(x, b.AttnNorm)
		q := HeadsView(c.Linear(n, b.Q), h.Heads, h.HeadDim)
		k := HeadsView(c.Linear(n, b.K), kv, h.HeadDim)
		v := HeadsView(c.Linear(n, b.V), kv, h.HeadDim)
		q = c.Rope(l, q)
		k = c.Rope(l, k)
		att := m.attention(c, l, q, k, v)
		sa := graph.Add(c.RMSNorm(c.Linear(att, b.O), b.PostAttnNorm), x)
		n = c.RMSNorm(sa, b.FFNNorm)
		ff := c.Rows(n, func(n *Node) *Node { return c.Linear(c.GeGLU(n, b.Gate, b.Up, gelu), b.Down) })
		x = graph.Add(c.RMSNorm(ff, b.PostFFNNorm), sa)
	}
	return x
}

// attention is Ctx.Attention with the scores soft-capped before the
// softmax. As llama.cpp's gemma2 graph, the queries are scaled by AttnScale
// before the product (ggml_scale of Q, then build_attn with kq_scale 1:
// kq·(1/cap), tanh, ·cap, soft_max_ext with the mask).
//
// The fused attention op has no soft-cap, so this one is made of graph ops
// and reads every cache cell, masked ones too: O(context) per token and
// layer rather than O(position). A soft-cap option in the backend's
// attention kernel would remove that cost.
func (m *gemma2) attention(c *Ctx, layer int, q, k, v *Node) *Node {
	H, D := c.H.Heads, c.H.HeadDim
	kv := c.H.KVHeads[layer]
	G := H / kv
	q = graph.MulScalar(q, float64(c.H.AttnScale))
	return c.attend(layer, q, k, v, func(q4, kc, vc, mask *Node, rows int) *Node {
		S := kc.Shape().Dimensions[1]
		f32 := dtypes.Float32
		kf := graph.Reshape(graph.ConvertDType(kc, f32), S, kv, D)
		vf := graph.Reshape(graph.ConvertDType(vc, f32), S, kv, D)
		// Query head h reads KV head h/G (ggml_mul_mat's broadcast).
		qg := graph.Reshape(q4, rows, kv, G, D)
		// [rows, kv, G, D]·[S, kv, D] → [kv, rows, G, S]
		s := softcap(graph.DotGeneral(qg, []int{3}, []int{1}, kf, []int{2}, []int{1}), m.attnCap)
		see := graph.BroadcastToDims(graph.Reshape(mask, 1, rows, 1, S), kv, rows, G, S)
		p := graph.Softmax(graph.Where(see, s, graph.Infinity(c.G, f32, -1)), -1)
		// [kv, rows, G, S]·[S, kv, D] → [kv, rows, G, D]
		o := graph.DotGeneral(p, []int{3}, []int{0}, vf, []int{0}, []int{1})
		return graph.Reshape(graph.TransposeAllDims(o, 1, 0, 2, 3), rows, H*D)
	})
}
