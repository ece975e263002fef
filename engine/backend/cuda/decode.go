package cuda

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"dayi/engine/arch"
	"dayi/engine/backend/cuda/kern"
	"dayi/kernels"
	"dayi/weights"
)

// Backend is what the decode driver needs from a device: memory and
// launches. *Device implements it.
type Backend interface {
	kern.Launcher
	Alloc(n int, what string) (uint64, error)
	Write(p uint64, b []byte) error
	Read(p uint64, b []byte) error
	MemInfo() (free, total uint64, err error)
}

// matrix is a weight on the device, in its GGUF blocks as the file has them.
type matrix struct {
	name       string
	t          weights.Type
	p          uint64
	rows, cols int
}

type layer struct {
	attnNorm, ffnNorm uint64
	// optional (0 = absent): qwen2's Q/K/V biases, qwen3's and gemma3's
	// Q/K norms, gemma3's norms after attention and feed-forward
	qBias, kBias, vBias, qNorm, kNorm uint64
	postAttnNorm, postFFNNorm         uint64
	rope, window                      int // the layer's rope (index into ropes, cs) and sliding window (0: none)
	q, k, v, o                        matrix
	gate, up, down                    matrix
	kcache, vcache                    uint64
}

// Llama runs decode steps of the llama block and its relatives on a device:
// one token at a time, the KV cache in f16 on the device, every
// matrix-vector product on the quantized blocks uploaded unchanged. It is
// the check that the kernels compose into llama.cpp's forward pass; prefill
// batching, sampling and the engine's scheduler are not wired to it yet.
//
// gemma3 (MedGemma) is the llama block with llama.cpp's gemma3 graph's
// changes (src/models/gemma3.cpp): the embedding row scaled by √dim,
// per-head Q/K norms, RMS norms after attention and after the feed-forward
// block, GeGLU with ggml-cpu's f16 GELU table (geglu_f16), and sliding-window
// layers with their own rope (engine/arch gemma3Hyper's layer kinds).
type Llama struct {
	b      Backend
	h      *arch.Hyper
	ctx    int
	ropes  []arch.Rope
	emb    *weights.TensorInfo
	embRow []byte // the file's token_embd rows (host)
	layers []layer
	norm   uint64
	out    matrix

	embScale float32 // gemma3: √dim (0: the row as it is)
	geglu    uint64  // gemma3: the f16 GELU table on the device (0: SwiGLU)

	// scratch
	x, xn, xq, xqk, q, k, v, att, tmp, g, u, logits uint64
	cs                                              []uint64 // per rope: the position's (cos, sin) pairs
	hostX, hostCS, hostLogits                       []byte
	row, cos, outF32                                []float32
	ropeCos, ropeSin                                []float32 // arch.Rope.Table output for one position
	pos                                             int
	allocs                                          []uint64 // everything alloc gave, for Free
	f32Cache                                        bool
	batch                                           int    // most tokens a step holds (Options.Batch)
	one                                             [1]int // Step's token
}

// Options configure LoadLlamaWith.
type Options struct {
	// Ctx is the number of positions the KV cache holds.
	Ctx int
	// F32Cache keeps K and V in f32 (llama.cpp's --cache-type f32),
	// without the f16 roundings of the default cache.
	F32Cache bool
	// Batch is the most prompt tokens Prefill runs in one step (0:
	// DefaultBatch): each matrix is read once for them (GemvBatch).
	Batch int
}

// DefaultBatch is Options.Batch's default: the scratch it costs is
// Batch × (3 × dim + 3 × FFN + …) floats, 6 MB for an 8B model.
const DefaultBatch = 32

// LoadLlama uploads f's weights and allocates an f16 KV cache of ctx
// positions (LoadLlamaWith).
func LoadLlama(b Backend, f *weights.File, ctx int) (*Llama, error) {
	return LoadLlamaWith(b, f, Options{Ctx: ctx})
}

