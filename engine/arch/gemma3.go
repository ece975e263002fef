package arch

import (
	"math"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"dayi/weights"
)

// gemma3 (MedGemma): embeddings scaled by √dim, RMS norms before and after
// both attention and feed-forward, per-head Q/K norms, GeGLU, tied output, and
// five sliding-window layers (own rope base 10000, no rope scaling) for every
// global one (llama.cpp src/models/gemma3.cpp; swa pattern 6 from
// llama-model.cpp).
type gemma3 struct {
	h          *Hyper
	TokEmbd    *Weight       `gguf:"token_embd.weight"`
	OutputNorm *Weight       `gguf:"output_norm.weight"`
	Output     *Weight       `gguf:"output.weight,optional"`
	Blocks     []gemma3Block `gguf:"blk"`
}

type gemma3Block struct {
	AttnNorm     *Weight `gguf:"attn_norm.weight"`
	Q            *Weight `gguf:"attn_q.weight"`
	K            *Weight `gguf:"attn_k.weight"`
	V            *Weight `gguf:"attn_v.weight"`
	O            *Weight `gguf:"attn_output.weight"`
	QNorm        *Weight `gguf:"attn_q_norm.weight"`
	KNorm        *Weight `gguf:"attn_k_norm.weight"`
	PostAttnNorm *Weight `gguf:"post_attention_norm.weight"`
	FFNNorm      *Weight `gguf:"ffn_norm.weight"`
	Gate         *Weight `gguf:"ffn_gate.weight"`
	Up           *Weight `gguf:"ffn_up.weight"`
	Down         *Weight `gguf:"ffn_down.weight"`
	PostFFNNorm  *Weight `gguf:"post_ffw_norm.weight"`
}

// gemma3SWAPattern: layer l is local unless (l+1) % 6 == 0.
const gemma3SWAPattern = 6

func gemma3Hyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	h.RopeType = RopeNeoX
	h.EmbedScale = float32(math.Sqrt(float64(h.Dim)))
	h.SlidingWindow = int(f.Int(f.ArchKey("attention.sliding_window"), 0))
	h.RopeBaseLocal = 10000
	for l := range h.LocalLayer {
		h.LocalLayer[l] = h.SlidingWindow > 0 && l%gemma3SWAPattern < gemma3SWAPattern-1
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

func newGemma3(h *Hyper) Model { return &gemma3{h: h, Blocks: make([]gemma3Block, h.Layers)} }

func (m *gemma3) TokenEmbedding() *Weight { return m.TokEmbd }

func (m *gemma3) OutputWeights() (norm, output *Weight) {
	if m.Output == nil {
		return m.OutputNorm, m.TokEmbd
	}
	return m.OutputNorm, m.Output
}

func (m *gemma3) check() error {
	if err := checkVocab(m.h, m.TokEmbd); err != nil {
		return err
	}
	h := m.h
	for l := range m.Blocks {
		b := &m.Blocks[l]
		if err := expectDims(b.Q, int64(h.Dim), int64(h.Heads*h.HeadDim)); err != nil {
			return err
		}
		if err := expectDims(b.QNorm, int64(h.HeadDim)); err != nil {
			return err
		}
	}
	return nil
}

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
	return graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(slices.Clone(geluTable()), 1<<16))
}

// geluTable is ggml_table_gelu_f16 as float32: for every f16 bit pattern i,
// f16(ggml_gelu_f32(f32(i))), where ggml_gelu_f32(x) = 0.5f·x·(1 +
// tanhf(SQRT_2_OVER_PI·x·(1 + GELU_COEF_A·x·x))) in float32, evaluated in
// C's left-to-right order (ggml-cpu vec.h; the table is filled in
// ggml_cpu_init). The explicit float32 conversions keep Go from fusing the
// products into FMAs.
var geluTable = sync.OnceValue(func() []float32 {
	const coefA, sqrt2OverPi = float32(0.044715), float32(0.79788456080286535587989211986876)
	t := make([]float32, 1<<16)
	for i := range t {
		x := weights.FP16ToFP32(uint16(i))
		inner := float32(float32(sqrt2OverPi*x) * float32(1+float32(float32(coefA*x)*x)))
		th := float32(math.Tanh(float64(inner)))
		y := float32(float32(0.5*x) * float32(1+th))
		t[i] = weights.FP16ToFP32(weights.FP32ToFP16(y))
	}
	return t
})

// Forward is the gemma3 decoder stack.
func (m *gemma3) Forward(c *Ctx) *Node {
	h := m.h
	x := graph.MulScalar(c.X, float64(h.EmbedScale))
	gelu := geluTableConst(c.G)
	for l := range m.Blocks {
		b := &m.Blocks[l]
		kv := h.KVHeads[l]
		local := h.LocalLayer[l]
		cos, sin := c.Cos, c.Sin
		if local && c.CosLocal != nil {
			cos, sin = c.CosLocal, c.SinLocal
		}
		n := c.RMSNorm(x, b.AttnNorm)
		q := c.RMSNorm(HeadsView(c.Linear(n, b.Q), h.Heads, h.HeadDim), b.QNorm)
		k := c.RMSNorm(HeadsView(c.Linear(n, b.K), kv, h.HeadDim), b.KNorm)
		v := HeadsView(c.Linear(n, b.V), kv, h.HeadDim)
		q = c.Rope(q, cos, sin)
		k = c.Rope(k, cos, sin)
		att := c.Attention(l, q, k, v, local)
		att = c.RMSNorm(c.Linear(att, b.O), b.PostAttnNorm)
		x = graph.Add(x, att)
		n = c.RMSNorm(x, b.FFNNorm)
		ff := geglu(c.Linear(n, b.Gate), c.Linear(n, b.Up), gelu)
		x = graph.Add(x, c.RMSNorm(c.Linear(ff, b.Down), b.PostFFNNorm))
	}
	return x
}
