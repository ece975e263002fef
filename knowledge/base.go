package knowledge

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// Base is an open knowledge base, in a bbolt file (KB) or in PostgreSQL
// (PGKB): both ingest, rank and report alike, so that `dayi kb` and the
// server work with either.
type Base interface {
	Add(ctx context.Context, paths []string) (*Report, error)
	AddDocs(ctx context.Context, docs []Upload) (*Report, error)
	Remove(paths []string) (int, error)
	Files() ([]FileInfo, error)
	Stats() (Stats, error)
	Query(ctx context.Context, query string, k int) ([]Hit, error)
	Close() error
}

// Upload is a document sent to the server rather than read from a file.
// Name picks the parser by its extension (.txt, .md, .html, .jsonl) and is
// the document's source; a second upload with the same name replaces it.
type Upload struct {
	Name string
	Data []byte
}

// uploadPrefix marks an uploaded document's key in the file table, so that
// it can never name (or, through Remove, reach) a path of this machine.
const uploadPrefix = "upload:"

// uploadCandidate checks an upload's name and size. The name becomes a
// citation's source, so it may hold no control characters (a newline would
// let it pose as another line of whatever shows it).
func uploadCandidate(opt *Options, d Upload) (candidate, error) {
	name := d.Name
	switch {
	case name == "" || len(name) > 200 || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 || strings.HasPrefix(name, "/") ||
		path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == "..":
		return candidate{}, fmt.Errorf("invalid document name %q (a relative name of at most 200 bytes, no ..)", name)
	case !Supported(name):
		return candidate{}, fmt.Errorf("unsupported file type %q (want .txt, .md, .html, .jsonl)", path.Ext(name))
	case int64(len(d.Data)) > opt.MaxFileBytes:
		return candidate{}, fmt.Errorf("too large (%d bytes, limit %d)", len(d.Data), opt.MaxFileBytes)
	}
	data := d.Data
	if data == nil {
		data = []byte{}
	}
	return candidate{path: name, abs: uploadPrefix + name, size: int64(len(data)), data: data}, nil
}
