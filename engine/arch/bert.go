package arch

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"

	"dayi/weights"
)

// bert: the BERT encoders retrieval uses (bge-small/large, mxbai-embed, bge
// rerankers). Learned token, token-type and position embeddings, a
// LayerNorm over them, then post-LayerNorm blocks: bidirectional attention
// with biases, residual, LayerNorm; GELU feed-forward with biases, residual,
// LayerNorm. No output head: the engine pools the last hidden states
// (mean, CLS, last) or, for a reranker (rank pooling), runs the classifier
// head on the CLS row. Reference: llama.cpp src/models/bert.cpp (graph),
// llama-model.cpp (LLM_ARCH_BERT hyper-parameters and tensors),
// llama-graph.cpp build_pooling.
//
// The position and token-type embeddings are added to the token embedding
// on the host, as the engine looks the token row up (they are rows of a
// table indexed by position, not matrices the graph multiplies): see
// InputEmbeddings. Token types are all 0, as llama.cpp hardcodes them
// ("Sentence A"), even for a reranker's query/document pair.
type bert struct {
	h        *Hyper
	pos, typ *weights.TensorInfo
	cls      Classifier

	TokEmbd  *Weight     `gguf:"token_embd.weight" dims:"dim,*"`
	TokNorm  *Weight     `gguf:"token_embd_norm.weight" dims:"dim"`
	TokNormB *Weight     `gguf:"token_embd_norm.bias" dims:"dim"`
	Blocks   []bertBlock `gguf:"blk"`
}

type bertBlock struct {
	Q          *Weight `gguf:"attn_q.weight" dims:"dim,q"`
	QBias      *Weight `gguf:"attn_q.bias,optional" dims:"q"`
	K          *Weight `gguf:"attn_k.weight" dims:"dim,kv"`
	KBias      *Weight `gguf:"attn_k.bias,optional" dims:"kv"`
	V          *Weight `gguf:"attn_v.weight" dims:"dim,kv"`
	VBias      *Weight `gguf:"attn_v.bias,optional" dims:"kv"`
	O          *Weight `gguf:"attn_output.weight" dims:"q,dim"`
	OBias      *Weight `gguf:"attn_output.bias,optional" dims:"dim"`
	AttnNorm   *Weight `gguf:"attn_output_norm.weight" dims:"dim"`
	AttnNormB  *Weight `gguf:"attn_output_norm.bias" dims:"dim"`
	Up         *Weight `gguf:"ffn_up.weight" dims:"dim,ffn"`
	UpBias     *Weight `gguf:"ffn_up.bias,optional" dims:"ffn"`
	Down       *Weight `gguf:"ffn_down.weight" dims:"ffn,dim"`
	DownBias   *Weight `gguf:"ffn_down.bias,optional" dims:"dim"`
	LayerNorm  *Weight `gguf:"layer_output_norm.weight" dims:"dim"`
	LayerNormB *Weight `gguf:"layer_output_norm.bias" dims:"dim"`
}

// Classifier is a reranker's head (llama.cpp's cls, cls_b, cls_out,
// cls_out_b): score = Out·tanh(W·h_CLS + B) + OutB. W and B may be absent
// (jina-reranker-v1-tiny has only the output layer); Out is nil when the
// model has no head at all.
type Classifier struct {
	W, B, Out, OutB *weights.TensorInfo
}

// InputEmbeddings is implemented by architectures whose input rows add
// learned embeddings to the token's: Position's row p (nil: none) at
// position p and TokenType's row 0 (nil: none). The engine adds them on the
// host as tok + type, then + position (bert.cpp's order).
type InputEmbeddings interface {
	PositionEmbedding() *weights.TensorInfo
	TokenTypeEmbedding() *weights.TensorInfo
}

// Encoder is implemented by architectures that embed rather than generate:
// every row attends to every row of its text, so a text is evaluated in one
// step, and the classifier head (if any) serves rank pooling.
type Encoder interface {
	Classifier() Classifier
}

