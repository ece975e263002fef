package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"dayi/engine/arch"
	"dayi/weights"
)

// ErrEncoderOnly is returned when an encoder (an embedding or reranker
// model) is asked to generate, or a reranker to embed.
var ErrEncoderOnly = errors.New("an embedding or reranker model does not generate")

// ErrNoClassifier is returned when Rank is asked of a model without a
// classifier head.
var ErrNoClassifier = errors.New("the model has no classifier head (cls.output.weight): it is not a reranker")

// encoderParts is what an encoder needs outside the step graph: the
// position and token-type rows added to each input row on the host, and the
// classifier head, dequantized at load (a head is dim² + dim values: 4 MiB
// for a 1024-wide reranker).
type encoderParts struct {
	posTable []float32 // [Ctx, dim]: position p's row at p·dim
	typRow   []float32 // token type 0's row; nil when the model has none
	cls      struct {
		w, b, out, outB []float32
		labels          int
		present         bool
	}
}

// bindEncoder prepares m.enc for architectures that are encoders.
func (m *Model) bindEncoder() error {
	e, ok := m.arch.(arch.Encoder)
	if !ok {
		return nil
	}
	dim := m.Hyper.Dim
	p := &encoderParts{}
	if in, ok := m.arch.(arch.InputEmbeddings); ok {
		if t := in.PositionEmbedding(); t != nil {
			var err error
			if p.posTable, err = m.dequantRows(t, m.Ctx); err != nil {
				return err
			}
		}
		if t := in.TokenTypeEmbedding(); t != nil {
			var err error
			if p.typRow, err = m.dequantRows(t, 1); err != nil {
				return err
			}
		}
	}
	c := e.Classifier()
	if c.Out != nil {
		p.cls.present = true
		p.cls.labels = int(c.Out.Dims[1])
		for _, t := range []struct {
			info *weights.TensorInfo
			dst  *[]float32
		}{{c.W, &p.cls.w}, {c.B, &p.cls.b}, {c.Out, &p.cls.out}, {c.OutB, &p.cls.outB}} {
			if t.info == nil {
				continue
			}
			rows := int64(1)
			if len(t.info.Dims) == 2 {
				rows = t.info.Dims[1]
			}
			v, err := m.dequantRows(t.info, int(rows))
			if err != nil {
				return err
			}
			*t.dst = v
		}
	}
	if len(p.posTable) != 0 && len(p.posTable) < m.Ctx*dim {
		return fmt.Errorf("position table shorter than the context")
	}
	m.enc = p
	return nil
}

