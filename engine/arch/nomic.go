package arch

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"dayi/weights"
)

// nomicBert: nomic-embed-text's encoders, nomic-bert (v1/v1.5) and
// nomic-bert-moe (v2). bert's post-LayerNorm blocks (see bert.go) with
// three changes: no position table, rotary positions on Q and K instead
// (ggml's NeoX layout); one fused QKV projection; and the feed-forward
// is SwiGLU without biases (nomic-bert), or, in nomic-bert-moe, a GELU
// feed-forward with biases where every moe_every_n_layers-th layer
// (layer l with l % n == 1) is a mixture of GELU experts with softmax
// gating, the top expert_used_count weighted by their (not renormalised)
// probabilities. Reference: llama.cpp src/models/bert.cpp (the graph it
// shares with bert), llama-model.cpp's LLM_ARCH_NOMIC_BERT(_MOE)
// hyper-parameters and tensors, llama-graph.cpp build_moe_ffn.
type nomicBert struct {
	h        *Hyper
	typ      *weights.TensorInfo
	moeEvery int // 0: no MoE layers
	experts  int
	used     int

	TokEmbd  *Weight      `gguf:"token_embd.weight" dims:"dim,*"`
	TokNorm  *Weight      `gguf:"token_embd_norm.weight" dims:"dim"`
	TokNormB *Weight      `gguf:"token_embd_norm.bias" dims:"dim"`
	Blocks   []nomicBlock `gguf:"blk"`
}

type nomicBlock struct {
	QKV        *Weight `gguf:"attn_qkv.weight" dims:"dim,*"`
	QKVBias    *Weight `gguf:"attn_qkv.bias,optional" dims:"*"`
	O          *Weight `gguf:"attn_output.weight" dims:"q,dim"`
	OBias      *Weight `gguf:"attn_output.bias,optional" dims:"dim"`
	AttnNorm   *Weight `gguf:"attn_output_norm.weight" dims:"dim"`
	AttnNormB  *Weight `gguf:"attn_output_norm.bias" dims:"dim"`
	Gate       *Weight `gguf:"ffn_gate.weight,optional" dims:"dim,ffn"`
	Up         *Weight `gguf:"ffn_up.weight,optional" dims:"dim,ffn"`
	UpBias     *Weight `gguf:"ffn_up.bias,optional" dims:"ffn"`
	Down       *Weight `gguf:"ffn_down.weight,optional" dims:"ffn,dim"`
	DownBias   *Weight `gguf:"ffn_down.bias,optional" dims:"dim"`
	GateInp    *Weight `gguf:"ffn_gate_inp.weight,optional" dims:"dim,*"`
	UpExps     *Weight `gguf:"ffn_up_exps.weight,optional" dims:"dim,ffn,*"`
	DownExps   *Weight `gguf:"ffn_down_exps.weight,optional" dims:"ffn,dim,*"`
	LayerNorm  *Weight `gguf:"layer_output_norm.weight" dims:"dim"`
	LayerNormB *Weight `gguf:"layer_output_norm.bias" dims:"dim"`
}

func nomicHyper(f *weights.File) (*Hyper, error) {
	h, err := bertHyper(f)
	if err != nil {
		return nil, err
	}
	// llama_model_rope_type: the nomic encoders rotate halves (NeoX).
	h.RopeType = RopeNeoX
	return h, nil
}