func bertHyper(f *weights.File) (*Hyper, error) {
	h, err := commonHyper(f)
	if err != nil {
		return nil, err
	}
	eps := f.Float(f.ArchKey("attention.layer_norm_epsilon"), 1e-12)
	if !(eps > 0 && eps < 1) {
		return nil, fmt.Errorf("metadata %s: %g", f.ArchKey("attention.layer_norm_epsilon"), eps)
	}
	h.NormEps = float32(eps)
	if f.Bool(f.ArchKey("attention.causal"), false) {
		return nil, fmt.Errorf("metadata %s is true: a causal bert is not supported", f.ArchKey("attention.causal"))
	}
	// commonHyper declared one causal cache view for every layer; an
	// encoder's is bidirectional.
	h.Caches[0].Bidirectional = true
	return h, nil
}

func newBert(f *weights.File, h *Hyper) (Model, error) {
	m := &bert{h: h, Blocks: make([]bertBlock, h.Layers)}
	var ok bool
	if m.pos, ok = f.Tensor("position_embd.weight"); !ok {
		return nil, fmt.Errorf("tensor %q is missing", "position_embd.weight")
	}
	// The table must cover every position the engine may feed.
	if len(m.pos.Dims) != 2 || int(m.pos.Dims[0]) != h.Dim || m.pos.Dims[1] < int64(h.ContextLength) {
		return nil, fmt.Errorf("tensor %q has dims %v, want [%d ≥%d]", m.pos.Name, m.pos.Dims, h.Dim, h.ContextLength)
	}
	if m.typ, ok = f.Tensor("token_types.weight"); ok {
		if len(m.typ.Dims) != 2 || int(m.typ.Dims[0]) != h.Dim || m.typ.Dims[1] < 1 {
			return nil, fmt.Errorf("tensor %q has dims %v, want [%d n_types]", m.typ.Name, m.typ.Dims, h.Dim)
		}
	}
	for _, t := range []struct {
		name string
		dst  **weights.TensorInfo
		dims func(*weights.TensorInfo) bool
	}{
		{"cls.weight", &m.cls.W, func(t *weights.TensorInfo) bool {
			return len(t.Dims) == 2 && int(t.Dims[0]) == h.Dim && int(t.Dims[1]) == h.Dim
		}},
		{"cls.bias", &m.cls.B, func(t *weights.TensorInfo) bool { return len(t.Dims) == 1 && int(t.Dims[0]) == h.Dim }},
		{"cls.output.weight", &m.cls.Out, func(t *weights.TensorInfo) bool {
			return len(t.Dims) == 2 && int(t.Dims[0]) == h.Dim && t.Dims[1] >= 1 && t.Dims[1] <= 1024
		}},
		{"cls.output.bias", &m.cls.OutB, func(t *weights.TensorInfo) bool { return len(t.Dims) == 1 }},
	} {
		info, ok := f.Tensor(t.name)
		if !ok {
			continue
		}
		if !t.dims(info) {
			return nil, fmt.Errorf("tensor %q has dims %v, which do not fit embedding_length %d", t.name, info.Dims, h.Dim)
		}
		*t.dst = info
	}
	c := m.cls
	if c.B != nil && c.W == nil || c.OutB != nil && (c.Out == nil || c.OutB.Dims[0] != c.Out.Dims[1]) {
		return nil, fmt.Errorf("classifier head: a bias without its weight, or of the wrong size")
	}
	return m, nil
}

func (m *bert) TokenEmbedding() *Weight { return m.TokEmbd }

// OutputWeights: an encoder has no final norm and no output projection.
func (m *bert) OutputWeights() (norm, output *Weight) { return nil, nil }

func (m *bert) check() error { return checkVocab(m.h, m.TokEmbd, nil) }

func (m *bert) PositionEmbedding() *weights.TensorInfo  { return m.pos }
func (m *bert) TokenTypeEmbedding() *weights.TensorInfo { return m.typ }
func (m *bert) Classifier() Classifier                  { return m.cls }