// dequantRows returns the first n rows of tensor t as float32.
func (m *Model) dequantRows(t *weights.TensorInfo, n int) ([]float32, error) {
	cols := t.Dims[0]
	rs, err := t.Type.RowSize(cols)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	data := m.File.TensorData(t)
	if int64(len(data)) < int64(n)*rs {
		return nil, fmt.Errorf("tensor %q: %d bytes, want %d rows of %d", t.Name, len(data), n, rs)
	}
	out := make([]float32, int64(n)*cols)
	if err := weights.DequantizeRow(t.Type, out, data[:int64(n)*rs]); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// addInputs adds, to the rows x [n, dim] of the token embeddings, token
// type 0's row then the position's row (bert.cpp: inpL = tok + type_row0;
// inpL = pos + inpL). Positions restart at 0 with each segment (the texts
// packed into the step, segs their lengths).
func (p *encoderParts) addInputs(x []float32, segs []int, dim int) {
	r := 0
	for _, n := range segs {
		for pos := 0; pos < n && r*dim < len(x); pos, r = pos+1, r+1 {
			row := x[r*dim : (r+1)*dim]
			if p.typRow != nil {
				for j := range row {
					row[j] += p.typRow[j]
				}
			}
			if p.posTable != nil {
				pr := p.posTable[pos*dim : (pos+1)*dim]
				for j := range row {
					row[j] = pr[j] + row[j]
				}
			}
		}
	}
}

// encoderSegs are the segments of an encoder's step of T rows, n of them
// real: the packed texts' lengths (s.segs, or one text of n), then the
// padding rows as a segment of their own, so that they attend among
// themselves only and no softmax row is empty.
func (s *Session) encoderSegs(n, T int) []int {
	segs := []int{n}
	if len(s.segs) > 0 {
		segs = append([]int(nil), s.segs...)
	}
	if T > n {
		segs = append(segs, T-n)
	}
	return segs
}

// IsEncoder reports whether the model embeds (or ranks) rather than
// generates.
func (m *Model) IsEncoder() bool { return m.enc != nil }

// IsReranker reports whether the model has a classifier head for Rank.
func (m *Model) IsReranker() bool { return m.enc != nil && m.enc.cls.present }

// encode evaluates a whole text in one step: every row of an encoder sees
// every other, so the text cannot be cut into steps. The step size is the
// smallest prefill bucket that holds it, else the next power of two (at
// most the context), so that a few compiled graphs serve every length. One
// text per step: the step graph has one sequence per row group and a
// bidirectional mask per sequence, so several texts in one step would need
// a block-diagonal mask over one sequence's rows (not done yet).
func (s *Session) encode(ctx context.Context, ids []int32, hidden bool, out *[]float32) error {
	if !hidden {
		return ErrEncoderOnly
	}
	if s.pos != 0 {
		return fmt.Errorf("encoder: a text is evaluated whole from position 0; the session is at %d", s.pos)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n := len(ids)
	T := 0
	for _, b := range s.m.buckets {
		if b >= n && b <= s.m.Ctx {
			T = b
			break
		}
	}
	if T == 0 {
		T = min(1<<bits.Len(uint(n-1)), s.m.Ctx)
	}
	if err := s.step(ids, graphKey{T: T, hidden: true}); err != nil {
		return err
	}
	*out = append(*out, s.hidden[:n*s.m.Hyper.Dim]...)
	return nil
}

// fillMaskSegments is a block-diagonal bidirectional mask: a row sees
// every row of its own segment (one packed text) and nothing else
// (llama.cpp's non-causal mask over a batch of several sequences: same
// sequence id). An encoder's step starts at position 0, so row i is cache
// cell i.
func fillMaskSegments(mask []bool, T, S int, segs []int) {
	start := 0
	for _, n := range segs {
		for i := start; i < start+n && i < T; i++ {
			row := mask[i*S : (i+1)*S]
			for j := range row {
				row[j] = j >= start && j < start+n
			}
		}
		start += n
	}
}

// RerankIDs are the token ids a reranker scores for (query, document):
// llama.cpp server's format_prompt_rerank (server-common.cpp) without a
// rerank template: [BOS if add_bos] query [EOS if add_eos, SEP if absent]
// [SEP if add_sep] document [EOS if add_eos]. For BERT vocabularies that is
// [CLS] query [SEP] document, as node-llama-cpp's ranking context builds too.
func (lm *LM) RerankIDs(query, doc string) []int32 {
	f := lm.File
	isBert := lm.Tok.Kind() == "bert"
	sep := int32(f.Int("tokenizer.ggml.seperator_token_id", map[bool]int64{true: 102, false: -1}[isBert]))
	addSep := f.Bool("tokenizer.ggml.add_sep_token", isBert) && sep >= 0
	eos := lm.Tok.EOS()
	if eos < 0 {
		eos = sep
	}
	q := lm.Tok.Encode(query, false, false)
	d := lm.Tok.Encode(doc, false, false)
	ids := make([]int32, 0, len(q)+len(d)+4)
	if lm.Tok.AddBOS() && lm.Tok.BOS() >= 0 {
		ids = append(ids, lm.Tok.BOS())
	}
	ids = append(ids, q...)
	if lm.Tok.AddEOS() && eos >= 0 {
		ids = append(ids, eos)
	}
	if addSep {
		ids = append(ids, sep)
	}
	ids = append(ids, d...)
	if lm.Tok.AddEOS() && eos >= 0 {
		ids = append(ids, eos)
	}
	return ids
}

// Rank returns the reranker's relevance score of doc for query (the
// classifier head's first output on the CLS row, unnormalised as
// llama-server's /v1/rerank reports it) and the tokens it read. A pair
// longer than the context is an error (a reranker's score of a cut
// document would silently mislead).
func (lm *LM) Rank(ctx context.Context, query, doc string) (float32, int, error) {
	if !lm.IsReranker() {
		return 0, 0, ErrNoClassifier
	}
	return lm.RankIDs(ctx, lm.RerankIDs(query, doc))
}

// RankIDs scores an already formatted token sequence (RerankIDs).
func (lm *LM) RankIDs(ctx context.Context, ids []int32) (float32, int, error) {
	if !lm.IsReranker() {
		return 0, 0, ErrNoClassifier
	}
	if len(ids) == 0 {
		return 0, 0, fmt.Errorf("rank: empty input")
	}
	if len(ids) > lm.Ctx {
		return 0, 0, fmt.Errorf("%w: %d tokens, context length %d", ErrPromptTooLong, len(ids), lm.Ctx)
	}
	s, err := lm.NewSession()
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	h, err := s.Hidden(ctx, ids)
	if err != nil {
		return 0, 0, err
	}
	c := &lm.enc.cls
	// Rank pooling reads the first (CLS) row (build_pooling: inp_cls).
	out := arch.Classify(h[:lm.Hyper.Dim], c.w, c.b, c.out, c.outB, c.labels)
	return out[0], len(ids), nil
}

// InputError says which input of a batch failed.
type InputError struct {
	Index int
	Err   error
}

func (e *InputError) Error() string { return fmt.Sprintf("input %d: %v", e.Index, e.Err) }
func (e *InputError) Unwrap() error { return e.Err }

// packLimit is the most rows a packed encoder step holds: the largest
// prefill bucket (a text longer than that runs alone).
func (m *Model) packLimit() int {
	return min(m.buckets[len(m.buckets)-1], m.Ctx)
}

// hiddenPacked evaluates texts (token ids, each at most the context) on an
// encoder, packing consecutive texts into one step while they fit
// packLimit rows (llama.cpp's embedding batches: several sequences in one
// ubatch, each attending to itself only), and hands each text's hidden
// states [len, dim] to fn in order.
func (lm *LM) hiddenPacked(ctx context.Context, texts [][]int32, fn func(i int, h []float32) error) error {
	s, err := lm.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	dim, limit := lm.Hyper.Dim, lm.packLimit()
	for i := 0; i < len(texts); {
		j, rows := i, 0
		for j < len(texts) && (j == i || rows+len(texts[j]) <= limit) {
			rows += len(texts[j])
			j++
		}
		ids := make([]int32, 0, rows)
		s.segs = s.segs[:0]
		for _, t := range texts[i:j] {
			ids = append(ids, t...)
			s.segs = append(s.segs, len(t))
		}
		s.Reset()
		h, err := s.Hidden(ctx, ids)
		s.segs = s.segs[:0]
		if err != nil {
			return &InputError{Index: i, Err: err}
		}
		off := 0
		for k := i; k < j; k++ {
			n := len(texts[k])
			if err := fn(k, h[off*dim:(off+n)*dim]); err != nil {
				return err
			}
			off += n
		}
		i = j
	}
	return nil
}

// pool pools the hidden states h [n, dim] of one text by the model's
// pooling (mean, CLS or last; llama-graph.cpp build_pooling).
func (lm *LM) pool(h []float32) []float32 {
	dim := lm.Hyper.Dim
	n := len(h) / dim
	out := make([]float32, dim)
	switch lm.Pooling() {
	case PoolCLS, PoolRank:
		copy(out, h[:dim])
	case PoolLast:
		copy(out, h[len(h)-dim:])
	default:
		acc := make([]float64, dim)
		for r := 0; r < n; r++ {
			for j := range acc {
				acc[j] += float64(h[r*dim+j])
			}
		}
		for j := range out {
			out[j] = float32(acc[j] / float64(n))
		}
	}
	return out
}

// normalize is common_embd_normalize(…, 2): divide by the Euclidean norm
// (a sum of doubles).
func normalize(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n > 0 {
		inv := 1 / math.Sqrt(n)
		for j := range v {
			v[j] = float32(float64(v[j]) * inv)
		}
	}
}

// EmbedBatch embeds several texts as Embed does, each L2-normalised, and
// returns the tokens each used. On an encoder the texts are packed into
// shared steps; a decoder embeds them one by one. A failing text is
// reported as an *InputError naming its index.
func (lm *LM) EmbedBatch(ctx context.Context, texts []string, truncate bool) ([][]float32, []int, error) {
	out := make([][]float32, len(texts))
	counts := make([]int, len(texts))
	if !lm.IsEncoder() {
		for i, t := range texts {
			v, n, err := lm.Embed(ctx, t, truncate)
			if err != nil {
				return nil, nil, &InputError{Index: i, Err: err}
			}
			out[i], counts[i] = v, n
		}
		return out, counts, nil
	}
	if lm.Pooling() == PoolRank {
		return nil, nil, fmt.Errorf("%w: it ranks (rank pooling), use it to rerank", ErrEncoderOnly)
	}
	ids := make([][]int32, len(texts))
	for i, t := range texts {
		ids[i] = lm.Tok.Encode(t, true, false)
		if len(ids[i]) == 0 {
			return nil, nil, &InputError{Index: i, Err: fmt.Errorf("embed: empty input")}
		}
		if len(ids[i]) > lm.Ctx {
			if !truncate {
				return nil, nil, &InputError{Index: i, Err: fmt.Errorf("%w: %d tokens, context length %d", ErrPromptTooLong, len(ids[i]), lm.Ctx)}
			}
			ids[i] = ids[i][:lm.Ctx]
		}
		counts[i] = len(ids[i])
	}
	err := lm.hiddenPacked(ctx, ids, func(i int, h []float32) error {
		out[i] = lm.pool(h)
		normalize(out[i])
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, counts, nil
}

// RankBatch scores every document for query (Rank's scores), packing the
// pairs into shared steps, and returns the tokens each pair used. A pair
// longer than the context is an *InputError naming the document.
func (lm *LM) RankBatch(ctx context.Context, query string, docs []string) ([]float32, []int, error) {
	if !lm.IsReranker() {
		return nil, nil, ErrNoClassifier
	}
	ids := make([][]int32, len(docs))
	counts := make([]int, len(docs))
	for i, d := range docs {
		ids[i] = lm.RerankIDs(query, d)
		if len(ids[i]) > lm.Ctx {
			return nil, nil, &InputError{Index: i, Err: fmt.Errorf("%w: %d tokens, context length %d", ErrPromptTooLong, len(ids[i]), lm.Ctx)}
		}
		counts[i] = len(ids[i])
	}
	scores := make([]float32, len(docs))
	c := &lm.enc.cls
	err := lm.hiddenPacked(ctx, ids, func(i int, h []float32) error {
		scores[i] = arch.Classify(h[:lm.Hyper.Dim], c.w, c.b, c.out, c.outB, c.labels)[0]
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return scores, counts, nil
}
