package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"dayi/knowledge"
)

// A retrieval set (eval/retrieval/ is dayi's own) is a directory holding
// passages.jsonl and queries.jsonl; see eval/retrieval/README.md.

// RetrievalPassage is one passage of a retrieval set.
type RetrievalPassage struct {
	ID   string `json:"id"`
	Lang string `json:"lang"`
	Text string `json:"text"`
}

// RetrievalQuery is one query with the ids of the passages that answer it.
type RetrievalQuery struct {
	ID       string   `json:"id"`
	Lang     string   `json:"lang"`
	Kind     string   `json:"kind"` // how it was paraphrased: synonym, lay, cross
	Query    string   `json:"query"`
	Relevant []string `json:"relevant"`
}

// RetrievalSet is a loaded, checked set.
type RetrievalSet struct {
	Passages []RetrievalPassage
	Queries  []RetrievalQuery
}

// Limits on a set: it is read whole into memory and indexed into a
// temporary knowledge base.
const (
	maxSetFileBytes = 64 << 20
	maxSetLineBytes = 1 << 20
	maxSetRecords   = 200000
)

// LoadRetrievalSet reads and checks DIR/passages.jsonl and
// DIR/queries.jsonl: ids unique and non-empty, every query with at least
// one relevant passage that the set holds.
func LoadRetrievalSet(dir string) (*RetrievalSet, error) {
	var set RetrievalSet
	if err := readJSONL(filepath.Join(dir, "passages.jsonl"), &set.Passages); err != nil {
		return nil, err
	}
	if err := readJSONL(filepath.Join(dir, "queries.jsonl"), &set.Queries); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for i, p := range set.Passages {
		switch {
		case p.ID == "":
			return nil, fmt.Errorf("passages.jsonl line %d: no id", i+1)
		case ids[p.ID]:
			return nil, fmt.Errorf("passages.jsonl line %d: id %q twice", i+1, p.ID)
		case strings.TrimSpace(p.Text) == "":
			return nil, fmt.Errorf("passages.jsonl line %d: passage %q has no text", i+1, p.ID)
		}
		ids[p.ID] = true
	}
	qids := map[string]bool{}
	for i, q := range set.Queries {
		switch {
		case q.ID == "" || qids[q.ID]:
			return nil, fmt.Errorf("queries.jsonl line %d: missing or repeated id %q", i+1, q.ID)
		case strings.TrimSpace(q.Query) == "":
			return nil, fmt.Errorf("queries.jsonl line %d: query %q has no text", i+1, q.ID)
		case len(q.Relevant) == 0:
			return nil, fmt.Errorf("queries.jsonl line %d: query %q has no relevant passage", i+1, q.ID)
		}
		qids[q.ID] = true
		for _, r := range q.Relevant {
			if !ids[r] {
				return nil, fmt.Errorf("queries.jsonl line %d: query %q: relevant passage %q is not in passages.jsonl", i+1, q.ID, r)
			}
		}
	}
	if len(set.Passages) == 0 || len(set.Queries) == 0 {
		return nil, fmt.Errorf("retrieval set %s: %d passages, %d queries", dir, len(set.Passages), len(set.Queries))
	}
	return &set, nil
}

func readJSONL[T any](path string, out *[]T) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("retrieval set: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() > maxSetFileBytes || !st.Mode().IsRegular() {
		return fmt.Errorf("retrieval set %s: not a regular file of at most %d bytes", path, maxSetFileBytes)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxSetLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(*out) >= maxSetRecords {
			return fmt.Errorf("retrieval set %s: more than %d records", path, maxSetRecords)
		}
		var v T
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("retrieval set %s line %d: %w", path, n, err)
		}
		*out = append(*out, v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("retrieval set %s: %w", path, err)
	}
	return nil
}

// RetrievalMetrics are the means over a set's queries.
type RetrievalMetrics struct {
	Queries int `json:"queries"`
	// RecallAt1 and RecallAt5: the share of a query's relevant passages
	// found in the first 1 or 5 results (for one relevant passage, 1 or 0).
	RecallAt1 float64 `json:"recall_at_1"`
	RecallAt5 float64 `json:"recall_at_5"`
	// MRRAt10: 1/rank of the first relevant passage, 0 when none is in
	// the first 10.
	MRRAt10 float64 `json:"mrr_at_10"`
}

