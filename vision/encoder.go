package vision

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"dayi/engine/arch"
	"dayi/weights"
)

// byteBufferer is implemented by backends that wrap existing memory (the
// mapped GGUF tensors) as buffers: dayi's own. Their matrices stay in their
// GGUF type and run through the fused quantized dense kernels, as the
// language model's do; on other backends they are dequantized to f32.
type byteBufferer interface {
	BufferFromBytes(data []byte, shape shapes.Shape) (backends.Buffer, error)
}

type block struct {
	ln1W, ln1B, ln2W, ln2B *arch.Weight
	q, qB, k, kB, v, vB    *arch.Weight
	o, oB                  *arch.Weight
	up, upB, down, downB   *arch.Weight
}

// Encoder is a loaded gemma3 projector: the SigLIP tower and the
// projection into the language model's embedding space, compiled once for
// the file's image size. Safe for concurrent use (runs are serialised).
type Encoder struct {
	H        *Hyper
	f        *weights.File
	be       backends.Backend
	portable bool
	runMu    sync.Locker

	patchW, patchB, pos *arch.Weight
	blocks              []block
	postW, postB        *arch.Weight
	softNorm, proj      *arch.Weight

	list []*arch.Weight
	bufs []backends.Buffer
	// owned keeps the host copies the buffers wrap (the transposed
	// projection, dequantized tables) alive as long as the Encoder.
	owned [][]byte

	mu sync.Mutex
	g  *graph.Graph
}

