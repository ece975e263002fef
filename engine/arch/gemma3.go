package arch

import (
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"dayi/kernels"
	"dayi/weights"
)

// gemma3 (MedGemma): embeddings scaled by √dim, RMS norms before and after
// both attention and feed-forward, per-head Q/K norms, GeGLU, tied output, and
// five sliding-window layers (own rope base 10000, no rope scaling) for every
// global one (llama.cpp src/models/gemma3.cpp; swa pattern 6 from
// llama-model.cpp).
type gemma3 struct {
	h          *Hyper
	embedScale float32       // √dim
	TokEmbd    *Weight       `gguf:"token_embd.weight" dims:"dim,*"`
	OutputNorm *Weight       `gguf:"output_norm.weight" dims:"dim"`
	Output     *Weight       `gguf:"output.weight,alt:token_embd.weight" dims:"dim,*"`
	Blocks     []gemma3Block `gguf:"blk"`
}

type gemma3Block struct {
	AttnNorm     *Weight `gguf:"attn_norm.weight" dims:"dim"`
	Q            *Weight `gguf:"attn_q.weight" dims:"dim,q"`
	K            *Weight `gguf:"attn_k.weight" dims:"dim,kv"`
	V            *Weight `gguf:"attn_v.weight" dims:"dim,kv"`
	O            *Weight `gguf:"attn_output.weight" dims:"q,dim"`
	QNorm        *Weight `gguf:"attn_q_norm.weight" dims:"head"`
	KNorm        *Weight `gguf:"attn_k_norm.weight" dims:"head"`
	PostAttnNorm *Weight `gguf:"post_attention_norm.weight" dims:"dim"`
	FFNNorm      *Weight `gguf:"ffn_norm.weight" dims:"dim"`
	Gate         *Weight `gguf:"ffn_gate.weight" dims:"dim,ffn"`
	Up           *Weight `gguf:"ffn_up.weight" dims:"dim,ffn"`
	Down         *Weight `gguf:"ffn_down.weight" dims:"ffn,dim"`
	PostFFNNorm  *Weight `gguf:"post_ffw_norm.weight" dims:"dim"`
}

// gemma3SWAPattern: layer l is local unless (l+1) % 6 == 0.
const gemma3SWAPattern = 6

// gemma3LocalRopeBase is the rope base of the sliding-window layers when the
// file has no rope.freq_base_swa (Gemma 3's rope_local_base_freq; llama.cpp
// gemma3.cpp reads the key into rope_freq_base_train_swa).
const gemma3LocalRopeBase = 10000

func gemma3Hyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	h.RopeType = RopeNeoX
	// Sliding-window layers: their own rope (base 10000, no scaling, but
	// the context's YaRN parameters: WithBase) and a windowed view of the
	// cache; the others keep commonHyper's kind.
	if sw := int(f.Int(f.ArchKey("attention.sliding_window"), 0)); sw > 0 {
		base := float32(f.Float(f.ArchKey("rope.freq_base_swa"), gemma3LocalRopeBase))
		global := h.Ropes[h.Kinds[0].Rope]
		local := h.AddKind(global.WithBase(base, 1), Cache{Window: sw})
		for l := range h.Kinds {
			if l%gemma3SWAPattern < gemma3SWAPattern-1 {
				h.Kinds[l] = local
			}
		}
	}
	// llama.cpp (llama-model.cpp, LLM_ARCH_GEMMA3): f_attention_scale =
	// 1/sqrt(n_embd_head_k), except the 27B model (62 layers), whose
	// query_pre_attn_scalar is n_embd/n_head.
	h.AttnScale = float32(1 / math.Sqrt(float64(h.HeadDim)))
	if h.Layers == 62 {
		h.AttnScale = float32(1 / math.Sqrt(float64(h.Dim/h.Heads)))
	}
	return h, nil
}

func newGemma3(_ *weights.File, h *Hyper) (Model, error) {
	return &gemma3{h: h, embedScale: float32(math.Sqrt(float64(h.Dim))), Blocks: make([]gemma3Block, h.Layers)}, nil
}

func (m *gemma3) TokenEmbedding() *Weight { return m.TokEmbd }

func (m *gemma3) OutputWeights() (norm, output *Weight) { return m.OutputNorm, m.Output }

func (m *gemma3) check() error { return checkVocab(m.h, m.TokEmbd, m.Output) }

// AcceptsImages marks gemma3 as a family that reads a vision projector's
// soft tokens (MedGemma, Gemma 3 with a gemma3 mmproj): the engine refuses
// images on models without it.
func (m *gemma3) AcceptsImages() bool { return true }

// geglu is llama.cpp's fused GeGLU (ggml_geglu_split → ggml-cpu vec.h
// ggml_vec_geglu_f32 with GGML_GELU_FP16): gelu(x)·g where gelu is looked up
// in a table of f16 results indexed by the f16-rounded input, except that
// x ≤ -10 gives 0 and x ≥ 10 gives x·g. Looking the table up (one gather)
// is both exact and ~10x cheaper than evaluating the tanh formula around
// two f16 roundings per element (~30 % of a gemma3 prefill).
// table is geluTableConst's node, made once per graph.
func geglu(x, g, table *Node) *Node {
	gr := x.Graph()
	h := graph.Bitcast(graph.ConvertDType(x, dtypes.Float16), dtypes.Uint16)
	idx := graph.ExpandAxes(graph.ConvertDType(h, dtypes.Int32), -1)
	t := graph.Gather(table, idx)
	lo := graph.LessOrEqual(x, graph.Scalar(gr, x.DType(), -10))
	hi := graph.GreaterOrEqual(x, graph.Scalar(gr, x.DType(), 10))
	y := graph.Where(lo, graph.ZerosLike(x), graph.Where(hi, x, t))
	return graph.Mul(y, g)
}

// geluTableConst puts geluTable in graph g as one constant (built from a flat
// tensor: graph.Const's reflection walk over 65536 values took ~10 ms).
func geluTableConst(g *graph.Graph) *Node {
	return graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(slices.Clone(kernels.GeluF16Table()), 1<<16))
}

// Forward is the gemma3 decoder stack.
func (m *gemma3) Forward(c *Ctx) *Node {
	h := m.h
	x := c.X
	if !c.Embeddings {
		x = graph.MulScalar(c.X, float64(m.embedScale)) // token rows only (Ctx.Embeddings)
	}
	gelu := geluTableConst(c.G)
	for l := range m.Blocks {
		b := &m.Blocks[l]
		kv := h.KVHeads[l]
		n := c.RMSNorm(x, b.AttnNorm)
		q := c.RMSNorm(HeadsView(c.Linear(n, b.Q), h.Heads, h.HeadDim), b.QNorm)
		k := c.RMSNorm(HeadsView(c.Linear(n, b.K), kv, h.HeadDim), b.KNorm)
		v := HeadsView(c.Linear(n, b.V), kv, h.HeadDim)
		q = c.Rope(l, q)
		k = c.Rope(l, k)
		att := c.Attention(l, q, k, v)
		att = c.RMSNorm(c.Linear(att, b.O), b.PostAttnNorm)
		x = graph.Add(x, att)
		n = c.RMSNorm(x, b.FFNNorm)
		ff := c.Rows(n, func(n *Node) *Node { return c.Linear(c.GeGLU(n, b.Gate, b.Up, gelu), b.Down) })
		x = graph.Add(x, c.RMSNorm(ff, b.PostFFNNorm))
	}
	return x
}