func newNomicBert(f *weights.File, h *Hyper) (Model, error) {
	m := &nomicBert{h: h, Blocks: make([]nomicBlock, h.Layers)}
	if t, ok := f.Tensor("token_types.weight"); ok {
		if len(t.Dims) != 2 || int(t.Dims[0]) != h.Dim || t.Dims[1] < 1 {
			return nil, fmt.Errorf("tensor %q has dims %v, want [%d n_types]", t.Name, t.Dims, h.Dim)
		}
		m.typ = t
	}
	if h.Arch == "nomic-bert-moe" {
		every := f.Int(f.ArchKey("moe_every_n_layers"), 0)
		if every < 0 || every > int64(h.Layers) {
			return nil, fmt.Errorf("metadata %s: %d", f.ArchKey("moe_every_n_layers"), every)
		}
		m.moeEvery = int(every)
		if m.moeEvery > 0 {
			n := f.Int(f.ArchKey("expert_count"), 0)
			k := f.Int(f.ArchKey("expert_used_count"), 0)
			// Bounded: the graph evaluates every expert (see moe).
			if n < 1 || n > 256 || k < 1 || k > n {
				return nil, fmt.Errorf("metadata %s %d, %s %d: want 1 ≤ used ≤ count ≤ 256",
					f.ArchKey("expert_count"), n, f.ArchKey("expert_used_count"), k)
			}
			m.experts, m.used = int(n), int(k)
		}
	}
	return m, nil
}

func (m *nomicBert) isMoE(l int) bool { return m.moeEvery > 0 && l%m.moeEvery == 1 }

// check: the fused QKV's and the experts' sizes (the dims tags leave them
// open), and that each layer has the feed-forward its kind needs.
func (m *nomicBert) check() error {
	h := m.h
	for l := range m.Blocks {
		b := &m.Blocks[l]
		qkv := int64(h.Heads*h.HeadDim + 2*h.KVHeads[l]*h.HeadDim)
		if b.QKV.Info.Dims[1] != qkv {
			return fmt.Errorf("tensor %q has %d columns, want %d (q, k, v)", b.QKV.Info.Name, b.QKV.Info.Dims[1], qkv)
		}
		if b.QKVBias != nil && (len(b.QKVBias.Info.Dims) != 1 || b.QKVBias.Info.Dims[0] != qkv) {
			return fmt.Errorf("tensor %q has dims %v, want [%d]", b.QKVBias.Info.Name, b.QKVBias.Info.Dims, qkv)
		}
		if m.isMoE(l) {
			for _, w := range []*Weight{b.GateInp, b.UpExps, b.DownExps} {
				if w == nil {
					return errMissing(l, "MoE tensors ffn_gate_inp, ffn_up_exps, ffn_down_exps")
				}
				if n := w.Info.Dims[len(w.Info.Dims)-1]; n != int64(m.experts) {
					return fmt.Errorf("tensor %q has %d experts, metadata says %d", w.Info.Name, n, m.experts)
				}
			}
			continue
		}
		if b.Up == nil || b.Down == nil {
			return errMissing(l, "ffn_up and ffn_down")
		}
		if h.Arch == "nomic-bert" && b.Gate == nil {
			return errMissing(l, "ffn_gate (SwiGLU)")
		}
	}
	return checkVocab(h, m.TokEmbd, nil)
}

func (m *nomicBert) TokenEmbedding() *Weight                 { return m.TokEmbd }
func (m *nomicBert) OutputWeights() (norm, output *Weight)   { return nil, nil }
func (m *nomicBert) PositionEmbedding() *weights.TensorInfo  { return nil }
func (m *nomicBert) TokenTypeEmbedding() *weights.TensorInfo { return m.typ }
func (m *nomicBert) Classifier() Classifier                  { return Classifier{} }

