package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"dayi/assets"
	"dayi/weights"
)

// Catalogue is the model store the server lists, resolves, creates, copies
// and deletes models through. Package store implements it (cmd/dayi adapts
// *store.Store, as it adapts knowledge and memory), so `dayi list` and
// /api/tags read one catalogue with one set of rules: the same name
// precedence, the same validation of Ollama manifests and digests, and the
// same sidecar (digest, origin) written by `dayi cp` and /api/copy alike.
type Catalogue interface {
	// List returns every model in precedence order; of two with the same
	// name the first is the one Find returns.
	List() ([]CatalogModel, error)
	// Find resolves a model name. An unknown or malformed name wraps
	// ErrUnknownModel.
	Find(name string) (CatalogModel, error)
	// Write stores the GGUF that fill writes as name, replacing a writable
	// model of that name only when replace is set (else ErrModelExists).
	// Nothing is visible under name until the whole file is written and
	// checked. A malformed name wraps ErrInvalidModelName; a catalogue
	// without a writable directory wraps ErrModelReadOnly.
	Write(ctx context.Context, name string, fill func(io.Writer) error, origin string, replace bool) (CatalogModel, error)
	// Remove deletes a writable model (ErrModelReadOnly for the others).
	Remove(name string) (CatalogModel, error)
}

// CatalogModel is one model of a Catalogue.
type CatalogModel struct {
	Name     string // NAME:TAG
	Path     string // the GGUF file
	Size     int64
	Digest   string // "sha256:<hex>" when known without hashing the file; "" otherwise
	Modified time.Time
	Source   string // where it was found ("dayi", "extra", "ollama"), shown in errors
	Writable bool   // Remove and replacing Write are allowed
	// Projector is the model's vision projector (an mmproj GGUF: a
	// sibling mmproj-*.gguf or an Ollama projector layer); "" for none.
	Projector string
}

// Errors a Catalogue wraps, so that the server answers with the right status
// and a message of its own (a store's errors name server paths).
var (
	ErrModelExists      = errors.New("model already exists")      // 409
	ErrModelReadOnly    = errors.New("model source is read-only") // 403
	ErrInvalidModelName = errors.New("invalid model name")        // 400
)

// source turns a catalogue entry into the registry's description.
func (m CatalogModel) source() modelSource {
	s := modelSource{Name: canonical(m.Name), Path: m.Path, Size: m.Size, Modified: m.Modified, Digest: m.Digest,
		Origin: m.Source, ReadOnly: !m.Writable, Projector: m.Projector}
	if s.Digest == "" {
		s.Digest = pseudoDigest(m.Path, m.Size, m.Modified)
	}
	return s
}

// inputErr marks a failure caused by the model the caller chose (it cannot
// be quantized to the type asked for): a 400 with its text, where a failure
// to write the store is a 500 whose details go to the log only.
type inputErr struct{ err error }

func (e inputErr) Error() string { return e.err.Error() }
func (e inputErr) Unwrap() error { return e.err }

// writable checks that name may be created: the server has a catalogue,
// and the name is not one the embedded model or a --model file already
// serves (a model stored under it could never be reached).
func (s *Server) writable(name string) error {
	if s.cfg.Catalogue == nil {
		return &reqError{status: http.StatusForbidden, msg: "this server has no writable model directory (start it with --create-dir or DAYI_HOME)"}
	}
	if strings.TrimSpace(name) == "" {
		return badRequest("model name is required")
	}
	n := canonical(name)
	if n == assets.DefaultModelName {
		return &reqError{status: http.StatusConflict, msg: fmt.Sprintf("model %q already exists (embedded)", n)}
	}
	for _, p := range s.cfg.ModelPaths {
		if fs, ok := fileSource(p, "", true); ok && fs.Name == n {
			return &reqError{status: http.StatusConflict, msg: fmt.Sprintf("model %q already exists (--model)", n)}
		}
	}
	return nil
}

func readOnlyErr(src modelSource) error {
	return &reqError{status: http.StatusForbidden, msg: fmt.Sprintf("model %q comes from a read-only source (%s); only models made with /api/create or /api/copy can be deleted", src.Name, src.Origin)}
}

// modelWriteErr turns a catalogue error into the client's answer. Store
// errors name server paths, so only the kind of failure is passed on; the
// details go to the server log.
func (s *Server) modelWriteErr(op, name string, err error) error {
	n := canonical(name)
	var ie inputErr
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, ErrInvalidModelName):
		return badRequest("model name %q: use letters, digits, '.', '_' and '-' in NAME[:TAG], parts separated by '/'", name)
	case errors.Is(err, ErrModelExists):
		return &reqError{status: http.StatusConflict, msg: fmt.Sprintf("model %q already exists", n)}
	case errors.Is(err, ErrModelReadOnly):
		return &reqError{status: http.StatusForbidden, msg: fmt.Sprintf("%s %s: the model's source is read-only", op, n)}
	case errors.As(err, &ie):
		return badRequest("%s %s: %v", op, n, ie.err)
	}
	s.log.Error("model store", "op", op, "model", n, "err", err)
	return &reqError{status: http.StatusInternalServerError, msg: fmt.Sprintf("%s %s: the model store could not be written (see the server log)", op, n)}
}

// openSource opens a served model's bytes.
func openSource(src modelSource) (io.ReadCloser, error) {
	if src.Path == "" {
		return io.NopCloser(bytes.NewReader(embeddedBytes())), nil
	}
	return os.Open(src.Path)
}

// createSource opens what /api/create's from names: a model the server
// serves, by name, or a GGUF file inside an import directory. origin is what
// the store's sidecar records.
func (s *Server) createSource(from string) (*weights.File, string, error) {
	if src, err := s.reg.find(from); err == nil {
		var f *weights.File
		if src.Path == "" {
			f, err = openEmbedded()
		} else {
			f, err = weights.Open(src.Path)
		}
		if err != nil {
			s.log.Error("model unreadable", "model", src.Name, "err", err)
			return nil, "", &reqError{status: http.StatusInternalServerError, msg: fmt.Sprintf("from %s: the model could not be read (see the server log)", src.Name)}
		}
		return f, "created from " + src.Name, nil
	}
	path, err := importPath(s.cfg.ImportDirs, from)
	if err != nil {
		return nil, "", err
	}
	f, err := weights.Open(path)
	if err != nil {
		// Its text would quote the file's bytes (a bad magic, a key).
		return nil, "", notGGUF(from)
	}
	return f, "imported from " + path, nil
}