// New loads the projector in f onto be. runMu, when not nil, is held while
// the encoder's graph runs: the language model's lock, since dayi's backend
// runs one graph's kernels at a time. f must outlive the Encoder.
func New(f *weights.File, be backends.Backend, runMu sync.Locker) (*Encoder, error) {
	h, err := ReadHyper(f)
	if err != nil {
		return nil, err
	}
	if runMu == nil {
		runMu = &sync.Mutex{}
	}
	_, zeroCopy := be.(byteBufferer)
	e := &Encoder{H: h, f: f, be: be, portable: !zeroCopy, runMu: runMu}
	if err := e.bind(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return e, nil
}

// tensor looks up name and checks its ggml dims.
func (e *Encoder) tensor(name string, required bool, dims ...int64) (*weights.TensorInfo, error) {
	t, ok := e.f.Tensor(name)
	if !ok {
		if required {
			return nil, fmt.Errorf("missing tensor %s", name)
		}
		return nil, nil
	}
	same := len(t.Dims) == len(dims)
	for i := 0; same && i < len(dims); i++ {
		same = t.Dims[i] == dims[i]
	}
	if !same {
		return nil, fmt.Errorf("tensor %s has dims %v, want %v", name, t.Dims, dims)
	}
	if _, err := t.Type.RowSize(t.Dims[0]); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return t, nil
}

func (e *Encoder) bind() error {
	h := e.H
	E, F, p := int64(h.Dim), int64(h.FFN), int64(h.PatchSize)
	N := int64(h.PatchesPerSide() * h.PatchesPerSide())
	var firstErr error
	vec := func(name string, n int64, required bool) *arch.Weight {
		if firstErr != nil {
			return nil
		}
		t, err := e.tensor(name, required, n)
		if err != nil {
			firstErr = err
			return nil
		}
		if t == nil {
			return nil
		}
		return e.addVector(t, &firstErr)
	}
	mat := func(name string, in, out int64) *arch.Weight {
		if firstErr != nil {
			return nil
		}
		t, err := e.tensor(name, true, in, out)
		if err != nil {
			firstErr = err
			return nil
		}
		return e.addMatrix(t, out, in, &firstErr)
	}
	// Patch embedding: a p×p×3 convolution with stride p, i.e. one matrix
	// of E rows of 3·p·p values (ggml dims [p, p, 3, E]).
	if t, err := e.tensor("v.patch_embd.weight", true, p, p, 3, E); err != nil {
		return err
	} else {
		e.patchW = e.addMatrix(t, E, 3*p*p, &firstErr)
	}
	e.patchB = vec("v.patch_embd.bias", E, false)
	if t, err := e.tensor("v.position_embd.weight", true, E, N); err != nil {
		return err
	} else {
		e.pos = e.addTable(t, &firstErr)
	}
	e.blocks = make([]block, h.Layers)
	for l := range e.blocks {
		b := &e.blocks[l]
		n := func(s string) string { return fmt.Sprintf("v.blk.%d.%s", l, s) }
		b.ln1W, b.ln1B = vec(n("ln1.weight"), E, false), vec(n("ln1.bias"), E, false)
		b.ln2W, b.ln2B = vec(n("ln2.weight"), E, false), vec(n("ln2.bias"), E, false)
		b.q, b.qB = mat(n("attn_q.weight"), E, E), vec(n("attn_q.bias"), E, false)
		b.k, b.kB = mat(n("attn_k.weight"), E, E), vec(n("attn_k.bias"), E, false)
		b.v, b.vB = mat(n("attn_v.weight"), E, E), vec(n("attn_v.bias"), E, false)
		b.o, b.oB = mat(n("attn_out.weight"), E, E), vec(n("attn_out.bias"), E, false)
		// Files from old converters hold up and down swapped; llama.cpp
		// clip.cpp swaps them back when ffn_down's rows are n_embd long.
		upName, downName := n("ffn_up"), n("ffn_down")
		if t, ok := e.f.Tensor(downName + ".weight"); ok && len(t.Dims) == 2 && t.Dims[0] == E && F != E {
			upName, downName = downName, upName
		}
		b.up, b.upB = mat(upName+".weight", E, F), vec(upName+".bias", F, false)
		b.down, b.downB = mat(downName+".weight", F, E), vec(downName+".bias", E, false)
	}
	e.postW, e.postB = vec("v.post_ln.weight", E, false), vec("v.post_ln.bias", E, false)
	e.softNorm = vec("mm.soft_emb_norm.weight", E, true)
	if firstErr != nil {
		return firstErr
	}
	t, err := e.tensor("mm.input_projection.weight", true, int64(h.TextDim), E)
	if err != nil {
		return err
	}
	e.proj = e.addTransposed(t, &firstErr)
	return firstErr
}

func (e *Encoder) add(info *weights.TensorInfo, buf backends.Buffer, err error, errp *error) *arch.Weight {
	if err != nil {
		if *errp == nil {
			*errp = fmt.Errorf("tensor %s: %w", info.Name, err)
		}
		return nil
	}
	w := &arch.Weight{Info: info}
	e.list = append(e.list, w)
	e.bufs = append(e.bufs, buf)
	return w
}

// dequant reads a tensor as f32.
func (e *Encoder) dequant(t *weights.TensorInfo) ([]float32, error) {
	out := make([]float32, t.Elements())
	if err := weights.DequantizeRow(t.Type, out, e.f.TensorData(t)); err != nil {
		return nil, err
	}
	return out, nil
}

// addVector binds a 1-D tensor as Float32.
func (e *Encoder) addVector(t *weights.TensorInfo, errp *error) *arch.Weight {
	shape := shapes.Make(dtypes.Float32, int(t.Dims[0]))
	if bb, ok := e.be.(byteBufferer); ok && t.Type == weights.TypeF32 {
		buf, err := bb.BufferFromBytes(e.f.TensorData(t), shape)
		return e.add(t, buf, err, errp)
	}
	flat, err := e.dequant(t)
	if err != nil {
		return e.add(t, nil, err, errp)
	}
	buf, err := e.be.BufferFromFlatData(0, flat, shape)
	return e.add(t, buf, err, errp)
}

// addTable binds a 2-D table (the position embeddings) as Float32 [rows, cols].
func (e *Encoder) addTable(t *weights.TensorInfo, errp *error) *arch.Weight {
	flat, err := e.dequant(t)
	if err != nil {
		return e.add(t, nil, err, errp)
	}
	buf, err := e.be.BufferFromFlatData(0, flat, shapes.Make(dtypes.Float32, int(t.Dims[1]), int(t.Dims[0])))
	return e.add(t, buf, err, errp)
}

// addMatrix binds a matrix of rows outputs × cols inputs: raw GGUF rows on
// dayi's backend, f32 elsewhere.
func (e *Encoder) addMatrix(t *weights.TensorInfo, rows, cols int64, errp *error) *arch.Weight {
	if bb, ok := e.be.(byteBufferer); ok {
		data := e.f.TensorData(t)
		rs, err := t.Type.RowSize(cols)
		if err == nil && rs*rows != int64(len(data)) {
			err = fmt.Errorf("%d bytes, want %d rows of %d", len(data), rows, rs)
		}
		if err != nil {
			return e.add(t, nil, err, errp)
		}
		buf, err := bb.BufferFromBytes(data, shapes.Make(dtypes.Uint8, int(rows), int(rs)))
		return e.add(t, buf, err, errp)
	}
	flat, err := e.dequant(t)
	if err != nil {
		return e.add(t, nil, err, errp)
	}
	buf, err := e.be.BufferFromFlatData(0, flat, shapes.Make(dtypes.Float32, int(rows), int(cols)))
	return e.add(t, buf, err, errp)
}

// addTransposed binds mm.input_projection.weight (ggml dims [text, E]: E
// rows of text values) transposed, as text rows of E: llama.cpp multiplies
// by ggml_cont(ggml_transpose(w)), a copy in w's own type, so the values
// (and the f16 rounding of the activations for an f16 w) are the same.
func (e *Encoder) addTransposed(t *weights.TensorInfo, errp *error) *arch.Weight {
	switch t.Type {
	case weights.TypeF32, weights.TypeF16, weights.TypeBF16:
	default:
		return e.add(t, nil, fmt.Errorf("type %s: llama.cpp transposes this matrix, which it can only do for f32, f16 or bf16", t.Type), errp)
	}
	flat, err := e.dequant(t)
	if err != nil {
		return e.add(t, nil, err, errp)
	}
	text, E := int(t.Dims[0]), int(t.Dims[1])
	tr := make([]float32, len(flat))
	for i := 0; i < E; i++ {
		for j := 0; j < text; j++ {
			tr[j*E+i] = flat[i*text+j]
		}
	}
	info := &weights.TensorInfo{Name: t.Name + ".T", Dims: []int64{int64(E), int64(text)}, Type: t.Type}
	bb, ok := e.be.(byteBufferer)
	if !ok {
		buf, err := e.be.BufferFromFlatData(0, tr, shapes.Make(dtypes.Float32, text, E))
		return e.add(info, buf, err, errp)
	}
	rs, err := t.Type.RowSize(int64(E))
	if err != nil {
		return e.add(info, nil, err, errp)
	}
	raw := make([]byte, rs*int64(text))
	for j := 0; j < text; j++ {
		if err := weights.QuantizeRow(t.Type, raw[int64(j)*rs:int64(j+1)*rs], tr[j*E:(j+1)*E]); err != nil {
			return e.add(info, nil, err, errp)
		}
	}
	e.owned = append(e.owned, raw)
	buf, err := bb.BufferFromBytes(raw, shapes.Make(dtypes.Uint8, text, int(rs)))
	return e.add(info, buf, err, errp)
}

// graphFor compiles the encoder graph once.
func (e *Encoder) graphFor() (g *graph.Graph, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.g != nil {
		return e.g, nil
	}
	defer recoverErr(&err)
	h := e.H
	g = graph.NewGraph(e.be, "gemma3_vision")
	n := h.PatchesPerSide()
	N, p := n*n, h.PatchSize
	x := graph.Parameter(g, "patches", shapes.Make(dtypes.Float32, N, 3*p*p))
	for i, w := range e.list {
		shape, err := e.be.BufferShape(e.bufs[i])
		if err != nil {
			return nil, err
		}
		w.Node = graph.Parameter(g, w.Info.Name, shape)
	}
	out := e.forward(g, x)
	g.Compile(out)
	e.g = g
	return g, nil
}

// forward is clip.cpp's build_vit for SigLIP (learned positions, pre-norm
// LayerNorm blocks with biases, GELU FFN, post LayerNorm) followed by
// models/siglip.cpp's gemma3 projector: average-pool Merge×Merge patches,
// RMS norm with mm.soft_emb_norm, project to the text width.
func (e *Encoder) forward(g *graph.Graph, patches *arch.Node) *arch.Node {
	h := e.H
	c := &arch.Ctx{G: g, H: &arch.Hyper{NormEps: h.Eps}}
	n := h.PatchesPerSide()
	N, E, H := n*n, h.Dim, h.Heads
	D := E / H
	gelu := arch.GeLUTable(g)
	x := e.linear(c, patches, e.patchW, e.patchB)
	x = graph.Add(x, e.pos.Node)
	scale := 1 / math.Sqrt(float64(D)) // clip.cpp kq_scale
	for l := range e.blocks {
		b := &e.blocks[l]
		cur := arch.LayerNorm(c, x, b.ln1W, b.ln1B)
		q := graph.Reshape(e.linear(c, cur, b.q, b.qB), 1, N, H, D)
		k := graph.Reshape(e.linear(c, cur, b.k, b.kB), 1, N, H, D)
		v := graph.Reshape(e.linear(c, cur, b.v, b.vB), 1, N, H, D)
		// Every patch sees every patch. clip.cpp's non-flash path
		// (ggml_mul_mat, ggml_soft_max_ext, ggml_mul_mat, all f32) is what
		// the f32 kernel computes.
		att := graph.BackendFusedScaledDotProductAttention(q, k, v, nil, H, H, backends.AxesLayoutBSHD, scale, false, nil)
		att = e.linear(c, graph.Reshape(att, N, E), b.o, b.oB)
		x = graph.Add(x, att)
		cur = arch.LayerNorm(c, x, b.ln2W, b.ln2B)
		cur = arch.GeLU(e.linear(c, cur, b.up, b.upB), gelu)
		x = graph.Add(x, e.linear(c, cur, b.down, b.downB))
	}
	if e.postW != nil || e.postB != nil {
		x = arch.LayerNorm(c, x, e.postW, e.postB)
	}
	// ggml_pool_2d AVG over Merge×Merge windows of the n×n patch grid
	// (patch index = row·n + column), tokens row-major over the pooled grid.
	m := h.Merge
	s := n / m
	pooled := graph.Reshape(x, s, m, s, m, E)
	pooled = graph.ReduceSum(pooled, 1, 3)
	pooled = graph.DivScalar(pooled, float64(m*m))
	x = graph.Reshape(pooled, s*s, E)
	x = c.RMSNorm(x, e.softNorm)
	return e.linear(c, x, e.proj, nil)
}

// linear is x·wᵀ + b. On portable backends (f32 weights) the activations
// of an f16 matrix are rounded to f16 first, as ggml-cpu converts them to
// F16's vec_dot_type (f16 products are exact in float32, so only the order
// of the sums differs); dayi's kernels do that themselves.
func (e *Encoder) linear(c *arch.Ctx, x *arch.Node, w, b *arch.Weight) *arch.Node {
	if w.Node.DType() == dtypes.Float32 && w.Info.Type == weights.TypeF16 {
		x = graph.ConvertDType(graph.ConvertDType(x, dtypes.Float16), dtypes.Float32)
	}
	return c.LinearBias(x, w, b)
}

// Encode turns one image into its soft tokens: [Tokens, TextDim] row-major.
func (e *Encoder) Encode(ctx context.Context, img image.Image) ([]float32, error) {
	patches, err := e.H.Patches(img)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return e.EncodePatches(patches)
}

// EncodePatches runs the tower and projector on preprocessed patches
// (Hyper.Patches).
func (e *Encoder) EncodePatches(patches []float32) (out []float32, err error) {
	h := e.H
	n := h.PatchesPerSide()
	if want := n * n * 3 * h.PatchSize * h.PatchSize; len(patches) != want {
		return nil, fmt.Errorf("vision: %d patch values, want %d", len(patches), want)
	}
	g, err := e.graphFor()
	if err != nil {
		return nil, fmt.Errorf("vision: build graph: %w", err)
	}
	defer recoverErr(&err)
	in, err := e.be.BufferFromFlatData(0, patches, shapes.Make(dtypes.Float32, n*n, 3*h.PatchSize*h.PatchSize))
	if err != nil {
		return nil, err
	}
	inputs := append([]backends.Buffer{in}, e.bufs...)
	donate := make([]bool, len(inputs))
	donate[0] = true
	e.runMu.Lock()
	outs := g.RunWithBuffers(inputs, donate, 0)
	e.runMu.Unlock()
	defer outs[0].FinalizeAll()
	err = tensors.ConstFlatData(outs[0], func(flat []float32) {
		out = append([]float32(nil), flat...)
	})
	return out, err
}

// recoverErr turns a GoMLX panic (its graph layer reports errors by
// panicking) into an error.
func recoverErr(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(error); ok {
			*err = e
		} else {
			*err = fmt.Errorf("%v", r)
		}
	}
}

// File is the mmproj the encoder reads.
func (e *Encoder) File() *weights.File { return e.f }