// LoadLlamaWith uploads f's weights (llama, qwen2 or qwen3: the llama block,
// with qwen2's Q/K/V biases and qwen3's per-head Q/K norms where the file
// has them) and allocates the KV cache. It fails with an OutOfMemoryError
// naming the sizes when the model and cache do not fit in the device's free
// memory.
func LoadLlamaWith(b Backend, f *weights.File, opt Options) (*Llama, error) {
	ctx := opt.Ctx
	gemma := false
	switch a := f.Arch(); a {
	case "llama", "qwen2", "qwen3":
	case "gemma3":
		gemma = true
	default:
		return nil, fmt.Errorf("cuda: decode supports the llama, qwen2, qwen3 and gemma3 architectures, %s is %q", f.Path, a)
	}
	_, h, err := arch.Load(f)
	if err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", f.Path, err)
	}
	// Tensors the llama graph can carry that this driver does not apply: a
	// model with them must not decode silently wrong.
	for _, ti := range f.Tensors {
		for _, suffix := range []string{".attn_output.bias", ".ffn_gate_inp.weight", ".ffn_gate_exps.weight"} {
			if strings.HasSuffix(ti.Name, suffix) {
				return nil, fmt.Errorf("cuda: %s: tensor %s (output bias, experts) is not supported on the GPU path yet", f.Path, ti.Name)
			}
		}
	}
	if h.RopeType != arch.RopeNorm && h.RopeType != arch.RopeNeoX {
		return nil, fmt.Errorf("cuda: %s: only normal or neox ropes are supported", f.Path)
	}
	for _, c := range h.Caches {
		if c.Bidirectional {
			return nil, fmt.Errorf("cuda: %s: bidirectional attention (an encoder) is not supported", f.Path)
		}
	}
	for l, kv := range h.KVHeads {
		if kv != h.KVHeads[0] {
			return nil, fmt.Errorf("cuda: %s: layer %d has %d KV heads, layer 0 %d: per-layer KV heads are not supported", f.Path, l, kv, h.KVHeads[0])
		}
	}
	if h.HeadDim > kern.MaxHeadDim {
		return nil, fmt.Errorf("cuda: %s: head size %d (the attention kernel takes at most %d)", f.Path, h.HeadDim, kern.MaxHeadDim)
	}
	if ctx <= 0 || ctx > 1<<20 {
		return nil, fmt.Errorf("cuda: context of %d positions", ctx)
	}
	batch := opt.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	if batch > 1024 {
		return nil, fmt.Errorf("cuda: a batch of %d tokens (at most 1024)", batch)
	}
	m := &Llama{b: b, h: h, ctx: ctx, ropes: h.Ropes, f32Cache: opt.F32Cache, batch: batch}
	if gemma {
		m.embScale = float32(math.Sqrt(float64(h.Dim)))
	}
	esz := 2
	if opt.F32Cache {
		esz = 4
	}
	tensor := func(name string) (*weights.TensorInfo, error) {
		t, ok := f.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("cuda: %s: tensor %s missing", f.Path, name)
		}
		return t, nil
	}
	if m.emb, err = tensor("token_embd.weight"); err != nil {
		return nil, err
	}
	m.embRow = f.TensorData(m.emb)
	outName := "output.weight"
	if _, ok := f.Tensor(outName); !ok {
		outName = "token_embd.weight"
	}
	names := []string{"output_norm.weight", outName}
	for l := 0; l < h.Layers; l++ {
		for _, s := range []string{"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"} {
			names = append(names, fmt.Sprintf("blk.%d.%s.weight", l, s))
		}
	}
	// Sizes first: one clear error when the model does not fit.
	kvDim := h.KVHeads[0] * h.HeadDim
	qDim := h.Heads * h.HeadDim
	cacheBytes := uint64(2 * h.Layers * ctx * kvDim * esz)
	var need uint64 = cacheBytes
	for _, n := range names {
		t, err := tensor(n)
		if err != nil {
			return nil, err
		}
		need += uint64(t.Size)
	}
	vocab, _ := m.emb.Rows()
	wide := max(h.Dim, h.FFN, qDim)
	need += uint64(4 * (int(vocab) + batch*(8*wide+len(h.Ropes)*h.RopeDim)))
	if gemma {
		need += 4 << 16 // the GELU table
	}
	if free, total, err := b.MemInfo(); err == nil && need > free {
		return nil, &OutOfMemoryError{What: fmt.Sprintf("%s (weights and a %d-position f16 KV cache)", f.Path, ctx), Need: need, Free: free, Total: total}
	}
	upload := func(name string) (uint64, error) {
		t, _ := f.Tensor(name)
		p, err := m.alloc(int(t.Size), name)
		if err != nil {
			return 0, err
		}
		return p, b.Write(p, f.TensorData(t))
	}
	mat := func(name string, rows, cols int) (matrix, error) {
		t, _ := f.Tensor(name)
		r, c := t.Rows()
		if int(r) != rows || int(c) != cols {
			return matrix{}, fmt.Errorf("cuda: %s: %s is %d×%d, want %d×%d", f.Path, name, r, c, rows, cols)
		}
		if _, _, err := kern.GemvKernel(t.Type); err != nil {
			return matrix{}, fmt.Errorf("%s: %w", name, err)
		}
		if cols%t.Type.BlockSize() != 0 {
			return matrix{}, fmt.Errorf("cuda: %s: %s rows of %d values", f.Path, name, cols)
		}
		p, err := upload(name)
		return matrix{name: name, t: t.Type, p: p, rows: rows, cols: cols}, err
	}
	norm := func(name string, n int) (uint64, error) {
		t, _ := f.Tensor(name)
		if t.Type != weights.TypeF32 || t.Elements() != int64(n) {
			return 0, fmt.Errorf("cuda: %s: %s is %d %s values, want %d f32", f.Path, name, t.Elements(), t.Type, n)
		}
		return upload(name)
	}
	if m.norm, err = norm("output_norm.weight", h.Dim); err != nil {
		return nil, err
	}
	if m.out, err = mat(outName, int(vocab), h.Dim); err != nil {
		return nil, err
	}
	m.layers = make([]layer, h.Layers)
	for l := range m.layers {
		L := &m.layers[l]
		p := func(s string) string { return fmt.Sprintf("blk.%d.%s.weight", l, s) }
		var errs []error
		var e error
		L.attnNorm, e = norm(p("attn_norm"), h.Dim)
		errs = append(errs, e)
		L.ffnNorm, e = norm(p("ffn_norm"), h.Dim)
		errs = append(errs, e)
		for _, w := range []struct {
			m          *matrix
			s          string
			rows, cols int
		}{
			{&L.q, "attn_q", qDim, h.Dim}, {&L.k, "attn_k", kvDim, h.Dim}, {&L.v, "attn_v", kvDim, h.Dim},
			{&L.o, "attn_output", h.Dim, qDim}, {&L.gate, "ffn_gate", h.FFN, h.Dim}, {&L.up, "ffn_up", h.FFN, h.Dim},
			{&L.down, "ffn_down", h.Dim, h.FFN},
		} {
			*w.m, e = mat(p(w.s), w.rows, w.cols)
			errs = append(errs, e)
		}
		if L.kcache, e = m.alloc(ctx*kvDim*esz, "K cache"); e == nil {
			L.vcache, e = m.alloc(ctx*kvDim*esz, "V cache")
		}
		kind := h.Kinds[l]
		L.rope, L.window = kind.Rope, h.Caches[kind.Cache].Window
		// Optional: qwen2's biases, qwen3's and gemma3's per-head norms,
		// gemma3's post norms.
		for _, o := range []struct {
			p    *uint64
			name string
			n    int
		}{
			{&L.qBias, fmt.Sprintf("blk.%d.attn_q.bias", l), qDim}, {&L.kBias, fmt.Sprintf("blk.%d.attn_k.bias", l), kvDim},
			{&L.vBias, fmt.Sprintf("blk.%d.attn_v.bias", l), kvDim},
			{&L.qNorm, p("attn_q_norm"), h.HeadDim}, {&L.kNorm, p("attn_k_norm"), h.HeadDim},
			{&L.postAttnNorm, p("post_attention_norm"), h.Dim}, {&L.postFFNNorm, p("post_ffw_norm"), h.Dim},
		} {
			if _, ok := f.Tensor(o.name); ok && e == nil {
				*o.p, e = norm(o.name, o.n)
			}
		}
		errs = append(errs, e)
		if gemma && (L.qNorm == 0 || L.kNorm == 0 || L.postAttnNorm == 0 || L.postFFNNorm == 0) {
			errs = append(errs, fmt.Errorf("cuda: %s: gemma3 layer %d lacks its Q/K or post norms", f.Path, l))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	if gemma {
		tab := kernels.GeluF16Table()
		b := make([]byte, 4*len(tab))
		putF32s(b, tab)
		if m.geglu, err = m.alloc(len(b), "GELU table"); err != nil {
			return nil, err
		}
		if err := m.b.Write(m.geglu, b); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		p *uint64
		n int
	}{{&m.x, 4 * h.Dim}, {&m.xn, 4 * wide}, {&m.xq, wide / 32 * kern.Q81Bytes}, {&m.xqk, wide / 256 * kern.Q8KBytes}, {&m.q, 4 * qDim}, {&m.k, 4 * kvDim},
		{&m.v, 4 * kvDim}, {&m.att, 4 * qDim}, {&m.tmp, 4 * wide}, {&m.g, 4 * h.FFN}, {&m.u, 4 * h.FFN}} {
		if *s.p, err = m.alloc(max(batch*s.n, 4), "scratch"); err != nil { // a row per token
			return nil, err
		}
	}
	if m.logits, err = m.alloc(4*int(vocab), "logits"); err != nil {
		return nil, err
	}
	m.cs = make([]uint64, len(h.Ropes))
	for i := range m.cs {
		if m.cs[i], err = m.alloc(batch*4*h.RopeDim, "rope table"); err != nil {
			return nil, err
		}
	}
	m.hostX = make([]byte, batch*4*h.Dim)
	m.hostLogits = make([]byte, 4*int(vocab))
	m.cos = make([]float32, h.RopeDim)
	m.ropeCos, m.ropeSin = make([]float32, h.RopeDim/2), make([]float32, h.RopeDim/2)
	m.hostCS = make([]byte, batch*4*h.RopeDim)
	m.row = make([]float32, h.Dim)
	m.outF32 = make([]float32, vocab)
	return m, nil
}

// Free releases the model's device memory when the backend can free
// (a Device); the model must not be used afterwards.
func (m *Llama) Free() error {
	fr, ok := m.b.(interface{ Free(uint64) error })
	if !ok {
		return nil
	}
	var errs []error
	for _, p := range m.allocs {
		errs = append(errs, fr.Free(p))
	}
	m.allocs = nil
	return errors.Join(errs...)
}

// Vocab is the number of logits a step returns.
func (m *Llama) Vocab() int { return len(m.hostLogits) / 4 }

// Ctx is the number of positions the KV cache holds.
func (m *Llama) Ctx() int { return m.ctx }

// Pos is the position of the next token.
func (m *Llama) Pos() int { return m.pos }

// Reset forgets the sequence (the cache is overwritten from position 0).
func (m *Llama) Reset() { m.pos = 0 }

// ropeTable fills the interleaved (cos θ_i, sin θ_i) of rope r for pos from
// the same table the CPU path uses (arch.Rope.Table: ggml-cpu's rope cache,
// with linear and YaRN scaling and the attention factor's magnitude), so the
// GPU path rotates by exactly the CPU path's angles.
func (m *Llama) ropeTable(r, pos int) {
	n := m.h.RopeDim / 2
	m.ropes[r].Table(m.ropeCos, m.ropeSin, 1, m.h.RopeDim, pos)
	for i := range n {
		m.cos[2*i], m.cos[2*i+1] = m.ropeCos[i], m.ropeSin[i]
	}
}

// matvec computes y = W·x for the n rows of x (one a token, y n rows of
// W's rows), quantizing x first into the form W's kernel reads unless q
// already holds it (q8_1 and q8_K are tracked apart: a q4_k_m layer mixes
// q4_K, q6_K and, in fallbacks, q8_0/q5_0).
func (m *Llama) matvec(w matrix, x, y uint64, n int, q *quantized) error {
	_, act, _ := kern.GemvKernel(w.t)
	in := x
	switch act {
	case kern.ActQ8_1:
		in = m.xq
		if !q.q81 {
			if err := kern.Quantize(m.b, act, x, m.xq, n*w.cols); err != nil {
				return err
			}
			q.q81 = true
		}
	case kern.ActQ8_K:
		in = m.xqk
		if !q.q8k {
			if err := kern.Quantize(m.b, act, x, m.xqk, n*w.cols); err != nil {
				return err
			}
			q.q8k = true
		}
	}
	return kern.GemvBatch(m.b, w.t, w.p, in, y, w.rows, w.cols, n)
}

// quantized says which quantized forms of the current input rows the
// scratch buffers hold.
type quantized struct{ q81, q8k bool }

// Step evaluates token at the next position and returns the logits (valid
// until the next Step). It allocates nothing: the host staging buffers are
// the model's, and each launch reuses the device's argument slots.
func (m *Llama) Step(token int) ([]float32, error) {
	m.one[0] = token
	return m.Prefill(m.one[:])
}

// Prefill evaluates tokens at the next positions, up to Options.Batch of
// them a step, and returns the last one's logits (valid until the next
// call). Every matrix is read once per step for all its tokens
// (GemvBatch); everything else runs per row as in a one-token step, so
// the logits are bit for bit those of stepping the tokens one by one.
func (m *Llama) Prefill(tokens []int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("cuda: no tokens")
	}
	vocab, _ := m.emb.Rows()
	for _, t := range tokens {
		if t < 0 || int64(t) >= vocab {
			return nil, fmt.Errorf("cuda: token %d outside the vocabulary of %d", t, vocab)
		}
	}
	if len(tokens) > m.ctx-m.pos {
		return nil, fmt.Errorf("cuda: %d tokens at position %d: the context of %d positions is full", len(tokens), m.pos, m.ctx)
	}
	for len(tokens) > 0 {
		n := min(len(tokens), m.batch)
		if err := m.step(tokens[:n], n == len(tokens)); err != nil {
			return nil, err
		}
		tokens = tokens[n:]
	}
	if err := m.b.Read(m.logits, m.hostLogits); err != nil {
		return nil, err
	}
	for i := range m.outF32 {
		m.outF32[i] = math.Float32frombits(binary.LittleEndian.Uint32(m.hostLogits[4*i:]))
	}
	return m.outF32, nil
}