// Forward is bert.cpp's encoder stack on the summed input embeddings.
func (m *bert) Forward(c *Ctx) *Node {
	h := m.h
	gelu := geluTableConst(c.G)
	x := layerNorm(c, c.X, m.TokNorm, m.TokNormB)
	for l := range m.Blocks {
		b := &m.Blocks[l]
		kv := h.KVHeads[l]
		q := HeadsView(c.LinearBias(x, b.Q, b.QBias), h.Heads, h.HeadDim)
		k := HeadsView(c.LinearBias(x, b.K, b.KBias), kv, h.HeadDim)
		v := HeadsView(c.LinearBias(x, b.V, b.VBias), kv, h.HeadDim)
		att := c.Attention(l, q, k, v) // the cache view is bidirectional
		cur := graph.Add(c.LinearBias(att, b.O, b.OBias), x)
		cur = layerNorm(c, cur, b.AttnNorm, b.AttnNormB)
		ff := c.LinearBias(geluF16(c.LinearBias(cur, b.Up, b.UpBias), gelu), b.Down, b.DownBias)
		x = layerNorm(c, graph.Add(ff, cur), b.LayerNorm, b.LayerNormB)
	}
	return x
}

// layerNorm is ggml_norm then mul and add (llama.cpp build_norm with
// LLM_NORM), numerically as ggml_compute_forward_norm_f32: the sum of x is
// accumulated in double and the mean rounded to float; the centred values
// are float; their squares are summed in double and the variance rounded to
// float; the scale is 1.0f/sqrtf(variance + eps).
func layerNorm(c *Ctx, x *Node, w, b *Weight) *Node {
	last := x.Rank() - 1
	n := float64(x.Shape().Dimensions[last])
	f64 := dtypes.Float64
	sum := graph.ReduceAndKeep(graph.ConvertDType(x, f64), graph.ReduceSum, last)
	mean := graph.ConvertDType(graph.DivScalar(sum, n), dtypes.Float32)
	y := graph.Sub(x, mean)
	sq := graph.ReduceAndKeep(graph.ConvertDType(graph.Mul(y, y), f64), graph.ReduceSum, last)
	variance := graph.ConvertDType(graph.DivScalar(sq, n), dtypes.Float32)
	scale := graph.Reciprocal(graph.Sqrt(graph.AddScalar(variance, float64(c.H.NormEps))))
	y = graph.Mul(y, scale)
	if w != nil {
		y = graph.Mul(y, graph.ExpandLeftToRank(w.Node, y.Rank()))
	}
	if b != nil {
		y = graph.Add(y, graph.ExpandLeftToRank(b.Node, y.Rank()))
	}
	return y
}

// geluF16 is ggml_gelu on the CPU (ggml-cpu vec.h ggml_vec_gelu_f32 with
// GGML_GELU_FP16): the f16 table geglu also reads, indexed by the
// f16-rounded input, except x ≤ -10 gives 0 and x ≥ 10 gives x.
func geluF16(x, table *Node) *Node {
	gr := x.Graph()
	hbits := graph.Bitcast(graph.ConvertDType(x, dtypes.Float16), dtypes.Uint16)
	t := graph.Gather(table, graph.ExpandAxes(graph.ConvertDType(hbits, dtypes.Int32), -1))
	lo := graph.LessOrEqual(x, graph.Scalar(gr, x.DType(), -10))
	hi := graph.GreaterOrEqual(x, graph.Scalar(gr, x.DType(), 10))
	return graph.Where(lo, graph.ZerosLike(x), graph.Where(hi, x, t))
}

// Classify runs a classifier head on one pooled row h (dequantized weights
// from load: w [dim·dim], b [dim], out [labels·dim], outB [labels]) as
// llama-graph.cpp build_pooling's LLAMA_POOLING_TYPE_RANK: tanh(w·h + b),
// then out·that + outB. Sums are float64 (ggml's f32 dot products differ
// by float32 rounding only).
func Classify(h, w, b, out, outB []float32, labels int) []float32 {
	x := h
	dim := len(h)
	if w != nil {
		y := make([]float32, dim)
		for i := range y {
			var s float64
			for j, v := range h {
				s += float64(w[i*dim+j]) * float64(v)
			}
			y[i] = float32(s)
			if b != nil {
				y[i] += b[i]
			}
			y[i] = float32(math.Tanh(float64(y[i])))
		}
		x = y
	}
	if out == nil {
		return x
	}
	res := make([]float32, labels)
	for k := range res {
		var s float64
		for j, v := range x {
			s += float64(out[k*dim+j]) * float64(v)
		}
		res[k] = float32(s)
		if outB != nil {
			res[k] += outB[k]
		}
	}
	return res
}
