package knowledge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// candidate is a file found by the walk.
type candidate struct {
	path, abs string
	size      int64
	data      []byte // the bytes of an uploaded document (nil: read path)
}

// walk expands paths (files or directories, recursively) into candidate
// files; hidden files and directories are passed over silently.
func walk(opt *Options, paths []string, rep *Report) ([]candidate, error) {
	var out []candidate
	seen := map[string]bool{}
	add := func(p string, info fs.FileInfo) {
		switch {
		case !info.Mode().IsRegular():
			rep.Skipped = append(rep.Skipped, Skipped{p, "not a regular file"})
		case strings.ToLower(filepath.Ext(p)) == ".pdf":
			rep.Skipped = append(rep.Skipped, Skipped{p, pdfReason})
		case !Supported(p):
			rep.Skipped = append(rep.Skipped, Skipped{p, fmt.Sprintf("unsupported file type %q (want .txt, .md, .html, .jsonl)", filepath.Ext(p))})
		case info.Size() > opt.MaxFileBytes:
			rep.Skipped = append(rep.Skipped, Skipped{p, fmt.Sprintf("too large (%d bytes, limit %d)", info.Size(), opt.MaxFileBytes)})
		default:
			abs, err := filepath.Abs(p)
			if err != nil {
				abs = p
			}
			if !seen[abs] {
				seen[abs] = true
				out = append(out, candidate{path: p, abs: abs, size: info.Size()})
			}
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("kb add: %w", err)
		}
		if !info.IsDir() {
			add(root, info)
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				rep.Skipped = append(rep.Skipped, Skipped{p, err.Error()})
				return nil
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				rep.Skipped = append(rep.Skipped, Skipped{p, err.Error()})
				return nil
			}
			add(p, info)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("kb add %s: %w", root, err)
		}
	}
	return out, nil
}

// Add ingests the files and directories in paths. Files are written in
// atomic batches: an interruption (even kill -9) leaves every file either as
// it was before or fully replaced. Unchanged files cost one hash.
func (kb *KB) Add(ctx context.Context, paths []string) (*Report, error) {
	return add(ctx, kb, &kb.opt, paths, nil)
}

// AddDocs ingests uploaded documents (the server's /api/kb/ route) as Add
// ingests files.
func (kb *KB) AddDocs(ctx context.Context, docs []Upload) (*Report, error) {
	return add(ctx, kb, &kb.opt, nil, docs)
}

// ingestStore is what Add needs of a store: the bbolt file and PostgreSQL
// share the walking, parsing, chunking and batching above it.
type ingestStore interface {
	fileRecord(ctx context.Context, abs string) (*fileRecord, error)
	commit(ctx context.Context, batch []*prepared, settings string, rep *Report) error
	checkEmbedder(ctx context.Context) error
}

func add(ctx context.Context, s ingestStore, opt *Options, paths []string, docs []Upload) (*Report, error) {
	rep := &Report{}
	cands, err := walk(opt, paths, rep)
	if err != nil {
		return rep, err
	}
	for _, d := range docs {
		c, err := uploadCandidate(opt, d)
		if err != nil {
			rep.Skipped = append(rep.Skipped, Skipped{d.Name, err.Error()})
			continue
		}
		cands = append(cands, c)
	}
	if err := s.checkEmbedder(ctx); err != nil {
		return rep, err
	}
	var total, done int64
	for _, c := range cands {
		total += c.size
	}
	settings := opt.settings()
	ck := chunker{maxTokens: opt.ChunkTokens, count: opt.CountTokens}
	var batch []*prepared
	batchBytes := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.commit(ctx, batch, settings, rep)
		batch, batchBytes = batch[:0], 0
		return err
	}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return rep, errors.Join(err, flush())
		}
		p, err := prepare(ctx, s, opt, c, settings, &ck, rep)
		switch {
		case err != nil && errors.Is(err, errSkip):
			rep.Skipped = append(rep.Skipped, Skipped{c.path, strings.TrimPrefix(err.Error(), errSkip.Error()+": ")})
		case err != nil:
			return rep, errors.Join(err, flush())
		case p != nil:
			batch = append(batch, p)
			for _, ch := range p.chunks {
				batchBytes += len(ch.Text)
			}
		}
		if len(batch) >= maxBatchFiles || batchBytes >= maxBatchBytes {
			if err := flush(); err != nil {
				return rep, err
			}
		}
		done += c.size
		if opt.Progress != nil {
			opt.Progress(done, total, c.path)
		}
	}
	return rep, flush()
}

// Files are committed in batches: one transaction per file made a large
// ingest wait on a disk sync per file (200 files of 27 KB: 52 s, nearly all
// in fsync). A batch is still atomic, so after a crash every file is either
// in its previous or in its new state.
const (
	maxBatchFiles = 64
	maxBatchBytes = 4 << 20
)