// ScoreRanking returns recall@1, recall@5 and reciprocal rank @10 of one
// ranking (passage ids, best first; repeats count once, at their first
// place) against the relevant ids.
func ScoreRanking(relevant, ranked []string) (r1, r5, rr float64) {
	rel := map[string]bool{}
	for _, r := range relevant {
		rel[r] = true
	}
	if len(rel) == 0 {
		return 0, 0, 0
	}
	seen := map[string]bool{}
	rank, found1, found5 := 0, 0, 0
	for _, id := range ranked {
		if seen[id] {
			continue
		}
		seen[id] = true
		rank++
		if !rel[id] {
			continue
		}
		if rank <= 1 {
			found1++
		}
		if rank <= 5 {
			found5++
		}
		if rr == 0 && rank <= 10 {
			rr = 1 / float64(rank)
		}
	}
	n := float64(len(rel))
	return float64(found1) / n, float64(found5) / n, rr
}

// ScoreRankings averages ScoreRanking over the queries; rankings[i] is
// queries[i]'s.
func ScoreRankings(queries []RetrievalQuery, rankings [][]string) RetrievalMetrics {
	m := RetrievalMetrics{Queries: len(queries)}
	if len(queries) == 0 {
		return m
	}
	for i, q := range queries {
		r1, r5, rr := ScoreRanking(q.Relevant, rankings[i])
		m.RecallAt1 += r1
		m.RecallAt5 += r5
		m.MRRAt10 += rr
	}
	n := float64(len(queries))
	m.RecallAt1 /= n
	m.RecallAt5 /= n
	m.MRRAt10 /= n
	return m
}

// RetrievalRun is one pipeline's result.
type RetrievalRun struct {
	Pipeline string `json:"pipeline"` // bm25, bm25+dense, bm25+dense+rerank, bm25+rerank
	RetrievalMetrics
	// ByGroup splits the queries by language and kind: "zh→zh", "en→zh"
	// (an English query whose answer is Chinese), …
	ByGroup map[string]RetrievalMetrics `json:"by_group"`
}

// RetrievalReport is what `dayi kb eval` prints.
type RetrievalReport struct {
	Passages    int            `json:"passages"`
	Queries     int            `json:"queries"`
	EmbedModel  string         `json:"embed_model,omitempty"`
	RerankModel string         `json:"rerank_model,omitempty"`
	Runs        []RetrievalRun `json:"runs"`
}

// RetrievalOptions pick the pipelines: BM25 always, fused with Embedder's
// vectors when set, then reordered by Reranker over the top
// knowledge.RerankDepth when set.
type RetrievalOptions struct {
	Embedder knowledge.Embedder
	Reranker knowledge.Reranker
	// RerankName names the reranker in the report.
	RerankName string
	// Progress, when set, is told what is being done.
	Progress func(stage string, done, total int)
}

