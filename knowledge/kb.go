package knowledge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// Passage is a retrieved chunk as the prompt builder needs it: ID is the
// chunk's stable number in its knowledge base (cited as the chunk id).
type Passage struct {
	ID       int
	Source   string
	Title    string
	Location string
	Text     string
}

// Hit is a ranked query result.
type Hit struct {
	Passage
	Score float64 // BM25 score, or the reciprocal-rank-fusion score when embeddings took part
}

// Skipped is a file (or JSON line) left out of the index, with the reason.
type Skipped struct {
	Path   string
	Reason string
}

// Report says what an Add did.
type Report struct {
	Added, Updated, Unchanged []string
	Chunks                    int // chunks written
	Skipped                   []Skipped
}

// Embedder turns text into an L2-normalised vector. Name identifies the
// model: vectors of different models are not comparable, so a knowledge base
// remembers which model embedded it.
type Embedder interface {
	Name() string
	Embed(ctx context.Context, text string) ([]float32, error)
}

// Options configure ingest and retrieval.
type Options struct {
	ChunkTokens  int              // maximum chunk size in tokens (default 256)
	CountTokens  func(string) int // token counter (default EstimateTokens)
	CounterName  string           // names CountTokens (e.g. the model's tokenizer); a change re-chunks every file
	Embedder     Embedder         // optional dense retrieval
	MaxFileBytes int64            // larger files are skipped (default 32 MiB)
	// Progress, when set, is called after each file with the bytes done so far.
	Progress func(done, total int64, path string)
}

func (o *Options) defaults() {
	if o.ChunkTokens <= 0 {
		o.ChunkTokens = 256
	}
	if o.CountTokens == nil {
		o.CountTokens, o.CounterName = EstimateTokens, "estimate"
	}
	if o.CounterName == "" {
		o.CounterName = "custom"
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 32 << 20
	}
}

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

var (
	bucketMeta   = []byte("meta")
	bucketFiles  = []byte("files")
	bucketChunks = []byte("chunks")
	bucketPost   = []byte("postings") // term 0x00 chunkID(8) → uvarint tf, uvarint doc length
	bucketVecs   = []byte("vectors")  // chunkID(8) → little-endian float32s

	keyN        = []byte("chunks")   // number of chunks
	keyTotalLen = []byte("totalLen") // sum of chunk lengths in terms
	keyEmbed    = []byte("embedModel")
	keyFormat   = []byte("format")
)

// formatVersion is written to meta; an unknown format is refused.
const formatVersion = "1"

// fileRecord is what the index remembers of an ingested file.
type fileRecord struct {
	Source   string    `json:"source"`
	Hash     string    `json:"hash"`     // SHA-256 of the bytes
	Settings string    `json:"settings"` // chunking and embedding settings used
	Size     int64     `json:"size"`
	Chunks   []uint64  `json:"chunks"`
	Added    time.Time `json:"added"`
}

// chunkHeader precedes the zstd-compressed text of a stored chunk.
type chunkHeader struct {
	Source   string `json:"s"`
	Title    string `json:"t"`
	Location string `json:"l"`
	Heading  string `json:"h"`
	Tokens   int    `json:"n"`
}

// KB is an open knowledge base.
type KB struct {
	db  *bolt.DB
	opt Options
	enc *zstd.Encoder
	dec *zstd.Decoder

	afterCommit func() // test hook: called after each committed batch
}

// Open opens (creating if needed) the knowledge base in directory dir for
// reading and writing. bbolt locks the file: a second writer waits up to
// ten seconds and then fails.
func Open(dir string, opt Options) (*KB, error) { return open(dir, opt, false) }

// OpenReadOnly opens an existing knowledge base for queries; several readers
// may share it.
func OpenReadOnly(dir string, opt Options) (*KB, error) { return open(dir, opt, true) }