// prepared is a parsed, chunked and embedded file waiting for its commit.
type prepared struct {
	c      candidate
	hash   string
	chunks []chunk
	vecs   [][]float32
}

// checkEmbedder refuses to mix vectors of two models in one knowledge base.
func (kb *KB) checkEmbedder(context.Context) error {
	if kb.opt.Embedder == nil {
		return nil
	}
	return kb.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		name := kb.opt.Embedder.Name()
		switch have := string(m.Get(keyEmbed)); {
		case have == name:
			return nil
		case have != "":
			return fmt.Errorf("%w: knowledge base was embedded with %q, not %q: remove it and add again to change models", ErrEmbedMismatch, have, name)
		case tx.Bucket(bucketChunks).Stats().KeyN > 0:
			return fmt.Errorf("knowledge base has chunks without embeddings: remove it and add again with --embed-model %s", name)
		}
		return m.Put(keyEmbed, []byte(name))
	})
}

// prepare reads, parses, chunks and embeds a file; it returns nil for a file
// whose bytes and settings are unchanged since it was last ingested.
func prepare(ctx context.Context, s ingestStore, opt *Options, c candidate, settings string, ck *chunker, rep *Report) (*prepared, error) {
	data := c.data
	if data == nil {
		var err error
		if data, err = os.ReadFile(c.path); err != nil {
			return nil, fmt.Errorf("%w: %v", errSkip, err)
		}
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	old, err := s.fileRecord(ctx, c.abs)
	if err != nil {
		return nil, fmt.Errorf("kb add %s: reading its record: %w", c.path, err)
	}
	if old != nil && old.Hash == hash && old.Settings == settings {
		rep.Unchanged = append(rep.Unchanged, c.path)
		return nil, nil
	}
	docs, skipped, err := parseFile(c.path, data)
	rep.Skipped = append(rep.Skipped, skipped...)
	if err != nil {
		return nil, err
	}
	p := &prepared{c: c, hash: hash}
	for i := range docs {
		p.chunks = append(p.chunks, ck.chunks(&docs[i])...)
	}
	if opt.Embedder != nil {
		for _, ch := range p.chunks {
			v, err := opt.Embedder.Embed(ctx, indexText(ch.Title, ch.Heading, ch.Text))
			if err != nil {
				return nil, fmt.Errorf("kb add %s: embedding: %w", c.path, err)
			}
			p.vecs = append(p.vecs, v)
		}
	}
	return p, nil
}

func (kb *KB) fileRecord(_ context.Context, abs string) (*fileRecord, error) {
	var rec *fileRecord
	err := kb.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getFileRecord(tx, abs)
		return err
	})
	return rec, err
}

func getFileRecord(tx *bolt.Tx, abs string) (*fileRecord, error) {
	v := tx.Bucket(bucketFiles).Get([]byte(abs))
	if v == nil {
		return nil, nil
	}
	rec := new(fileRecord)
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("file record %s: %w", abs, err)
	}
	return rec, nil
}

// commit writes a batch of files in one transaction, each replacing the
// chunks of its previous version.
func (kb *KB) commit(_ context.Context, batch []*prepared, settings string, rep *Report) error {
	updated := make([]bool, len(batch))
	err := kb.db.Update(func(tx *bolt.Tx) error {
		var posts []kv
		for bi, p := range batch {
			old, err := getFileRecord(tx, p.c.abs)
			if err != nil {
				return err
			}
			if old != nil {
				updated[bi] = true
				if err := kb.deleteChunks(tx, old.Chunks); err != nil {
					return err
				}
			}
			rec := fileRecord{Source: p.c.path, Hash: p.hash, Settings: settings, Size: p.c.size, Added: time.Now().UTC()}
			for i, ch := range p.chunks {
				id, err := kb.putChunk(tx, ch, &posts)
				if err != nil {
					return err
				}
				if p.vecs != nil {
					if err := tx.Bucket(bucketVecs).Put(idKey(id), vecBytes(p.vecs[i])); err != nil {
						return err
					}
				}
				rec.Chunks = append(rec.Chunks, id)
			}
			v, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketFiles).Put([]byte(p.c.abs), v); err != nil {
				return err
			}
		}
		sort.Slice(posts, func(i, j int) bool { return bytes.Compare(posts[i].k, posts[j].k) < 0 })
		pb := tx.Bucket(bucketPost)
		for _, p := range posts {
			if err := pb.Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kb add %s…: %w", batch[0].c.path, err)
	}
	if kb.afterCommit != nil {
		kb.afterCommit()
	}
	for bi, p := range batch {
		if updated[bi] {
			rep.Updated = append(rep.Updated, p.c.path)
		} else {
			rep.Added = append(rep.Added, p.c.path)
		}
		rep.Chunks += len(p.chunks)
	}
	return nil
}