// EvalRetrieval indexes the set's passages into a temporary knowledge base
// (one JSON line each, the passage id as its source, chunked and analysed
// as `dayi kb add` does) and runs every query through each pipeline as
// `dayi kb query` does: BM25; BM25 and the embeddings fused by reciprocal
// rank; the reranker over the top 50 of the previous one.
func EvalRetrieval(ctx context.Context, set *RetrievalSet, opt RetrievalOptions) (*RetrievalReport, error) {
	dir, err := os.MkdirTemp("", "dayi-kbeval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var buf bytes.Buffer
	for _, p := range set.Passages {
		line, err := json.Marshal(map[string]string{"text": p.Text, "source": p.ID, "title": "-"})
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	kopt := knowledge.Options{Embedder: opt.Embedder}
	if opt.Embedder != nil && opt.Progress != nil {
		n := 0
		kopt.Embedder = progressEmbedder{Embedder: opt.Embedder, f: func() { n++; opt.Progress("embedding passages", n, len(set.Passages)) }}
	}
	kb, err := knowledge.Open(dir, kopt)
	if err != nil {
		return nil, err
	}
	rep, err := kb.AddDocs(ctx, []knowledge.Upload{{Name: "passages.jsonl", Data: buf.Bytes()}})
	kb.Close()
	if err != nil {
		return nil, fmt.Errorf("indexing the passages: %w", err)
	}
	if len(rep.Skipped) > 0 {
		return nil, fmt.Errorf("indexing the passages: %s skipped: %s", rep.Skipped[0].Path, rep.Skipped[0].Reason)
	}
	out := &RetrievalReport{Passages: len(set.Passages), Queries: len(set.Queries), RerankModel: opt.RerankName}
	if opt.Embedder != nil {
		out.EmbedModel = opt.Embedder.Name()
	}
	type pipeline struct {
		name string
		emb  knowledge.Embedder
	}
	pipes := []pipeline{{"bm25", nil}}
	if opt.Embedder != nil {
		pipes = append(pipes, pipeline{"bm25+dense", opt.Embedder})
	}
	var last []([]knowledge.Hit)
	for _, p := range pipes {
		hits, err := queryAll(ctx, dir, set, p.emb, opt.Progress, p.name)
		if err != nil {
			return nil, err
		}
		out.Runs = append(out.Runs, scoreRun(p.name, set, hits))
		last = hits
	}
	if opt.Reranker != nil {
		name := out.Runs[len(out.Runs)-1].Pipeline + "+rerank"
		reranked := make([][]knowledge.Hit, len(last))
		for i, q := range set.Queries {
			if opt.Progress != nil {
				opt.Progress(name, i, len(set.Queries))
			}
			if reranked[i], err = knowledge.Rerank(ctx, opt.Reranker, q.Query, last[i], 0); err != nil {
				return nil, fmt.Errorf("query %s: %w", q.ID, err)
			}
		}
		out.Runs = append(out.Runs, scoreRun(name, set, reranked))
	}
	return out, nil
}

// queryAll runs every query against the knowledge base in dir, the top
// knowledge.RerankDepth of each.
func queryAll(ctx context.Context, dir string, set *RetrievalSet, e knowledge.Embedder, progress func(string, int, int), name string) ([][]knowledge.Hit, error) {
	kb, err := knowledge.OpenReadOnly(dir, knowledge.Options{Embedder: e})
	if err != nil {
		return nil, err
	}
	defer kb.Close()
	out := make([][]knowledge.Hit, len(set.Queries))
	for i, q := range set.Queries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(name, i, len(set.Queries))
		}
		if out[i], err = kb.Query(ctx, q.Query, knowledge.RerankDepth); err != nil {
			return nil, fmt.Errorf("query %s: %w", q.ID, err)
		}
	}
	return out, nil
}

func scoreRun(name string, set *RetrievalSet, hits [][]knowledge.Hit) RetrievalRun {
	queries := set.Queries
	lang := make(map[string]string, len(set.Passages))
	for _, p := range set.Passages {
		lang[p.ID] = p.Lang
	}
	rankings := make([][]string, len(hits))
	for i, hs := range hits {
		for _, h := range hs {
			rankings[i] = append(rankings[i], h.Source)
		}
	}
	run := RetrievalRun{Pipeline: name, RetrievalMetrics: ScoreRankings(queries, rankings), ByGroup: map[string]RetrievalMetrics{}}
	groups := map[string][]int{}
	for i, q := range queries {
		g := q.Lang + "→" + lang[q.Relevant[0]]
		groups[g] = append(groups[g], i)
	}
	for g, idx := range groups {
		qs := make([]RetrievalQuery, len(idx))
		rs := make([][]string, len(idx))
		for j, i := range idx {
			qs[j], rs[j] = queries[i], rankings[i]
		}
		run.ByGroup[g] = ScoreRankings(qs, rs)
	}
	return run
}

// progressEmbedder counts the texts embedded.
type progressEmbedder struct {
	knowledge.Embedder
	f func()
}

func (p progressEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	v, err := p.Embedder.Embed(ctx, text)
	p.f()
	return v, err
}