func open(dir string, opt Options, readOnly bool) (*KB, error) {
	opt.defaults()
	path := filepath.Join(dir, "kb.db")
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("knowledge base %s: %w", dir, err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("knowledge base %s: %w", dir, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("knowledge base %s: %w", path, err)
	}
	kb := &KB{db: db, opt: opt}
	if !readOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketMeta, bucketFiles, bucketChunks, bucketPost, bucketVecs} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			m := tx.Bucket(bucketMeta)
			if m.Get(keyFormat) == nil {
				return m.Put(keyFormat, []byte(formatVersion))
			}
			return nil
		})
	}
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if m == nil {
				return errors.New("not a dayi knowledge base (no meta bucket)")
			}
			if v := string(m.Get(keyFormat)); v != formatVersion {
				return fmt.Errorf("format %q, this dayi reads %q", v, formatVersion)
			}
			return nil
		})
	}
	if err == nil {
		kb.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	}
	if err == nil {
		kb.dec, err = zstd.NewReader(nil)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("knowledge base %s: %w", path, err)
	}
	return kb, nil
}

// Close releases the database file.
func (kb *KB) Close() error {
	kb.enc.Close()
	kb.dec.Close()
	return kb.db.Close()
}

// settings identifies how a file's chunks were made; a file whose bytes and
// settings are unchanged is not re-ingested.
func (o *Options) settings() string {
	s := "chunk=" + strconv.Itoa(o.ChunkTokens) + ";count=" + o.CounterName
	if o.Embedder != nil {
		s += ";embed=" + o.Embedder.Name()
	}
	return s
}

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
			return fmt.Errorf("knowledge base was embedded with %q, not %q: remove it and add again to change models", have, name)
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

