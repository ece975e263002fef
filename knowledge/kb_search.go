package knowledge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// BM25 parameters: the usual k1 and b of Robertson & Zaragoza, "The
// Probabilistic Relevance Framework: BM25 and Beyond" (2009).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	// rrfK is the constant of reciprocal rank fusion, 60 as in Cormack,
	// Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
	// individual Rank Learning Methods" (SIGIR 2009).
	rrfK = 60
	// fuseDepth is how deep each ranking goes into the fusion.
	fuseDepth = 50
)

// scored is a chunk id with a score.
type scored struct {
	id    uint64
	score float64
}

func topK(m map[uint64]float64, k int) []scored {
	out := make([]scored, 0, len(m))
	for id, s := range m {
		out = append(out, scored{id, s})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return out[i].score > out[j].score
		}
		return out[i].id < out[j].id
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// posting is one chunk's entry for a term: its term frequency and length.
type posting struct {
	id     uint64
	tf, dl float64
}

// bm25 ranks chunks for the query terms from the bbolt postings.
func bm25(tx *bolt.Tx, query string, k int) []scored {
	m := tx.Bucket(bucketMeta)
	c := tx.Bucket(bucketPost).Cursor()
	var ps []posting
	return scoreBM25(float64(counter(m, keyN)), float64(counter(m, keyTotalLen)), query, k, func(term string) []posting {
		prefix := append([]byte(term), 0)
		ps = ps[:0]
		for key, v := c.Seek(prefix); key != nil && bytes.HasPrefix(key, prefix); key, v = c.Next() {
			if len(key) != len(prefix)+8 {
				continue
			}
			tf, a := binary.Uvarint(v)
			dl, b := binary.Uvarint(v[max(a, 0):])
			if a <= 0 || b <= 0 {
				continue
			}
			ps = append(ps, posting{binary.BigEndian.Uint64(key[len(prefix):]), float64(tf), float64(dl)})
		}
		return ps
	})
}

// scoreBM25 is the one BM25 of both stores: given the chunk count n, the
// total length and each query term's postings, it returns the k best
// chunks. Terms are scored in sorted order so that the floating-point sums,
// and with them the ranking of near ties, are the same on every run and in
// every store.
func scoreBM25(n, totalLen float64, query string, k int, postings func(term string) []posting) []scored {
	if n == 0 {
		return nil
	}
	avgdl := totalLen / n
	qtf, _ := termCounts(query)
	terms := make([]string, 0, len(qtf))
	for t := range qtf {
		terms = append(terms, t)
	}
	sort.Strings(terms)
	scores := map[uint64]float64{}
	for _, term := range terms {
		ps := postings(term)
		df := float64(len(ps))
		if df == 0 {
			continue
		}
		// the idf of Lucene's BM25, always positive
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for _, p := range ps {
			scores[p.id] += float64(qtf[term]) * idf * p.tf * (bm25K1 + 1) / (p.tf + bm25K1*(1-bm25B+bm25B*p.dl/avgdl))
		}
	}
	return topK(scores, k)
}

// dense ranks chunks by cosine similarity (vectors are normalised, so a dot
// product) with the query vector, by a full scan: exact, and fast enough for
// a hospital's guideline collection (100k chunks × 1k dims is 0.1 G mult-adds).
func dense(tx *bolt.Tx, q []float32, k int) []scored {
	scores := map[uint64]float64{}
	_ = tx.Bucket(bucketVecs).ForEach(func(key, v []byte) error {
		if len(key) == 8 {
			scoreVec(scores, binary.BigEndian.Uint64(key), q, v)
		}
		return nil
	})
	return topK(scores, k)
}

// scoreVec adds chunk id's dot product with q to scores; v is the stored
// little-endian float32s (a vector of another length is passed over).
func scoreVec(scores map[uint64]float64, id uint64, q []float32, v []byte) {
	if len(v) != 4*len(q) {
		return
	}
	var dot float64
	for i, x := range q {
		dot += float64(x) * float64(math.Float32frombits(binary.LittleEndian.Uint32(v[4*i:])))
	}
	scores[id] = dot
}

// ErrEmbedMismatch is returned when the query embedder is not the model the
// knowledge base was embedded with.
var ErrEmbedMismatch = errors.New("embedding model mismatch")

// Query returns the k best chunks for query: BM25 alone, or BM25 and dense
// similarity fused by reciprocal rank when the knowledge base has vectors and
// Options.Embedder is the model that made them.
func (kb *KB) Query(ctx context.Context, query string, k int) ([]Hit, error) {
	if k <= 0 {
		k = 5
	}
	var embedModel string
	if err := kb.db.View(func(tx *bolt.Tx) error {
		embedModel = string(tx.Bucket(bucketMeta).Get(keyEmbed))
		return nil
	}); err != nil {
		return nil, err
	}
	var qv []float32
	if e := kb.opt.Embedder; e != nil {
		if embedModel != e.Name() {
			return nil, fmt.Errorf("%w: query with %q, knowledge base embedded with %q", ErrEmbedMismatch, e.Name(), embedModel)
		}
		v, err := e.Embed(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("embedding the query: %w", err)
		}
		qv = v
	}
	var hits []Hit
	err := kb.db.View(func(tx *bolt.Tx) error {
		var ranked []scored
		if qv == nil {
			ranked = bm25(tx, query, k)
		} else {
			ranked = fuse(k, bm25(tx, query, fuseDepth), dense(tx, qv, fuseDepth))
		}
		cb := tx.Bucket(bucketChunks)
		for _, s := range ranked {
			val := cb.Get(idKey(s.id))
			if val == nil {
				continue
			}
			h, text, err := kb.readChunk(val)
			if err != nil {
				return fmt.Errorf("chunk %d: %w", s.id, err)
			}
			hits = append(hits, Hit{Passage: Passage{ID: int(s.id), Source: h.Source, Title: h.Title, Location: h.Location, Text: text}, Score: s.score})
		}
		return nil
	})
	return hits, err
}

// fuse merges rankings by reciprocal rank fusion: score = Σ 1/(rrfK + rank).
func fuse(k int, rankings ...[]scored) []scored {
	m := map[uint64]float64{}
	for _, r := range rankings {
		for i, s := range r {
			m[s.id] += 1 / float64(rrfK+i+1)
		}
	}
	return topK(m, k)
}
