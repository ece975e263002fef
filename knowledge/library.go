package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"dayi/internal/safename"
)

// Library is the set of knowledge bases under one directory
// ($DAYI_HOME/kb), one subdirectory each, or, when PG is set, in a
// PostgreSQL database that several servers share.
type Library struct {
	Dir     string
	Options Options // used for every knowledge base it opens
	PG      *PG     // when set, the knowledge bases live here and Dir is unused
}

// validName keeps knowledge base names safe as directory names: a letter
// or digit, then letters, digits, _ . -, 64 characters at most.
func validName(name string) bool { return safename.Valid(name, 63, "_.-") }

// Path returns the directory of knowledge base name.
func (l *Library) Path(name string) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("invalid knowledge base name %q (letters, digits, _ . -; at most 64)", name)
	}
	return filepath.Join(l.Dir, name), nil
}

// Open opens (creating) knowledge base name for writing.
func (l *Library) Open(name string) (Base, error) {
	p, err := l.Path(name)
	if err != nil {
		return nil, err
	}
	if l.PG != nil {
		return l.PG.Open(context.Background(), name, l.Options, false)
	}
	return Open(p, l.Options)
}

// OpenReadOnly opens an existing knowledge base for queries.
func (l *Library) OpenReadOnly(name string) (Base, error) {
	p, err := l.Path(name)
	if err != nil {
		return nil, err
	}
	if l.PG != nil {
		return l.PG.Open(context.Background(), name, l.Options, true)
	}
	if _, err := os.Stat(filepath.Join(p, "kb.db")); errors.Is(err, os.ErrNotExist) {
		return nil, &notFoundError{name: name, dir: l.Dir}
	}
	return OpenReadOnly(p, l.Options)
}

// List returns the names of the knowledge bases, sorted.
func (l *Library) List() ([]string, error) {
	if l.PG != nil {
		return l.PG.List(context.Background())
	}
	ents, err := os.ReadDir(l.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("knowledge bases in %s: %w", l.Dir, err)
	}
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(l.Dir, e.Name(), "kb.db")); e.IsDir() && err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Remove deletes knowledge base name entirely.
func (l *Library) Remove(name string) error {
	p, err := l.Path(name)
	if err != nil {
		return err
	}
	if l.PG != nil {
		return l.PG.Remove(context.Background(), name)
	}
	if _, err := os.Stat(filepath.Join(p, "kb.db")); err != nil {
		return &notFoundError{name: name, dir: l.Dir}
	}
	return os.RemoveAll(p)
}

// Retrieve returns the best passages of knowledge base kb for query, in rank
// order, as many as fit in maxTokens (counted by Options.CountTokens; a
// passage that does not fit is passed over for a shorter one further down).
// maxTokens <= 0 means the five best, whatever their size. It opens the
// knowledge base read-only for the call, so `dayi kb add` can update it
// between requests of a running server.
func (l *Library) Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]Passage, error) {
	k, err := l.OpenReadOnly(kb)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	depth := 5
	if maxTokens > 0 {
		depth = 20
	}
	want := depth
	if l.Options.Reranker != nil {
		depth = RerankDepth
	}
	hits, err := k.Query(ctx, query, depth)
	if errors.Is(err, ErrEmbedMismatch) {
		slog.Warn("knowledge: falling back to BM25", "kb", kb, "err", err)
		lexical := *l
		lexical.Options.Embedder = nil
		if k, err = lexical.OpenReadOnly(kb); err != nil {
			return nil, err
		}
		defer k.Close()
		hits, err = k.Query(ctx, query, depth)
	}
	if err != nil {
		return nil, fmt.Errorf("knowledge base %q: %w", kb, err)
	}
	if l.Options.Reranker != nil {
		if hits, err = Rerank(ctx, l.Options.Reranker, query, hits, want); err != nil {
			return nil, fmt.Errorf("knowledge base %q: %w", kb, err)
		}
	}
	var out []Passage
	used := 0
	count := l.Options.CountTokens
	if count == nil {
		count = EstimateTokens
	}
	for _, h := range hits {
		if maxTokens > 0 {
			n := count(h.Text)
			if used+n > maxTokens {
				continue
			}
			used += n
		}
		out = append(out, h.Passage)
	}
	return out, nil
}

// notFoundError is a knowledge base that does not exist. It is an
// fs.ErrNotExist, so callers (the server) can say "not found" without
// showing the directory the text names.
type notFoundError struct{ name, dir string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("knowledge base %q not found in %s", e.name, e.dir)
}

func (e *notFoundError) Unwrap() error { return fs.ErrNotExist }
