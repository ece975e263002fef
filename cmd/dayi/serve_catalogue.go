package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"dayi/server"
	"dayi/store"
)

// storeCatalogue gives the server dayi's model store, the one `dayi list`,
// `dayi cp` and `dayi rm` use, so the CLI and /api/tags always agree.
type storeCatalogue struct{ s *store.Store }

// serveCatalogue is the store `dayi serve` uses: the environment's (as
// `dayi list` reads it), with --create-dir as its writable directory,
// --models as the first read-only directory and --ollama-models for
// Ollama's store ("-": none).
func serveCatalogue(modelsDir, createDir, ollama string) storeCatalogue {
	cfg := modelStore().Config()
	if createDir != "" {
		cfg.Dir = createDir
	}
	if modelsDir != "" {
		cfg.Extra = append([]string{modelsDir}, cfg.Extra...)
	}
	switch ollama {
	case "":
	case "-":
		cfg.Ollama = ""
	default:
		cfg.Ollama = ollama
	}
	return storeCatalogue{s: store.New(cfg)}
}

func catalogModel(m *store.Model) server.CatalogModel {
	return server.CatalogModel{Name: m.FullName(), Path: m.Path, Size: m.Size, Digest: m.Digest, Modified: m.Modified,
		Source: m.Source, Writable: m.Writable(), Projector: m.Projector}
}

// catalogErr wraps store errors in the server's, which choose the status.
func catalogErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", server.ErrUnknownModel, err)
	case errors.Is(err, store.ErrInvalidName):
		return fmt.Errorf("%w: %w", server.ErrInvalidModelName, err)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %w", server.ErrModelExists, err)
	case errors.Is(err, store.ErrReadOnly):
		return fmt.Errorf("%w: %w", server.ErrModelReadOnly, err)
	}
	return err
}

func (c storeCatalogue) List() ([]server.CatalogModel, error) {
	ms, err := c.s.List()
	out := make([]server.CatalogModel, len(ms))
	for i := range ms {
		out[i] = catalogModel(&ms[i])
	}
	return out, err
}

func (c storeCatalogue) Find(name string) (server.CatalogModel, error) {
	m, err := c.s.Find(name)
	if err != nil {
		if errors.Is(err, store.ErrInvalidName) { // no model can have it
			return server.CatalogModel{}, fmt.Errorf("%w: %w", server.ErrUnknownModel, err)
		}
		return server.CatalogModel{}, catalogErr(err)
	}
	return catalogModel(m), nil
}

func (c storeCatalogue) Write(ctx context.Context, name string, fill func(io.Writer) error, origin string, replace bool) (server.CatalogModel, error) {
	m, err := c.s.Write(name, func(w io.Writer) error { return fill(ctxWriter{ctx, w}) }, store.AddOptions{Force: replace, Origin: origin})
	if err != nil {
		return server.CatalogModel{}, catalogErr(err)
	}
	return catalogModel(m), nil
}

func (c storeCatalogue) Remove(name string) (server.CatalogModel, error) {
	m, err := c.s.Remove(name)
	if err != nil {
		return server.CatalogModel{}, catalogErr(err)
	}
	return catalogModel(m), nil
}

// ctxWriter stops a copy once the request is gone.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// checkImportDirs refuses --import-dir values that are not directories, so a
// typo is found at start rather than as "not allowed" on every create.
func checkImportDirs(dirs []string) error {
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("--import-dir: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("--import-dir %s: not a directory", d)
		}
	}
	return nil
}