// indexText is what a chunk is indexed and embedded as: its document title
// and heading path give context the text itself often leaves out.
func indexText(title, heading, text string) string {
	return title + "\n" + heading + "\n" + text
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func postKey(term string, id uint64) []byte {
	k := make([]byte, 0, len(term)+9)
	k = append(k, term...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

func vecBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// termCounts returns each term's count and the total.
func termCounts(text string) (map[string]int, int) {
	terms := Terms(text)
	tf := make(map[string]int, len(terms))
	for _, t := range terms {
		tf[t]++
	}
	return tf, len(terms)
}

func addCounter(m *bolt.Bucket, key []byte, delta int64) error {
	var v int64
	if b := m.Get(key); len(b) == 8 {
		v = int64(binary.BigEndian.Uint64(b))
	}
	return m.Put(key, binary.BigEndian.AppendUint64(nil, uint64(v+delta)))
}

func counter(m *bolt.Bucket, key []byte) int64 {
	if b := m.Get(key); len(b) == 8 {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// kv is a pending bucket write.
type kv struct{ k, v []byte }

// putChunk stores a chunk and appends its postings to posts, which the
// caller writes sorted: bbolt inserts into a leaf by copying its tail, and
// leaves split only at commit, so random-order keys make a large
// transaction quadratic (a 5 MB ingest took minutes) where sorted ones
// append.
func (kb *KB) putChunk(tx *bolt.Tx, ch chunk, posts *[]kv) (uint64, error) {
	cb := tx.Bucket(bucketChunks)
	id, err := cb.NextSequence()
	if err != nil {
		return 0, err
	}
	hdr, err := json.Marshal(chunkHeader{Source: ch.Source, Title: ch.Title, Location: ch.Location, Heading: ch.Heading, Tokens: ch.Tokens})
	if err != nil {
		return 0, err
	}
	val := binary.AppendUvarint(nil, uint64(len(hdr)))
	val = append(val, hdr...)
	val = kb.enc.EncodeAll([]byte(ch.Text), val)
	if err := cb.Put(idKey(id), val); err != nil {
		return 0, err
	}
	tf, n := termCounts(indexText(ch.Title, ch.Heading, ch.Text))
	for t, c := range tf {
		v := binary.AppendUvarint(nil, uint64(c))
		v = binary.AppendUvarint(v, uint64(n))
		*posts = append(*posts, kv{postKey(t, id), v})
	}
	m := tx.Bucket(bucketMeta)
	if err := addCounter(m, keyN, 1); err != nil {
		return 0, err
	}
	return id, addCounter(m, keyTotalLen, int64(n))
}

// readChunk decodes a stored chunk.
func (kb *KB) readChunk(val []byte) (chunkHeader, string, error) {
	var h chunkHeader
	n, k := binary.Uvarint(val)
	if k <= 0 || uint64(len(val)-k) < n {
		return h, "", errors.New("corrupt chunk record")
	}
	if err := json.Unmarshal(val[k:k+int(n)], &h); err != nil {
		return h, "", fmt.Errorf("corrupt chunk header: %w", err)
	}
	text, err := kb.dec.DecodeAll(val[k+int(n):], nil)
	if err != nil {
		return h, "", fmt.Errorf("chunk text: %w", err)
	}
	return h, string(text), nil
}

// deleteChunks removes chunks with their postings and vectors; the postings
// are found again by re-analysing the stored text.
func (kb *KB) deleteChunks(tx *bolt.Tx, ids []uint64) error {
	cb, pb, vb, m := tx.Bucket(bucketChunks), tx.Bucket(bucketPost), tx.Bucket(bucketVecs), tx.Bucket(bucketMeta)
	for _, id := range ids {
		val := cb.Get(idKey(id))
		if val == nil {
			continue
		}
		h, text, err := kb.readChunk(val)
		if err != nil {
			return fmt.Errorf("chunk %d: %w", id, err)
		}
		tf, n := termCounts(indexText(h.Title, h.Heading, text))
		for t := range tf {
			if err := pb.Delete(postKey(t, id)); err != nil {
				return err
			}
		}
		if err := vb.Delete(idKey(id)); err != nil {
			return err
		}
		if err := cb.Delete(idKey(id)); err != nil {
			return err
		}
		if err := addCounter(m, keyN, -1); err != nil {
			return err
		}
		if err := addCounter(m, keyTotalLen, -int64(n)); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes the given files (or every file under a given directory)
// from the index and returns how many were removed.
func (kb *KB) Remove(paths []string) (int, error) {
	removed := 0
	err := kb.db.Update(func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFiles)
		var del [][]byte
		for _, p := range paths {
			abs, err := removeKey(p)
			if err != nil {
				return err
			}
			c := fb.Cursor()
			for k, v := c.Seek([]byte(abs)); k != nil && bytes.HasPrefix(k, []byte(abs)); k, v = c.Next() {
				if len(k) > len(abs) && k[len(abs)] != filepath.Separator {
					continue
				}
				var rec fileRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("file record %s: %w", k, err)
				}
				if err := kb.deleteChunks(tx, rec.Chunks); err != nil {
					return err
				}
				del = append(del, append([]byte(nil), k...))
			}
		}
		for _, k := range del {
			if err := fb.Delete(k); err != nil {
				return err
			}
		}
		removed = len(del)
		return nil
	})
	return removed, err
}

// FileInfo describes an ingested file.
type FileInfo struct {
	Source string    `json:"source"`
	Path   string    `json:"path"`
	Chunks int       `json:"chunks"`
	Size   int64     `json:"size"`
	Added  time.Time `json:"added"`
}

// Files lists the ingested files in path order.
func (kb *KB) Files() ([]FileInfo, error) {
	var out []FileInfo
	err := kb.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFiles).ForEach(func(k, v []byte) error {
			var rec fileRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("file record %s: %w", k, err)
			}
			out = append(out, FileInfo{Source: rec.Source, Path: string(k), Chunks: len(rec.Chunks), Size: rec.Size, Added: rec.Added})
			return nil
		})
	})
	return out, err
}

// Stats summarises a knowledge base.
type Stats struct {
	Files      int    `json:"files"`
	Chunks     int    `json:"chunks"`
	EmbedModel string `json:"embed_model,omitempty"`
	Bytes      int64  `json:"bytes"` // database file size
}

// Stats returns counts and the database size.
func (kb *KB) Stats() (Stats, error) {
	var s Stats
	err := kb.db.View(func(tx *bolt.Tx) error {
		s.Files = tx.Bucket(bucketFiles).Stats().KeyN
		s.Chunks = int(counter(tx.Bucket(bucketMeta), keyN))
		s.EmbedModel = string(tx.Bucket(bucketMeta).Get(keyEmbed))
		s.Bytes = tx.Size()
		return nil
	})
	return s, err
}

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
