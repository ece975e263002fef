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
	TokEmbd    *Weight      `gguf:"token_embd.weight" dims:"dim,*"`
	OutputNorm *Weight      `gguf:"output_norm.weight" dims:"dim"`
	Output     *Weight      `gguf:"output.weight,alt:token_embd.weight" dims:"dim,*"` // tied when absent
	Blocks     []llamaBlock `gguf:"blk"`
}

type llamaBlock struct {
	AttnNorm *Weight `gguf:"attn_norm.weight" dims:"dim"`
	Q        *Weight `gguf:"attn_q.weight" dims:"dim,q"`
	K        *Weight `gguf:"attn_k.weight" dims:"dim,kv"`
	V        *Weight `gguf:"attn_v.weight" dims:"dim,kv"`
	O        *Weight `gguf:"attn_output.weight" dims:"q,dim"`
	FFNNorm  *Weight `gguf:"ffn_norm.weight" dims:"dim"`
	Gate     *Weight `gguf:"ffn_gate.weight" dims:"dim,ffn"`
	Up       *Weight `gguf:"ffn_up.weight" dims:"dim,ffn"`
	Down     *Weight `gguf:"ffn_down.weight" dims:"ffn,dim"`
	// Biases appear in some llama-arch conversions; qwen2 always has q/k/v ones.
	QBias *Weight `gguf:"attn_q.bias,optional" dims:"q"`
	KBias *Weight `gguf:"attn_k.bias,optional" dims:"kv"`
	VBias *Weight `gguf:"attn_v.bias,optional" dims:"kv"`
	// Q/K RMS norms over each head (qwen3).
	QNorm *Weight `gguf:"attn_q_norm.weight,optional" dims:"head"`
	KNorm *Weight `gguf:"attn_k_norm.weight,optional" dims:"head"`
}

func llamaHyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	h.RopeType = RopeNorm
	return h, nil
}

func newLlama(_ *weights.File, h *Hyper) (Model, error) {
	return &llama{h: h, Blocks: make([]llamaBlock, h.Layers)}, nil
}

func (m *llama) TokenEmbedding() *Weight { return m.TokEmbd }

func (m *llama) OutputWeights() (norm, output *Weight) { return m.OutputNorm, m.Output }

// check: shapes are checked by the dims tags as the tensors are bound; the
// vocabulary size comes from the embedding.
func (m *llama) check() error { return checkVocab(m.h, m.TokEmbd, m.Output) }

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
		q = c.Rope(l, q)
		k = c.Rope(l, k)
		att := c.Attention(l, q, k, v)
		x = graph.Add(x, c.Linear(att, b.O))
		n = c.RMSNorm(x, b.FFNNorm)
		ff := c.Rows(n, func(n *Node) *Node { return c.Linear(graph.Mul(c.LinearSiLU(n, b.Gate), c.Linear(n, b.Up)), b.Down) })
		x = graph.Add(x, ff)
	}
	return x
}