// step runs len(toks) ≤ batch tokens through the model at positions pos…
// and, when logits is set, leaves the last one's logits in m.logits.
func (m *Llama) step(toks []int, logits bool) error {
	h := m.h
	n := len(toks)
	rb, err := m.emb.Type.RowSize(int64(h.Dim))
	if err != nil {
		return err
	}
	for t, tok := range toks {
		if err := weights.DequantizeRow(m.emb.Type, m.row, m.embRow[int64(tok)*rb:int64(tok+1)*rb]); err != nil {
			return fmt.Errorf("cuda: token_embd.weight row %d: %w", tok, err)
		}
		if m.embScale != 0 { // gemma3: ggml_scale of the rows in f32
			for i := range m.row {
				m.row[i] *= m.embScale
			}
		}
		putF32s(m.hostX[4*h.Dim*t:], m.row)
	}
	if err := m.b.Write(m.x, m.hostX[:4*h.Dim*n]); err != nil {
		return err
	}
	for r := range m.ropes {
		for t := range n {
			m.ropeTable(r, m.pos+t)
			putF32s(m.hostCS[4*h.RopeDim*t:], m.cos)
		}
		if err := m.b.Write(m.cs[r], m.hostCS[:4*h.RopeDim*n]); err != nil {
			return err
		}
	}
	for l := range m.layers {
		if err := m.layer(&m.layers[l], n); err != nil {
			return fmt.Errorf("cuda: layer %d: %w", l, err)
		}
	}
	m.pos += n
	if !logits {
		return nil
	}
	last := m.x + uint64(4*h.Dim*(n-1))
	if err := kern.RMSNorm(m.b, last, m.norm, m.xn, 1, h.Dim, h.NormEps); err != nil {
		return err
	}
	return m.matvec(m.out, m.xn, m.logits, 1, &quantized{})
}

