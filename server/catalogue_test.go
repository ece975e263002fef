package server

import (
	"context"
	"errors"
	"fmt"
	"io"

	"dayi/store"
)

// testCatalogue adapts package store for the server's tests, as cmd/dayi's
// storeCatalogue does for `dayi serve` (that one cannot be imported from
// here; cmd/dayi's TestListAndTagsAgree checks the real one).
type testCatalogue struct{ s *store.Store }

// storeCat is a catalogue over a store: create is the writable directory
// ("" for none), ollama Ollama's store ("" for none), extra read-only
// directories.
func storeCat(create, ollama string, extra ...string) Catalogue {
	return testCatalogue{s: store.New(store.Config{Dir: create, Extra: extra, Ollama: ollama})}
}

// dirCat serves the *.gguf files of dir read-only.
func dirCat(dir string) Catalogue { return storeCat("", "", dir) }

func (c testCatalogue) conv(m *store.Model) CatalogModel {
	return CatalogModel{Name: m.FullName(), Path: m.Path, Size: m.Size, Digest: m.Digest, Modified: m.Modified,
		Source: m.Source, Writable: m.Writable()}
}

func (testCatalogue) err(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrUnknownModel, err)
	case errors.Is(err, store.ErrInvalidName):
		return fmt.Errorf("%w: %w", ErrInvalidModelName, err)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %w", ErrModelExists, err)
	case errors.Is(err, store.ErrReadOnly):
		return fmt.Errorf("%w: %w", ErrModelReadOnly, err)
	}
	return err
}

func (c testCatalogue) List() ([]CatalogModel, error) {
	ms, err := c.s.List()
	out := make([]CatalogModel, len(ms))
	for i := range ms {
		out[i] = c.conv(&ms[i])
	}
	return out, err
}

func (c testCatalogue) Find(name string) (CatalogModel, error) {
	m, err := c.s.Find(name)
	if errors.Is(err, store.ErrInvalidName) {
		return CatalogModel{}, fmt.Errorf("%w: %w", ErrUnknownModel, err)
	}
	if err != nil {
		return CatalogModel{}, c.err(err)
	}
	return c.conv(m), nil
}

func (c testCatalogue) Write(ctx context.Context, name string, fill func(io.Writer) error, origin string, replace bool) (CatalogModel, error) {
	m, err := c.s.Write(name, fill, store.AddOptions{Force: replace, Origin: origin})
	if err != nil {
		return CatalogModel{}, c.err(err)
	}
	return c.conv(m), nil
}

func (c testCatalogue) Remove(name string) (CatalogModel, error) {
	m, err := c.s.Remove(name)
	if err != nil {
		return CatalogModel{}, c.err(err)
	}
	return c.conv(m), nil
}
