package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/ollama/ollama/api"

	"dayi/engine"
)

// Bounds of the embedding and rerank requests. Each input is one forward
// pass of the model (a rerank document is one pass over query + document),
// so the count bounds the work a request may ask for; the bytes bound the
// tokenizer's work and memory before any model runs (the body limit,
// Config.MaxBodyBytes, also applies, and JSON escapes can make the text
// larger than the body).
const (
	maxEmbedInputs    = 1024
	maxRerankDocs     = 1024
	maxEmbedTextBytes = 16 << 20
)

// checkTexts bounds a request's list of texts named field.
func checkTexts(field string, texts []string, maxCount int) error {
	if len(texts) == 0 {
		return badRequest("%s must not be empty", field)
	}
	if len(texts) > maxCount {
		return badRequest("%s has %d entries; at most %d are allowed in one request", field, len(texts), maxCount)
	}
	total := 0
	for _, t := range texts {
		total += len(t)
		if total > maxEmbedTextBytes {
			return badRequest("%s: more than %d bytes of text in one request", field, maxEmbedTextBytes)
		}
	}
	return nil
}

// shortenChecked applies `dimensions` (Matryoshka truncation: the first
// dims values, renormalised): 0 keeps the whole vector; a negative value or
// more than the model's embedding length is refused rather than ignored.
func shortenChecked(vs [][]float32, dims int) error {
	if dims < 0 {
		return badRequest("dimensions must be positive, not %d", dims)
	}
	if dims > 0 && len(vs) > 0 && dims > len(vs[0]) {
		return badRequest("dimensions %d exceeds the model's embedding length %d", dims, len(vs[0]))
	}
	shorten(vs, dims)
	return nil
}

// rerankRequest is /v1/rerank's and /api/rerank's body: llama.cpp server's
// shape (also Jina's and Cohere's): a query, documents (strings, or objects
// with a "text" as Cohere allows), top_n.
type rerankRequest struct {
	Model           string          `json:"model"`
	Query           string          `json:"query"`
	Documents       json.RawMessage `json:"documents"`
	TopN            *int            `json:"top_n"`
	ReturnDocuments bool            `json:"return_documents"`
	KeepAlive       *api.Duration   `json:"keep_alive"`
}

type rerankDocument struct {
	Text string `json:"text"`
}

// rerankDocIn is a document object as a request sends it.
type rerankDocIn struct {
	Text *string `json:"text"`
	// Image and ImageURL are what multimodal rerankers (Jina's) take; a
	// reranker here reads text, so they are refused rather than scored as
	// an empty text.
	Image    json.RawMessage `json:"image"`
	ImageURL json.RawMessage `json:"image_url"`
}

type rerankResult struct {
	Index          int             `json:"index"`
	RelevanceScore float64         `json:"relevance_score"`
	Document       *rerankDocument `json:"document,omitempty"`
}

// documents reads the documents field: strings or {"text": …} objects.
func rerankDocuments(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("documents is required: an array of strings")
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		return strs, nil
	}
	var objs []rerankDocIn
	if err := json.Unmarshal(raw, &objs); err != nil {
		return nil, badRequest("documents must be an array of strings (or of objects with a text)")
	}
	out := make([]string, len(objs))
	for i, o := range objs {
		f := fmt.Sprintf("documents[%d]", i)
		if err := textOnly(f+".image", o.Image); err != nil {
			return nil, err
		}
		if err := textOnly(f+".image_url", o.ImageURL); err != nil {
			return nil, err
		}
		if o.Text == nil {
			return nil, fieldError(f+".text", "required (a string)")
		}
		out[i] = *o.Text
	}
	return out, nil
}

func (s *Server) handleRerank(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req rerankRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Model == "" {
		s.fail(w, r, badRequest("model is required"))
		return
	}
	if req.Query == "" {
		s.fail(w, r, badRequest("query is required"))
		return
	}
	docs, err := rerankDocuments(req.Documents)
	if err == nil {
		err = checkTexts("documents", docs, maxRerankDocs)
	}
	if err == nil && len(req.Query) > maxEmbedTextBytes {
		err = badRequest("query: more than %d bytes", maxEmbedTextBytes)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i, d := range docs {
		if d == "" {
			s.fail(w, r, badRequest("documents[%d] is empty", i))
			return
		}
	}
	topN := len(docs)
	if req.TopN != nil {
		if *req.TopN < 1 {
			s.fail(w, r, badRequest("top_n must be at least 1, not %d", *req.TopN))
			return
		}
		topN = min(*req.TopN, len(docs))
	}
	scores, n, err := s.rerank(r.Context(), r, req.Model, req.Query, docs, keepAlive(req.KeepAlive))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	results := make([]rerankResult, len(docs))
	for i, sc := range scores {
		results[i] = rerankResult{Index: i, RelevanceScore: float64(sc)}
		if req.ReturnDocuments {
			results[i].Document = &rerankDocument{Text: docs[i]}
		}
	}
	// Highest score first; equal scores keep the documents' order.
	sort.SliceStable(results, func(a, b int) bool { return results[a].RelevanceScore > results[b].RelevanceScore })
	writeJSON(w, http.StatusOK, map[string]any{
		"model": req.Model, "object": "list", "results": results[:topN],
		"usage":          map[string]int{"prompt_tokens": n, "total_tokens": n},
		"total_duration": ns(time.Since(start)),
	})
}

// rerank scores every document for query on a reranker model.
func (s *Server) rerank(ctx context.Context, r *http.Request, model, query string, docs []string, ka *time.Duration) ([]float32, int, error) {
	ri := info(r)
	ri.model = canonical(model)
	release, err := s.admit.acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	if s.fallback != nil && s.fallback.named(model) {
		return nil, 0, badRequest("model %q is served by the Ollama fallback, which does not rerank", model)
	}
	l, _, err := s.reg.acquire(ctx, model)
	if err != nil {
		return nil, 0, err
	}
	defer s.reg.release(l, ka)
	if !l.lm.IsReranker() {
		return nil, 0, badRequest("model %q is not a reranker (it has no classifier head)", model)
	}
	endSession, err := s.reg.session(l)
	if err != nil {
		return nil, 0, err
	}
	defer endSession()
	ri.backend = "local"
	// The pairs are packed into shared steps (engine.RankBatch).
	out, counts, err := l.lm.RankBatch(ctx, query, docs)
	if err != nil {
		var ie *engine.InputError
		if errors.As(err, &ie) && errors.Is(err, engine.ErrPromptTooLong) {
			return nil, 0, badRequest("documents[%d]: query and document: %v", ie.Index, ie.Err)
		}
		return nil, 0, err
	}
	total := 0
	for i, sc := range out {
		if math.IsNaN(float64(sc)) || math.IsInf(float64(sc), 0) {
			return nil, 0, fmt.Errorf("the reranker gave document %d a score that is not a number", i)
		}
		total += counts[i]
	}
	ri.in = total
	return out, total, nil
}