// layer runs one decoder block on the n rows of m.x in place (llama.cpp's
// llama graph: pre-norm attention and SwiGLU FFN, each added to the
// residual; gemma3's norms the two outputs again before adding them and
// uses GeGLU). Row t is the token at position pos+t.
func (m *Llama) layer(L *layer, n int) error {
	h := m.h
	kvHeads := h.KVHeads[0]
	kvDim := kvHeads * h.HeadDim
	qDim := h.Heads * h.HeadDim
	quant := quantized{}
	if err := kern.RMSNorm(m.b, m.x, L.attnNorm, m.xn, n, h.Dim, h.NormEps); err != nil {
		return err
	}
	if err := m.matvec(L.q, m.xn, m.q, n, &quant); err != nil {
		return err
	}
	if err := m.matvec(L.k, m.xn, m.k, n, &quant); err != nil {
		return err
	}
	if err := m.matvec(L.v, m.xn, m.v, n, &quant); err != nil {
		return err
	}
	for _, b := range []struct {
		x, bias uint64
		n       int
	}{{m.q, L.qBias, qDim}, {m.k, L.kBias, kvDim}, {m.v, L.vBias, kvDim}} {
		if b.bias == 0 {
			continue
		}
		for t := range n {
			row := b.x + uint64(4*b.n*t)
			if err := kern.Binary(m.b, "add", row, b.bias, row, b.n); err != nil {
				return err
			}
		}
	}
	if L.qNorm != 0 { // qwen3, gemma3: RMS norm of each head before the rotation
		if err := kern.RMSNorm(m.b, m.q, L.qNorm, m.q, n*h.Heads, h.HeadDim, h.NormEps); err != nil {
			return err
		}
	}
	if L.kNorm != 0 {
		if err := kern.RMSNorm(m.b, m.k, L.kNorm, m.k, n*kvHeads, h.HeadDim, h.NormEps); err != nil {
			return err
		}
	}
	neox := h.RopeType == arch.RopeNeoX // row t by its position's table
	if err := kern.RopeRows(m.b, m.q, m.cs[L.rope], h.Heads, h.HeadDim, h.RopeDim, neox, n); err != nil {
		return err
	}
	if err := kern.RopeRows(m.b, m.k, m.cs[L.rope], kvHeads, h.HeadDim, h.RopeDim, neox, n); err != nil {
		return err
	}
	// Append these positions' K and V to the caches (rows pos… are
	// consecutive there).
	conv, esz := "f32_to_f16", 2
	if m.f32Cache {
		conv, esz = "copy", 4
	}
	at := uint64(esz * m.pos * kvDim)
	if err := kern.Unary(m.b, conv, m.k, L.kcache+at, n*kvDim); err != nil {
		return err
	}
	if err := kern.Unary(m.b, conv, m.v, L.vcache+at, n*kvDim); err != nil {
		return err
	}
	// Row t (position pos+t) sees the keys before pos+t+1, a sliding-window
	// layer only its last window of them.
	if err := kern.Attention(m.b, kern.AttentionArgs{Q: m.q, K: L.kcache, V: L.vcache, O: m.att, F32: m.f32Cache,
		Heads: h.Heads, KVHeads: kvHeads, HeadDim: h.HeadDim, N: m.pos + 1, NTok: n, Window: L.window, Scale: h.AttnScale}); err != nil {
		return err
	}
	quant = quantized{}
	if err := m.matvec(L.o, m.att, m.tmp, n, &quant); err != nil {
		return err
	}
	if L.postAttnNorm != 0 {
		if err := kern.RMSNorm(m.b, m.tmp, L.postAttnNorm, m.tmp, n, h.Dim, h.NormEps); err != nil {
			return err
		}
	}
	if err := kern.Binary(m.b, "add", m.x, m.tmp, m.x, n*h.Dim); err != nil {
		return err
	}
	if err := kern.RMSNorm(m.b, m.x, L.ffnNorm, m.xn, n, h.Dim, h.NormEps); err != nil {
		return err
	}
	quant = quantized{}
	if err := m.matvec(L.gate, m.xn, m.g, n, &quant); err != nil {
		return err
	}
	if err := m.matvec(L.up, m.xn, m.u, n, &quant); err != nil {
		return err
	}
	var err error
	if m.geglu != 0 {
		err = kern.GegluF16(m.b, m.g, m.u, m.geglu, m.g, n*h.FFN)
	} else {
		err = kern.Binary(m.b, "swiglu", m.g, m.u, m.g, n*h.FFN)
	}
	if err != nil {
		return err
	}
	quant = quantized{}
	if err := m.matvec(L.down, m.g, m.tmp, n, &quant); err != nil {
		return err
	}
	if L.postFFNNorm != 0 {
		if err := kern.RMSNorm(m.b, m.tmp, L.postFFNNorm, m.tmp, n, h.Dim, h.NormEps); err != nil {
			return err
		}
	}
	return kern.Binary(m.b, "add", m.x, m.tmp, m.x, n*h.Dim)
}

func putF32s(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// alloc allocates device memory that Free releases.
func (m *Llama) alloc(n int, what string) (uint64, error) {
	p, err := m.b.Alloc(n, what)
	if err == nil {
		m.allocs = append(m.allocs, p)
	}
	return p, err
}
