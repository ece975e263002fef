package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"testing"
)

// bertRef is gen.mjs's output (engine/testdata/embed/README.md).
type bertRef struct {
	Arch  string     `json:"llama_cpp_arch_log"`
	Query string     `json:"query"`
	Cases []bertCase `json:"cases"`
}

// bertCase is one text of a bertRef with llama.cpp's ids and embedding.
type bertCase struct {
	Text        string    `json:"text"`
	TextIDs     []int32   `json:"text_ids"`
	InputLength int       `json:"input_length"`
	Embedding   []float64 `json:"embedding"`
	Document    string    `json:"document"`
	Score       float64   `json:"score"`
}

// checkEmbedding checks one text against llama.cpp: its ids (BOS, text,
// EOS), the pooled vector, and the L2-normalised embedding within tol
// (cosine ≥ 0.9999, unit norm).
func checkEmbedding(t *testing.T, lm *LM, c bertCase, bos, eos int32, tol float64) {
	t.Helper()
	ctx := context.Background()
	ids := lm.Tok.Encode(c.Text, true, false)
	want := slices.Concat([]int32{bos}, c.TextIDs, []int32{eos})
	if !slices.Equal(ids, want) || len(ids) != c.InputLength {
		t.Fatalf("%q: ids %v, llama.cpp's %v (%d)", c.Text, ids, want, c.InputLength)
	}
	pooled, err := lm.Pooled(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	emb, n, err := lm.Embed(ctx, c.Text, false)
	if err != nil || n != len(ids) {
		t.Fatalf("%q: embed: %v (%d tokens)", c.Text, err, n)
	}
	wantN := l2(c.Embedding)
	var rawDiff, diff, dot, na, nb float64
	for j, v := range c.Embedding {
		rawDiff = math.Max(rawDiff, math.Abs(float64(pooled[j])-v))
		diff = math.Max(diff, math.Abs(float64(emb[j])-wantN[j]))
		dot += float64(emb[j]) * wantN[j]
		na += float64(emb[j]) * float64(emb[j])
		nb += wantN[j] * wantN[j]
	}
	cos := dot / math.Sqrt(na*nb)
	t.Logf("%q: %d tokens, pooled max|diff| %.2g, normalised %.2g, cosine %.9f", c.Text, n, rawDiff, diff, cos)
	if diff > tol || cos < 0.9999 || math.Abs(na-1) > 1e-5 {
		t.Errorf("%q: normalised embedding differs by %g (tolerance %g), cosine %.7f, norm² %g", c.Text, diff, tol, cos, na)
	}
}

// synthLM writes a preset (seed 7, f32) in memory and loads it with opt.
func synthLM(t *testing.T, preset string, opt Options) *LM {
	t.Helper()
	f := synthModel(t, preset)
	m, err := Load(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func readBertRef(t *testing.T, name string) bertRef {
	t.Helper()
	data, err := os.ReadFile("testdata/embed/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ref bertRef
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 4 {
		t.Fatalf("%s: %d cases", name, len(ref.Cases))
	}
	return ref
}

// l2 normalises as llama.cpp's common_embd_normalize(…, 2).
func l2(v []float64) []float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / math.Sqrt(s)
	}
	return out
}

// TestBertEmbeddingsMatchLlamaCpp compares dayi's bert encoder with
// llama.cpp on the tiny-bert presets (mean and CLS pooling): the
// tokenization ([CLS] text [SEP]), the pooled vector (before
// normalisation) and the L2-normalised embedding, within 1e-4 and cosine ≥
// 0.9999 as issue 18 asks (measured: ≤ 3e-6). With an F32 cache dayi is
// compared with llama.cpp without flash attention (F32 K/V); with an F16
// cache with llama.cpp's flash attention, which rounds K and V to f16
// (llama-graph.cpp build_attn_mha casts them for a cache-less encoder).
func TestBertEmbeddingsMatchLlamaCpp(t *testing.T) {
	for _, tc := range []struct {
		preset, ref string
		opt         Options
		tol         float64 // on the normalised embedding
	}{
		{"tiny-bert", "tiny-bert.json", Options{Backend: "go", Buckets: []int{8, 32}}, 1e-4},
		{"tiny-bert", "tiny-bert.json", Options{Backend: "dayi", KVType: "f32", Buckets: []int{8, 32}}, 1e-4},
		{"tiny-bert-cls", "tiny-bert-cls.json", Options{Backend: "dayi", KVType: "f32", Buckets: []int{8, 32}}, 1e-4},
		// llama.cpp's CPU flash attention rounds Q to f16 as well and sums
		// the weighted V rows in f16 (ggml-cpu ops.cpp
		// ggml_compute_forward_flash_attn_ext_f16_one_chunk: VKQ16 with
		// ggml_vec_mad_f16); dayi's F16 cache rounds K and V only. Measured:
		// ≤ 2e-4 on the normalised vectors, cosine ≥ 0.9999998.
		{"tiny-bert", "tiny-bert-fa.json", Options{Backend: "dayi", KVType: "f16", Buckets: []int{8, 32}}, 4e-4},
		{"tiny-bert-cls", "tiny-bert-cls-fa.json", Options{Backend: "dayi", KVType: "f16", Buckets: []int{8, 32}}, 4e-4},
	} {
		t.Run(tc.ref+"/"+tc.opt.Backend+"-"+tc.opt.KVType, func(t *testing.T) {
			ref := readBertRef(t, tc.ref)
			if ref.Arch == "" || !bytes.Contains([]byte(ref.Arch), []byte("bert")) {
				t.Fatalf("llama.cpp's log does not say it loaded a bert model: %q", ref.Arch)
			}
			lm := synthLM(t, tc.preset, tc.opt)
			if !lm.IsEncoder() || lm.IsReranker() {
				t.Fatalf("encoder %v reranker %v", lm.IsEncoder(), lm.IsReranker())
			}
			if want := map[string]Pooling{"tiny-bert": PoolMean, "tiny-bert-cls": PoolCLS}[tc.preset]; lm.Pooling() != want {
				t.Fatalf("pooling %d, want %d", lm.Pooling(), want)
			}
			ctx := context.Background()
			for _, c := range ref.Cases {
				checkEmbedding(t, lm, c, 101, 102, tc.tol)
			}
			// Packed: several texts in one step, each attending to itself
			// only and starting at position 0, give the same embeddings.
			// Buckets 8 and 32 pack the 6+15, 13, 24 and 3-token texts
			// into four steps (and the 3 after the 24 alone).
			var texts []string
			for _, c := range ref.Cases {
				texts = append(texts, c.Text)
			}
			for _, buckets := range [][]int{tc.opt.Buckets, {64}} {
				opt := tc.opt
				opt.Buckets = buckets
				blm := synthLM(t, tc.preset, opt)
				embs, counts, err := blm.EmbedBatch(ctx, texts, false)
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range ref.Cases {
					want := l2(c.Embedding)
					diff := 0.0
					for j := range want {
						diff = math.Max(diff, math.Abs(float64(embs[i][j])-want[j]))
					}
					if diff > tc.tol || counts[i] != c.InputLength {
						t.Errorf("packed (buckets %v) %q: differs by %g, %d tokens (llama.cpp %d)", buckets, c.Text, diff, counts[i], c.InputLength)
					}
				}
			}
			// An encoder does not generate.
			s, err := lm.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Eval(ctx, []int32{101, 102}); !errors.Is(err, ErrEncoderOnly) {
				t.Errorf("Eval on an encoder: %v, want ErrEncoderOnly", err)
			}
		})
	}
}

// TestBertRerankMatchesLlamaCpp compares the reranker (tiny-bert-rank: rank
// pooling, classifier head) with llama.cpp's ranking context: the pair's
// token ids ([CLS] query [SEP] document) and the raw score within 1e-3.
func TestBertRerankMatchesLlamaCpp(t *testing.T) {
	for _, tc := range []struct {
		ref string
		opt Options
	}{
		{"tiny-bert-rank.json", Options{Backend: "dayi", KVType: "f32", Buckets: []int{8, 32}}},
		{"tiny-bert-rank.json", Options{Backend: "go", Buckets: []int{8, 32}}},
		{"tiny-bert-rank-fa.json", Options{Backend: "dayi", KVType: "f16", Buckets: []int{8, 32}}},
	} {
		t.Run(tc.ref+"/"+tc.opt.Backend, func(t *testing.T) {
			ref := readBertRef(t, tc.ref)
			lm := synthLM(t, "tiny-bert-rank", tc.opt)
			if !lm.IsReranker() || lm.Pooling() != PoolRank {
				t.Fatalf("reranker %v pooling %d", lm.IsReranker(), lm.Pooling())
			}
			ctx := context.Background()
			scores := map[float32]bool{}
			for _, c := range ref.Cases {
				ids := lm.RerankIDs(ref.Query, c.Document)
				q := lm.Tok.Encode(ref.Query, false, false)
				d := lm.Tok.Encode(c.Document, false, false)
				want := slices.Concat([]int32{101}, q, []int32{102}, d)
				if !slices.Equal(ids, want) || len(ids) != c.InputLength {
					t.Fatalf("%q: ids %v, want %v (llama.cpp: %d tokens)", c.Document, ids, want, c.InputLength)
				}
				got, n, err := lm.Rank(ctx, ref.Query, c.Document)
				if err != nil || n != len(ids) {
					t.Fatalf("%q: rank: %v (%d tokens)", c.Document, err, n)
				}
				t.Logf("%q: score %.6f, llama.cpp %.6f", c.Document, got, c.Score)
				if d := math.Abs(float64(got) - c.Score); d > 1e-3 {
					t.Errorf("%q: score %g, llama.cpp %g (|diff| %g > 1e-3)", c.Document, got, c.Score, d)
				}
				scores[got] = true
			}
			var docs []string
			for _, c := range ref.Cases {
				docs = append(docs, c.Document)
			}
			packed, counts, err := lm.RankBatch(ctx, ref.Query, docs)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range ref.Cases {
				if d := math.Abs(float64(packed[i]) - c.Score); d > 1e-3 || counts[i] != c.InputLength {
					t.Errorf("packed %q: score %g, llama.cpp %g; %d tokens (llama.cpp %d)", c.Document, packed[i], c.Score, counts[i], c.InputLength)
				}
			}
			if len(scores) < 3 {
				t.Errorf("scores %v: the documents should score differently", scores)
			}
			if _, _, err := lm.Embed(ctx, "x", false); !errors.Is(err, ErrEncoderOnly) {
				t.Errorf("Embed on a reranker: %v, want ErrEncoderOnly", err)
			}
		})
	}
}
