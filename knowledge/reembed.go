package knowledge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ReembedReport says what a Reembed did.
type ReembedReport struct {
	From     string `json:"from"`     // the model the knowledge base was embedded with before ("" for none)
	To       string `json:"to"`       // the model it is embedded with now
	Chunks   int    `json:"chunks"`   // chunks embedded with To after the swap
	Embedded int    `json:"embedded"` // chunks this run embedded
	Resumed  int    `json:"resumed"`  // chunks an interrupted earlier run had already embedded with To
	Rounds   int    `json:"rounds"`   // passes: more than one when another writer added chunks meanwhile
}

// pendingChunk is a chunk still to embed: its id and the text it is
// embedded as (indexText, as at ingest).
type pendingChunk struct {
	id   uint64
	text string
}

// reembedStore is what Reembed needs of a store. The new vectors are built
// aside (a bucket or table of their own, tagged with the model), so that
// until the swap the knowledge base is served, and survives a crash, as it
// was; the swap then replaces every vector and the recorded model in one
// transaction.
type reembedStore interface {
	// reembedPending drops vectors set aside for another model and returns
	// the chunks without one for model, the number that have one, and the
	// model the knowledge base is embedded with now.
	reembedPending(ctx context.Context, model string) (todo []pendingChunk, done int, from string, err error)
	// reembedPut sets vectors aside for model (chunks removed meanwhile
	// are passed over).
	reembedPut(ctx context.Context, model string, ids []uint64, vecs [][]float32) error
	// reembedSwap makes the vectors set aside the knowledge base's and
	// records model, or, when some chunk has none (another writer added
	// it), changes nothing and returns how many lack one.
	reembedSwap(ctx context.Context, model string) (missing, chunks int, err error)
}

// batchEmbedder is an Embedder that embeds many texts in one step (the
// encoders batch short texts padding-free); Reembed uses it when offered.
type batchEmbedder interface {
	EmbedBatch(ctx context.Context, texts []string) ([][]float32, error)
}

// reembedBatch is how many chunks are embedded and set aside per step: one
// transaction per 32 vectors keeps the disk syncs few, and an interruption
// loses at most one batch of work.
const reembedBatch = 32

// maxReembedRounds bounds the passes when other writers keep adding chunks.
const maxReembedRounds = 5

// Reembed embeds every chunk of b with e and then switches b to e's model
// in one transaction: until then queries keep using the old vectors, and a
// crash (even kill -9) leaves the knowledge base as it was, with the work
// done so far kept aside: running Reembed again with the same model goes
// on from there. progress, when set, is called after each batch with the
// chunks embedded so far and the total of this pass.
func Reembed(ctx context.Context, b Base, e Embedder, progress func(done, total int)) (*ReembedReport, error) {
	if e == nil {
		return nil, errors.New("re-embed: no embedding model")
	}
	s, ok := b.(reembedStore)
	if !ok {
		return nil, fmt.Errorf("re-embed: %T cannot re-embed", b)
	}
	model := e.Name()
	rep := &ReembedReport{To: model}
	dims := 0
	for round := 1; ; round++ {
		rep.Rounds = round
		todo, done, from, err := s.reembedPending(ctx, model)
		if err != nil {
			return rep, fmt.Errorf("re-embed: %w", err)
		}
		if round == 1 {
			rep.From, rep.Resumed = from, done
		}
		for i := 0; i < len(todo); i += reembedBatch {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			part := todo[i:min(i+reembedBatch, len(todo))]
			texts := make([]string, len(part))
			ids := make([]uint64, len(part))
			for j, p := range part {
				texts[j], ids[j] = p.text, p.id
			}
			vecs, err := embedAll(ctx, e, texts)
			if err != nil {
				return rep, fmt.Errorf("re-embed: chunk %d…: %w", ids[0], err)
			}
			for j, v := range vecs {
				if dims == 0 {
					dims = len(v)
				}
				if len(v) == 0 || len(v) != dims {
					return rep, fmt.Errorf("re-embed: chunk %d: %d dimensions, the others %d", ids[j], len(v), dims)
				}
			}
			if err := s.reembedPut(ctx, model, ids, vecs); err != nil {
				return rep, fmt.Errorf("re-embed: %w", err)
			}
			rep.Embedded += len(part)
			if progress != nil {
				progress(i+len(part), len(todo))
			}
		}
		missing, chunks, err := s.reembedSwap(ctx, model)
		if err != nil {
			return rep, fmt.Errorf("re-embed: %w", err)
		}
		if missing == 0 {
			rep.Chunks = chunks
			return rep, nil
		}
		if round == maxReembedRounds {
			return rep, fmt.Errorf("re-embed: %d chunks still without a vector after %d passes (other writers keep adding); the knowledge base is unchanged, run it again", missing, round)
		}
	}
}

func embedAll(ctx context.Context, e Embedder, texts []string) ([][]float32, error) {
	if be, ok := e.(batchEmbedder); ok {
		vecs, err := be.EmbedBatch(ctx, texts)
		if err == nil && len(vecs) != len(texts) {
			err = fmt.Errorf("%d vectors for %d texts", len(vecs), len(texts))
		}
		return vecs, err
	}
	vecs := make([][]float32, len(texts))
	for i, t := range texts {
		v, err := e.Embed(ctx, t)
		if err != nil {
			return nil, err
		}
		vecs[i] = v
	}
	return vecs, nil
}

// withEmbedSetting rewrites a file record's settings (Options.settings)
// for model, so that `kb add --embed-model model` after a re-embed finds
// the files unchanged instead of embedding them again.
func withEmbedSetting(settings, model string) string {
	if i := strings.Index(settings, ";embed="); i >= 0 {
		settings = settings[:i]
	}
	return settings + ";embed=" + model
}
