package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dayi/eval"
)

type kbEvalOut struct {
	eval.RetrievalReport
	Note string `json:"note"`
}

func kbEvalJSON(t *testing.T, args ...string) kbEvalOut {
	t.Helper()
	out, err := runDayi(t, append([]string{"kb", "eval", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("kb eval %v: %v\n%s", args, err, out)
	}
	var r kbEvalOut
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return r
}

// TestKBEvalStableAcrossModels runs kb eval on eval/retrieval with two
// different random-weight encoders (tiny-bert, tiny-nomic). Their dense
// numbers mean nothing about retrieval quality, so the test asserts what
// the pipeline guarantees: the BM25 row is identical whatever the model,
// the fused rows are proper metrics, and on these fixtures they stay close
// to each other and to BM25 (bounds measured when the set was written:
// fused recall@5 0.205 and 0.250, MRR@10 0.170 and 0.168, against BM25's
// 0.330 and 0.277). The reranker row is checked for plumbing on ten queries
// (a cross-encoder reads 50 passages per query).
func TestKBEvalStableAcrossModels(t *testing.T) {
	const set = "../../eval/retrieval"
	bert, nomic := synthFile(t, "tiny-bert"), synthFile(t, "tiny-nomic")
	a := kbEvalJSON(t, "--set", set, "--embed-model", bert)
	b := kbEvalJSON(t, "--set", set, "--embed-model", nomic)
	if len(a.Runs) != 2 || len(b.Runs) != 2 || a.Runs[1].Pipeline != "bm25+dense" || !strings.Contains(a.Note, "random-weight") {
		t.Fatalf("runs %+v / %+v, note %q", a.Runs, b.Runs, a.Note)
	}
	if a.Runs[0].RetrievalMetrics != b.Runs[0].RetrievalMetrics || a.EmbedModel != "tiny-bert.gguf" || b.EmbedModel != "tiny-nomic.gguf" {
		t.Errorf("BM25 changed with the embedding model: %+v / %+v", a.Runs[0], b.Runs[0])
	}
	bm := a.Runs[0].RetrievalMetrics
	for _, r := range []eval.RetrievalRun{a.Runs[1], b.Runs[1]} {
		m := r.RetrievalMetrics
		t.Logf("%s: recall@1 %.3f recall@5 %.3f MRR@10 %.3f", r.Pipeline, m.RecallAt1, m.RecallAt5, m.MRRAt10)
		if m.Queries != 100 || m.RecallAt1 > m.RecallAt5 || m.RecallAt5 > 1 || m.MRRAt10 < 0 ||
			m.RecallAt5 < bm.RecallAt5/2 || m.MRRAt10 < bm.MRRAt10/2 {
			t.Errorf("fused metrics out of bounds: %+v (BM25 %+v)", m, bm)
		}
	}
	for _, d := range []float64{a.Runs[1].RecallAt5 - b.Runs[1].RecallAt5, a.Runs[1].MRRAt10 - b.Runs[1].MRRAt10} {
		if d > 0.1 || d < -0.1 {
			t.Errorf("fused numbers of two random models differ by %.3f", d)
		}
	}

	// ten queries through the reranker
	small := t.TempDir()
	data, err := os.ReadFile(filepath.Join(set, "passages.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(small, "passages.jsonl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(set, "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var qs strings.Builder
	sc := bufio.NewScanner(f)
	for i := 0; i < 10 && sc.Scan(); i++ {
		qs.WriteString(sc.Text() + "\n")
	}
	if err := os.WriteFile(filepath.Join(small, "queries.jsonl"), []byte(qs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kbEvalJSON(t, "--set", small, "--embed-model", bert, "--rerank-model", synthFile(t, "tiny-bert-rank"))
	if len(r.Runs) != 3 || r.Runs[2].Pipeline != "bm25+dense+rerank" || r.Runs[2].Queries != 10 || r.RerankModel != "tiny-bert-rank.gguf" {
		t.Errorf("rerank run: %+v", r.Runs)
	}
	if _, err := runDayi(t, "kb", "eval", "--set", small, "--rerank-model", bert); err == nil {
		t.Error("an embedding model accepted as reranker")
	}
	if _, err := runDayi(t, "kb", "eval"); err == nil {
		t.Error("no --set accepted")
	}
}
