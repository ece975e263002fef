package pack

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// chunkSize is the input per zstd frame. Frames are compressed independently
// on all cores (as pzstd does); a few MiB keeps the ratio within a fraction
// of a percent of one long frame for model weights, whose redundancy is
// local (exponent bytes, scales), not long-range.
const chunkSize = 8 << 20

// Source is a file to pack.
type Source struct {
	Name   string // name inside the pack, e.g. model.gguf
	Path   string
	SHA256 string // hex, when already known (an Ollama blob name, a fresh sidecar); checked while packing
}

// Phases reported to Progress.
const (
	PhaseHash     = "hashing"
	PhaseCompress = "compressing"
	PhaseExtract  = "extracting"
	PhaseVerify   = "verifying"
)

// WriteOptions control Write.
type WriteOptions struct {
	Name        string            // NAME:TAG recorded in the manifest
	License     string            // licence text
	DayiVersion string            // the writing dayi's version
	Meta        map[string]string // informational manifest fields
	Created     time.Time         // zero = now
	Key         ed25519.PrivateKey
	Level       zstd.EncoderLevel // 0 = zstd.SpeedDefault
	Threads     int               // 0 = GOMAXPROCS
	Progress    func(phase string, done, total int64)
}

// Write packs the sources into w. Files whose sha256 is not given are hashed
// first (the manifest, with every hash, precedes the data); all are hashed
// again while compressing and the pack fails if a file changed in between.
// w receives the pack in one pass; on error its content is unusable, so
// callers write to a temporary file and rename it on success.
func Write(ctx context.Context, w io.Writer, srcs []Source, opt WriteOptions) (*Manifest, error) {
	m := &Manifest{
		Format: Version, Name: opt.Name, License: opt.License, DayiVersion: opt.DayiVersion,
		Created: opt.Created, Compression: "zstd", Meta: opt.Meta,
	}
	if m.Created.IsZero() {
		m.Created = time.Now().UTC().Truncate(time.Second)
	}
	var total int64
	for _, s := range srcs {
		st, err := os.Stat(s.Path)
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", s.Path)
		}
		m.Files = append(m.Files, File{Name: s.Name, Size: st.Size(), SHA256: s.SHA256})
		total += st.Size()
	}
	progress := func(phase string, done int64) {
		if opt.Progress != nil {
			opt.Progress(phase, done, total)
		}
	}
	// Pass 1: hash what is not known.
	var hashed int64
	for i, s := range srcs {
		if m.Files[i].SHA256 != "" {
			hashed += m.Files[i].Size
			continue
		}
		sum, n, err := hashFile(ctx, s.Path, func(n int64) { progress(PhaseHash, hashed+n) })
		if err != nil {
			return nil, err
		}
		m.Files[i].SHA256 = sum
		hashed += n
	}
	if opt.Key != nil {
		m.Signer = base64.StdEncoding.EncodeToString(opt.Key.Public().(ed25519.PublicKey))
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("pack manifest: %w", err)
	}
	raw, err := jsonIndent(m)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxManifest {
		return nil, fmt.Errorf("pack manifest is %d bytes (licence too long?), limit %d", len(raw), maxManifest)
	}
	var sig []byte
	if opt.Key != nil {
		sig = ed25519.Sign(opt.Key, signedMessage(raw))
	}
	if _, err := w.Write(encodeHeader(raw, sig)); err != nil {
		return nil, err
	}

	// Pass 2: compress, hashing again.
	readers := make([]io.Reader, len(srcs))
	checks := make([]*checkReader, len(srcs))
	for i, s := range srcs {
		f, err := os.Open(s.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		checks[i] = &checkReader{r: f, h: sha256.New()}
		readers[i] = checks[i]
	}
	streamSum := sha256.New()
	if err := compress(ctx, io.MultiWriter(w, streamSum), io.MultiReader(readers...), opt, func(n int64) { progress(PhaseCompress, n) }); err != nil {
		return nil, err
	}
	for i, c := range checks {
		f := m.Files[i]
		if c.n != f.Size || hex.EncodeToString(c.h.Sum(nil)) != f.SHA256 {
			return nil, fmt.Errorf("%s changed while being packed (or its known sha256 %s is wrong): %d bytes, sha256 %x", srcs[i].Path, f.SHA256, c.n, c.h.Sum(nil))
		}
	}
	if _, err := w.Write(append(trailerHead[:], streamSum.Sum(nil)...)); err != nil {
		return nil, err
	}
	return m, nil
}

// jsonIndent is the manifest's stored form: indented, so `head -c` of a pack
// shows it.
func jsonIndent(m *Manifest) ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

type checkReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *checkReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func hashFile(ctx context.Context, path string, progress func(int64)) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		progress(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", n, fmt.Errorf("%s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// compress writes r to w as a sequence of independent zstd frames of
// chunkSize input each, compressed by opt.Threads workers and written in
// order. The result is one valid zstd stream.
func compress(ctx context.Context, w io.Writer, r io.Reader, opt WriteOptions, progress func(int64)) error {
	workers := opt.Threads
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	level := opt.Level
	if level == 0 {
		level = zstd.SpeedDefault
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(workers), zstd.WithEncoderCRC(true))
	if err != nil {
		return err
	}
	defer enc.Close()

	type piece struct {
		in, out []byte
		done    chan struct{}
	}
	work := make(chan *piece)
	order := make(chan *piece, workers)
	stop := make(chan struct{})
	free := make(chan []byte, workers+2) // recycled input buffers
	var readErr error
	go func() {
		defer close(work)
		defer close(order)
		for {
			if err := ctx.Err(); err != nil {
				readErr = err
				return
			}
			var buf []byte
			select {
			case buf = <-free:
			default:
				buf = make([]byte, chunkSize)
			}
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				p := &piece{in: buf[:n], done: make(chan struct{})}
				select {
				case order <- p:
				case <-stop:
					return
				}
				select {
				case work <- p:
				case <-stop:
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				p.out = enc.EncodeAll(p.in, make([]byte, 0, len(p.in)/2))
				close(p.done)
			}
		}()
	}
	var werr error
	var done int64
	for p := range order {
		if werr != nil {
			continue // drain; the reader stops at its next send
		}
		<-p.done
		if _, err := w.Write(p.out); err != nil {
			werr = err
			close(stop)
			continue
		}
		done += int64(len(p.in))
		progress(done)
		select {
		case free <- p.in[:cap(p.in)]:
		default:
		}
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	return readErr
}
