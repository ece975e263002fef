package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"dayi/engine"
	"dayi/knowledge"
	"dayi/server"
	"dayi/weights"
)

const kbCorpus = "../../knowledge/testdata/corpus.jsonl"

func kbQueryJSON(t *testing.T, args ...string) []kbHit {
	t.Helper()
	out, err := runDayi(t, append([]string{"kb", "query", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("kb query %v: %v\n%s", args, err, out)
	}
	var hits []kbHit
	if err := json.Unmarshal([]byte(out), &hits); err != nil {
		t.Fatalf("kb query %v: %v\n%s", args, err, out)
	}
	return hits
}

// TestKBEmbedModelRecordedAndEnforced: a knowledge base added with an
// encoder (tiny-bert) records it, queries with it (BM25 fused with its
// vectors), and refuses another model both when adding and when querying.
func TestKBEmbedModelRecordedAndEnforced(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_KB_PG", "")
	bert, nomic := synthFile(t, "tiny-bert"), synthFile(t, "tiny-nomic")
	if out, err := runDayi(t, "kb", "add", "--kb", "e", "--chunk-tokens", "100", "--embed-model", bert, kbCorpus); err != nil || !strings.Contains(out, "1 added") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err := runDayi(t, "kb", "list", "--json")
	if err != nil || !strings.Contains(out, `"tiny-bert.gguf"`) {
		t.Fatalf("list does not name the embedding model: %v\n%s", err, out)
	}
	dense := kbQueryJSON(t, "--kb", "e", "--embed-model", bert, "-k", "3", "华法林 INR 目标")
	lexical := kbQueryJSON(t, "--kb", "e", "-k", "3", "华法林 INR 目标")
	if len(dense) != 3 || len(lexical) != 3 {
		t.Fatalf("%d dense, %d lexical hits", len(dense), len(lexical))
	}
	// Reciprocal-rank fusion scores are Σ 1/(60+rank) over two rankings:
	// at most 2/61; BM25 scores are not bounded so.
	if dense[0].Score > 2.0/61+1e-9 || dense[0].Score < 1.0/61-1e-9 {
		t.Errorf("fused score %g is not a reciprocal-rank fusion score", dense[0].Score)
	}
	if lexical[0].Score <= 2.0/61 {
		t.Errorf("BM25 score %g looks fused", lexical[0].Score)
	}

	// Another model neither adds to nor queries the knowledge base.
	_, err = runDayi(t, "kb", "add", "--kb", "e", "--chunk-tokens", "100", "--embed-model", nomic, "../../knowledge/testdata")
	if !errors.Is(err, knowledge.ErrEmbedMismatch) || !strings.Contains(err.Error(), "tiny-bert.gguf") {
		t.Fatalf("add with another model: %v", err)
	}
	_, err = runDayi(t, "kb", "query", "--kb", "e", "--embed-model", nomic, "x")
	if !errors.Is(err, knowledge.ErrEmbedMismatch) {
		t.Fatalf("query with another model: %v", err)
	}
	// A reranker is no embedding model.
	if _, err := runDayi(t, "kb", "add", "--kb", "r", "--embed-model", synthFile(t, "tiny-bert-rank"), kbCorpus); err == nil {
		t.Fatal("add embedded with a reranker")
	}
}

// TestKBQueryRerank: --rerank-model reorders the top 50 fused candidates by
// the reranker's own scores. The expected order is computed here from the
// candidates (kb query -k 50 without the reranker) scored by the reranker
// loaded directly through the engine.
func TestKBQueryRerank(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_KB_PG", "")
	bert, rank := synthFile(t, "tiny-bert"), synthFile(t, "tiny-bert-rank")
	if out, err := runDayi(t, "kb", "add", "--kb", "e", "--chunk-tokens", "100", "--embed-model", bert, kbCorpus); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	const q = "高血压 起始 药物"
	cands := kbQueryJSON(t, "--kb", "e", "--embed-model", bert, "-k", "50", q)
	if len(cands) < 10 {
		t.Fatalf("%d candidates", len(cands))
	}
	f, err := weights.Open(rank)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(f, engine.Options{KVType: "f16"})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := engine.NewLM(m)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]string, len(cands))
	for i, c := range cands {
		docs[i] = c.Title + "\n" + c.Text
	}
	scores, _, err := lm.RankBatch(t.Context(), q, docs)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		id    int
		score float64
	}
	exp := make([]want, len(cands))
	for i, c := range cands {
		exp[i] = want{c.ID, float64(scores[i])}
	}
	slices.SortStableFunc(exp, func(a, b want) int { return cmp.Compare(b.score, a.score) })

	got := kbQueryJSON(t, "--kb", "e", "--embed-model", bert, "--rerank-model", rank, "-k", "5", q)
	if len(got) != 5 {
		t.Fatalf("%d reranked hits", len(got))
	}
	for i, h := range got {
		if h.ID != exp[i].id || abs(h.Score-exp[i].score) > 1e-4 {
			t.Errorf("rank %d: chunk %d score %g, reranker says chunk %d score %g", i+1, h.ID, h.Score, exp[i].id, exp[i].score)
		}
	}
	// The reranker changed the order the fusion gave (else this test
	// would not show it reorders anything).
	same := true
	for i := range got {
		same = same && got[i].ID == cands[i].ID
	}
	if same {
		t.Errorf("reranked top 5 is the fused top 5: the test proves nothing")
	}
	// A model without a classifier head is refused as a reranker.
	if _, err := runDayi(t, "kb", "query", "--kb", "e", "--rerank-model", bert, q); err == nil || !strings.Contains(err.Error(), "not a reranker") {
		t.Fatalf("embedding model as reranker: %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestServeKBModels: dayi serve --kb-embed-model/--kb-rerank-model give the
// `knowledge` retrieval the same passages, in the same order, as kb query
// with those models (which TestKBQueryRerank checks against the reranker's
// scores), and a model without a classifier head is refused at start.
func TestServeKBModels(t *testing.T) {
	t.Setenv("DAYI_HOME", t.TempDir())
	t.Setenv("DAYI_KB_PG", "")
	bert, rank := synthFile(t, "tiny-bert"), synthFile(t, "tiny-bert-rank")
	if out, err := runDayi(t, "kb", "add", "--kb", "e", "--chunk-tokens", "100", "--embed-model", bert, kbCorpus); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	const q = "高血压 起始 药物"
	want := kbQueryJSON(t, "--kb", "e", "--embed-model", bert, "--rerank-model", rank, "-k", "5", q)
	pf := productFlags{kbEmbed: bert, kbRerank: rank, noMemory: true, noClinic: true, noWebUI: true}
	var cfg server.Config
	closeAll, err := pf.wire(t.Context(), &cfg, engine.Options{Backend: "dayi"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	got, err := cfg.Knowledge.Retrieve(t.Context(), "e", q, 0)
	if err != nil || len(got) != len(want) {
		t.Fatalf("retrieve: %v, %d passages, want %d", err, len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			t.Errorf("passage %d: chunk %d, kb query gives %d", i, got[i].ID, want[i].ID)
		}
	}
	pf.kbRerank = bert
	if _, err := pf.wire(t.Context(), &server.Config{}, engine.Options{Backend: "dayi"}); err == nil || !strings.Contains(err.Error(), "not a reranker") {
		t.Fatalf("wire with an embedding model as reranker: %v", err)
	}
}