// Forward is bert.cpp's encoder stack for the nomic architectures.
func (m *nomicBert) Forward(c *Ctx) *Node {
	h := m.h
	gelu := geluTableConst(c.G)
	x := layerNorm(c, c.X, m.TokNorm, m.TokNormB)
	nq := h.Heads * h.HeadDim
	for l := range m.Blocks {
		b := &m.Blocks[l]
		nkv := h.KVHeads[l] * h.HeadDim
		qkv := c.LinearBias(x, b.QKV, b.QKVBias)
		q := HeadsView(graph.SliceAxis(qkv, 1, graph.AxisRange(0, nq)), h.Heads, h.HeadDim)
		k := HeadsView(graph.SliceAxis(qkv, 1, graph.AxisRange(nq, nq+nkv)), h.KVHeads[l], h.HeadDim)
		v := HeadsView(graph.SliceAxis(qkv, 1, graph.AxisRange(nq+nkv, nq+2*nkv)), h.KVHeads[l], h.HeadDim)
		q, k = c.Rope(l, q), c.Rope(l, k)
		att := c.Attention(l, q, k, v)
		cur := layerNorm(c, graph.Add(c.LinearBias(att, b.O, b.OBias), x), b.AttnNorm, b.AttnNormB)
		var ff *Node
		switch {
		case m.isMoE(l):
			ff = m.moe(c, cur, b, gelu)
		case b.Gate != nil: // SwiGLU: silu(gate·x) ⊙ up·x (LLM_FFN_SILU, LLM_FFN_PAR)
			ff = c.Linear(graph.Mul(c.LinearSiLU(cur, b.Gate), c.LinearBias(cur, b.Up, b.UpBias)), b.Down)
			if b.DownBias != nil {
				ff = graph.Add(ff, graph.ExpandLeftToRank(b.DownBias.Node, ff.Rank()))
			}
		default: // GELU, sequential (bert's)
			ff = c.LinearBias(geluF16(c.LinearBias(cur, b.Up, b.UpBias), gelu), b.Down, b.DownBias)
		}
		x = layerNorm(c, graph.Add(ff, cur), b.LayerNorm, b.LayerNormB)
	}
	return x
}

// moe is build_moe_ffn with softmax gating, GELU experts without gate
// projections, and the selected experts' probabilities as weights (not
// renormalised, no scale): out = Σ_{e in top-k} p_e · down_e(gelu(up_e·x)).
// Every expert is evaluated on every row and the unselected ones weighted
// by 0: one matmul per projection over the expert-major rows of the
// [n_expert·ffn, dim] and [n_expert·dim, ffn] tables, which suits the
// small batches of an encoder. The down projection of the rows of expert e
// gives the outputs of every expert's table; the block diagonal (expert
// e's rows through expert e's table) is kept.
func (m *nomicBert) moe(c *Ctx, x *Node, b *nomicBlock, gelu *Node) *Node {
	T := c.T()
	E, F, D := m.experts, m.h.FFN, m.h.Dim
	g := x.Graph()
	logits := c.Linear(x, b.GateInp) // [T, E]
	probs := graph.Softmax(logits, -1)
	// Top-k: k rounds of argmax, each masking the chosen expert out.
	sel := graph.ZerosLike(probs)
	rest := probs
	negInf := graph.Scalar(g, probs.DType(), math.Inf(-1))
	for range m.used {
		idx := graph.ArgMax(rest, -1, dtypes.Int32)
		oh := graph.OneHot(idx, E, probs.DType())
		sel = graph.Add(sel, oh)
		rest = graph.Where(graph.GreaterThan(oh, graph.ZerosLike(oh)), graph.BroadcastToShape(negInf, rest.Shape()), rest)
	}
	w := graph.Mul(probs, sel)                 // [T, E]
	up := geluF16(c.Linear(x, b.UpExps), gelu) // [T, E·F]
	up = graph.Mul(graph.Reshape(up, T, E, F), graph.Reshape(w, T, E, 1))
	down := c.Linear(graph.Reshape(up, T*E, F), b.DownExps) // [T·E, E·D]
	down = graph.Reshape(down, T, E, E, D)
	diag := graph.Reshape(graph.ConvertDType(graph.Equal(graph.Iota(g, shapes.Make(dtypes.Int32, E, E), 0),
		graph.Iota(g, shapes.Make(dtypes.Int32, E, E), 1)), probs.DType()), 1, E, E, 1)
	return graph.ReduceSum(graph.Mul(down, diag), 1, 2)
}
