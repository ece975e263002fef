package arch

import (
	"github.com/gomlx/gomlx/pkg/core/graph"

	"dayi/weights"
)

// llama: Llama 1/2/3, Mistral, Meditron, BioMistral, OpenBioLLM, HuatuoGPT-o1-8B.
// Pre-norm decoder, RMSNorm, rotary (normal order: llama.cpp's converter
// permutes Q/K so adjacent pairs rotate), GQA, SwiGLU feed-forward.
type llama struct {
	h          *Hyper
	TokEmbd    *Weight      `gguf:"token_embd.weight"`
	OutputNorm *Weight      `gguf:"output_norm.weight"`
	Output     *Weight      `gguf:"output.weight,optional"` // tied to token_embd when absent
	Blocks     []llamaBlock `gguf:"blk"`
}

type llamaBlock struct {
	AttnNorm *Weight `gguf:"attn_norm.weight"`
	Q        *Weight `gguf:"attn_q.weight"`
	K        *Weight `gguf:"attn_k.weight"`
	V        *Weight `gguf:"attn_v.weight"`
	O        *Weight `gguf:"attn_output.weight"`
	FFNNorm  *Weight `gguf:"ffn_norm.weight"`
	Gate     *Weight `gguf:"ffn_gate.weight"`
	Up       *Weight `gguf:"ffn_up.weight"`
	Down     *Weight `gguf:"ffn_down.weight"`
	// Biases appear in some llama-arch conversions; qwen2 always has q/k/v ones.
	QBias *Weight `gguf:"attn_q.bias,optional"`
	KBias *Weight `gguf:"attn_k.bias,optional"`
	VBias *Weight `gguf:"attn_v.bias,optional"`
	// Q/K RMS norms over each head (qwen3).
	QNorm *Weight `gguf:"attn_q_norm.weight,optional"`
	KNorm *Weight `gguf:"attn_k_norm.weight,optional"`
}

func llamaHyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	h.RopeType = RopeNorm
	return h, nil
}

func newLlama(h *Hyper) Model {
	return &llama{h: h, Blocks: make([]llamaBlock, h.Layers)}
}

func (m *llama) TokenEmbedding() *Weight { return m.TokEmbd }

func (m *llama) OutputWeights() (norm, output *Weight) {
	if m.Output == nil {
		return m.OutputNorm, m.TokEmbd
	}
	return m.OutputNorm, m.Output
}

func (m *llama) check() error {
	if err := checkVocab(m.h, m.TokEmbd); err != nil {
		return err
	}
	h := m.h
	for l := range m.Blocks {
		b := &m.Blocks[l]
		kvDim := int64(h.KVHeads[l] * h.HeadDim)
		for _, c := range []struct {
			w    *Weight
			dims []int64
		}{
			{b.Q, []int64{int64(h.Dim), int64(h.Heads * h.HeadDim)}},
			{b.K, []int64{int64(h.Dim), kvDim}},
			{b.V, []int64{int64(h.Dim), kvDim}},
			{b.O, []int64{int64(h.Heads * h.HeadDim), int64(h.Dim)}},
			{b.Gate, []int64{int64(h.Dim), int64(h.FFN)}},
			{b.Up, []int64{int64(h.Dim), int64(h.FFN)}},
			{b.Down, []int64{int64(h.FFN), int64(h.Dim)}},
		} {
			if err := expectDims(c.w, c.dims...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Forward is the llama decoder stack (llama.cpp src/models/llama.cpp).
func (m *llama) Forward(c *Ctx) *Node {
	h := m.h
	x := c.X
	for l := range m.Blocks {
		b := &m.Blocks[l]
		kv := h.KVHeads[l]
		n := c.RMSNorm(x, b.AttnNorm)
		q := HeadsView(c.LinearBias(n, b.Q, b.QBias), h.Heads, h.HeadDim)
		k := HeadsView(c.LinearBias(n, b.K, b.KBias), kv, h.HeadDim)
		v := HeadsView(c.LinearBias(n, b.V, b.VBias), kv, h.HeadDim)
		if b.QNorm != nil {
			q = c.RMSNorm(q, b.QNorm)
		}
		if b.KNorm != nil {
			k = c.RMSNorm(k, b.KNorm)
		}
		q = c.Rope(q, c.Cos, c.Sin)
		k = c.Rope(k, c.Cos, c.Sin)
		att := c.Attention(l, q, k, v, false)
		x = graph.Add(x, c.Linear(att, b.O))
		n = c.RMSNorm(x, b.FFNNorm)
		ff := graph.Mul(c.LinearSiLU(n, b.Gate), c.Linear(n, b.Up))
		x = graph.Add(x, c.Linear(ff, b.Down))
	}
	return x
}
