package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"dayi/benchmarks/synth"
	"dayi/internal/testref"
	"dayi/weights"
)

// synthFile writes a synthesiser preset (seed 7, f32, the vocabulary of
// testdata/vocab) to a temporary GGUF: the same file the llama.cpp
// references of engine/testdata/embed were computed on.
func synthFile(t *testing.T, preset string) string {
	t.Helper()
	spec, err := synth.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	vf, err := weights.Open(testref.File(t, "vocab", spec.VocabFile))
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	path := filepath.Join(t.TempDir(), preset+".gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Write(f, spec, vf, 7, func(string, []int64) weights.Type { return weights.TypeF32 }, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// embedRef is the part of engine/testdata/embed's llama.cpp references
// these tests read.
type embedRef struct {
	Query string `json:"query"`
	Cases []struct {
		Text      string    `json:"text"`
		Embedding []float64 `json:"embedding"`
		Document  string    `json:"document"`
		Score     float64   `json:"score"`
	} `json:"cases"`
}

func readEmbedRef(t *testing.T, name string) embedRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "engine", "testdata", "embed", name))
	if err != nil {
		t.Fatal(err)
	}
	var ref embedRef
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(ref.Cases) < 3 {
		t.Fatalf("%s: %d cases", name, len(ref.Cases))
	}
	return ref
}

// normalized is llama.cpp's common_embd_normalize(…, 2).
func normalized(v []float64) []float64 {
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

func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d dimensions, llama.cpp %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol {
			t.Fatalf("%s[%d] = %g, llama.cpp %g (|diff| %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

// TestEmbedCommandMatchesLlamaCpp runs dayi embed on the tiny-bert file
// (default f16 cache, so llama.cpp's flash-attention reference) and checks
// every vector against llama.cpp's, as --json, as plain text and from
// stdin lines.
func TestEmbedCommandMatchesLlamaCpp(t *testing.T) {
	path := synthFile(t, "tiny-bert")
	ref := readEmbedRef(t, "tiny-bert-fa.json")
	var texts []string
	for _, c := range ref.Cases {
		texts = append(texts, c.Text)
	}
	out, err := runDayi(t, append([]string{"embed", "--model", path, "--json"}, texts...)...)
	if err != nil {
		t.Fatalf("embed: %v\n%s", err, out)
	}
	var got embedOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if got.Model != "tiny-bert.gguf" || len(got.Embeddings) != len(texts) {
		t.Fatalf("model %q, %d embeddings for %d texts", got.Model, len(got.Embeddings), len(texts))
	}
	for i, c := range ref.Cases {
		closeTo(t, c.Text, got.Embeddings[i], normalized(c.Embedding), 1e-4)
	}

	// Plain output: one line per text, the same numbers.
	out, err = runDayi(t, append([]string{"embed", "--model", path}, texts...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d lines for %d texts:\n%s", len(lines), len(texts), out)
	}
	for i, line := range lines {
		var v []float32
		for _, f := range strings.Fields(line) {
			x, err := strconv.ParseFloat(f, 32)
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			v = append(v, float32(x))
		}
		closeTo(t, "plain "+ref.Cases[i].Text, v, normalized(ref.Cases[i].Embedding), 1e-4)
	}

	// Stdin: one text per non-empty line.
	in, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString(texts[0] + "\n\n" + texts[1] + "\r\n")
	in.Seek(0, 0)
	old := os.Stdin
	os.Stdin = in
	out, err = runDayi(t, "embed", "--model", path, "--json")
	os.Stdin = old
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Embeddings) != 2 {
		t.Fatalf("stdin: %v, %d embeddings\n%s", err, len(got.Embeddings), out)
	}
	closeTo(t, "stdin "+texts[1], got.Embeddings[1], normalized(ref.Cases[1].Embedding), 1e-4)
}

// TestEmbedCommandRefusesReranker: a reranker has no embedding to give.
func TestEmbedCommandRefusesReranker(t *testing.T) {
	path := synthFile(t, "tiny-bert-rank")
	if out, err := runDayi(t, "embed", "--model", path, "x"); err == nil || !strings.Contains(err.Error(), "rerank") {
		t.Fatalf("embed with a reranker: %v\n%s", err, out)
	}
}

// TestRerankCommandMatchesLlamaCpp runs dayi rerank on tiny-bert-rank and
// checks each score against llama.cpp's, the order (best first) and the
// indices pointing back at the arguments, and --top-n.
func TestRerankCommandMatchesLlamaCpp(t *testing.T) {
	path := synthFile(t, "tiny-bert-rank")
	ref := readEmbedRef(t, "tiny-bert-rank-fa.json")
	args := []string{"rerank", "--model", path, "--query", ref.Query, "--json"}
	var docs []string
	for _, c := range ref.Cases {
		docs = append(docs, c.Document)
	}
	out, err := runDayi(t, append(args, docs...)...)
	if err != nil {
		t.Fatalf("rerank: %v\n%s", err, out)
	}
	var hits []rerankHit
	if err := json.Unmarshal([]byte(out), &hits); err != nil || len(hits) != len(docs) {
		t.Fatalf("json: %v, %d hits\n%s", err, len(hits), out)
	}
	seen := map[int]bool{}
	for i, h := range hits {
		if h.Index < 0 || h.Index >= len(docs) || seen[h.Index] {
			t.Fatalf("hit %d: index %d", i, h.Index)
		}
		seen[h.Index] = true
		c := ref.Cases[h.Index]
		if h.Document != c.Document {
			t.Errorf("hit %d: document %q, argument %d is %q", i, h.Document, h.Index, c.Document)
		}
		if d := math.Abs(h.RelevanceScore - c.Score); d > 1e-3 {
			t.Errorf("%q: score %g, llama.cpp %g", c.Document, h.RelevanceScore, c.Score)
		}
		if i > 0 && h.RelevanceScore > hits[i-1].RelevanceScore {
			t.Errorf("not sorted: %g after %g", h.RelevanceScore, hits[i-1].RelevanceScore)
		}
	}
	// The best by llama.cpp's scores comes first.
	best := 0
	for i, c := range ref.Cases {
		if c.Score > ref.Cases[best].Score {
			best = i
		}
	}
	if hits[0].Index != best {
		t.Errorf("first %d, llama.cpp's best %d", hits[0].Index, best)
	}
	out, err = runDayi(t, append(append([]string{}, args...), append([]string{"--top-n", "2"}, docs...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	var top []rerankHit
	if err := json.Unmarshal([]byte(out), &top); err != nil || len(top) != 2 || top[0].Index != best || top[1].Index != hits[1].Index {
		t.Fatalf("--top-n 2: %v %+v", err, top)
	}
	for _, bad := range [][]string{
		{"rerank", "--model", path, "doc"},                               // no query
		{"rerank", "--model", path, "-q", "q", "--top-n", "-1", "doc"},   // negative top-n
		{"rerank", "--model", synthFile(t, "tiny-bert"), "-q", "q", "d"}, // not a reranker
	} {
		if _, err := runDayi(t, bad...); err == nil {
			t.Errorf("%v: accepted", bad[3:])
		}
	}
}
