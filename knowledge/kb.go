package knowledge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	Reranker     Reranker         // optional: Retrieve reorders the top RerankDepth by its scores
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
