package knowledge

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// RerankDepth is how many fused candidates a reranker rescores: the top 50,
// as issue 18 asks. A cross-encoder reads every (query, passage) pair, so
// its cost grows with the depth; 50 keeps a query on a CPU within seconds
// for a small reranker while letting it lift a passage that BM25 and the
// embeddings both placed low.
const RerankDepth = 50

// Reranker scores documents for a query with a cross-encoder (higher is
// more relevant), one score per document in order.
type Reranker interface {
	Rank(ctx context.Context, query string, docs []string) ([]float32, error)
}

// Rerank rescores hits with r and returns the k best by its scores (all when
// k <= 0), each Hit.Score replaced by the reranker's. Equal scores keep the
// retrieval order. The reranker reads the passage with its title, as it was
// indexed.
func Rerank(ctx context.Context, r Reranker, query string, hits []Hit, k int) ([]Hit, error) {
	if len(hits) == 0 {
		return hits, nil
	}
	docs := make([]string, len(hits))
	for i, h := range hits {
		docs[i] = h.Text
		if h.Title != "" {
			docs[i] = h.Title + "\n" + h.Text
		}
	}
	scores, err := r.Rank(ctx, query, docs)
	if err != nil {
		return nil, fmt.Errorf("reranking: %w", err)
	}
	if len(scores) != len(hits) {
		return nil, fmt.Errorf("reranking: %d scores for %d passages", len(scores), len(hits))
	}
	out := slices.Clone(hits)
	for i := range out {
		out[i].Score = float64(scores[i])
	}
	slices.SortStableFunc(out, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	if k > 0 && k < len(out) {
		out = out[:k]
	}
	return out, nil
}
