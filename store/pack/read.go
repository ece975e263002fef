package pack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"dayi/internal/atomicfile"
)

// ReadOptions control Unpack and Verify.
type ReadOptions struct {
	Trust   Trust
	Threads int // zstd decoder concurrency; 0 = its default
	// Progress is called with uncompressed bytes done of the total.
	Progress func(phase string, done, total int64)
	// Accept, when set, sees the verified header before any data is read
	// (to show what is being installed, or to refuse a name).
	Accept func(*Header) error
	// PackSize is the pack's length in bytes from the reader's position;
	// 0 = find it from the reader (a regular *os.File, or anything with
	// Len, such as bytes.Reader) or, when it cannot be found, do without
	// the ratio check. A manifest that declares more than maxRatio times the
	// compressed bytes is refused before any data is decoded.
	PackSize int64
	// FreeSpace returns the bytes free for an unprivileged writer in the
	// file system holding dir (default statfs; negative: unknown). Tests
	// inject it to simulate a full disk.
	FreeSpace func(dir string) (int64, error)
}

// Verify reads a whole pack, checking the header, the signature and every
// file's size and sha256, and writes nothing.
func Verify(ctx context.Context, r io.Reader, opt ReadOptions) (*Header, error) {
	return extract(ctx, r, opt, PhaseVerify, nil, func(*Header, File) (io.Writer, func() error, func(), error) {
		return io.Discard, func() error { return nil }, func() {}, nil
	})
}

// Unpack reads a pack and installs its files at the paths place chooses
// (place is called once per file after the header is verified). Each file is
// streamed into a hidden temporary file next to its destination; only when
// every file's size and sha256 have been verified are they renamed into
// place. On any error — damage, truncation, wrong signature, cancellation —
// the temporary files are removed and nothing is left behind. An existing
// destination is refused unless overwrite is set.
func Unpack(ctx context.Context, r io.Reader, place func(*Header, File) (string, error), overwrite bool, opt ReadOptions) (*Header, error) {
	var done []*atomicfile.File
	var made []string // directories created here, deepest last
	cleanup := func() {
		for _, f := range done {
			f.Abort()
		}
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i]) // fails, harmlessly, if something else is in it
		}
	}
	// Every destination is known, and checked for room, before a byte is
	// written.
	dsts := map[string]string{}
	ready := func(h *Header) error {
		need := map[string]int64{}
		for _, f := range h.Manifest.Files {
			dst, err := place(h, f)
			if err != nil {
				return err
			}
			dsts[f.Name] = dst
			need[existingDir(filepath.Dir(dst))] += f.Size
		}
		free := opt.FreeSpace
		if free == nil {
			free = diskFree
		}
		for dir, n := range need {
			avail, err := free(dir)
			if err != nil {
				return fmt.Errorf("free space in %s: %w", dir, err)
			}
			if avail >= 0 && n > avail {
				return fmt.Errorf("%w: the pack's files need %d bytes, %s has %d free", ErrNoSpace, n, dir, avail)
			}
		}
		return nil
	}
	h, err := extract(ctx, r, opt, PhaseExtract, ready, func(h *Header, f File) (io.Writer, func() error, func(), error) {
		dst := dsts[f.Name]
		if !overwrite {
			if _, err := os.Lstat(dst); err == nil {
				return nil, nil, nil, fmt.Errorf("%s already exists", dst)
			}
		}
		dirs, err := mkdirAll(filepath.Dir(dst))
		made = append(made, dirs...)
		if err != nil {
			return nil, nil, nil, err
		}
		af, err := atomicfile.Create(dst, 0o644)
		if err != nil {
			return nil, nil, nil, err
		}
		done = append(done, af)
		// Each file is finished (synced, closed) as soon as it is verified;
		// all are renamed into place together below.
		return af, af.Close, af.Abort, nil
	})
	if err != nil {
		cleanup()
		return nil, err
	}
	for i, f := range done {
		if err := f.Commit(); err != nil {
			// Undo the files already moved, so a half-installed model cannot run.
			for _, q := range done[:i] {
				os.Remove(q.Path())
			}
			cleanup()
			return nil, fmt.Errorf("install: %w", err)
		}
	}
	return h, nil
}

// existingDir is dir or its nearest ancestor that exists: where the space
// for a directory still to be made comes from.
func existingDir(dir string) string {
	d := filepath.Clean(dir)
	for {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			return d
		}
		d = up
	}
}

// mkdirAll is os.MkdirAll that returns the directories it created,
// outermost first, so a failed unpack can remove them again.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !os.IsExist(err) {
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// ctxReader stops reading once ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// remaining is how many bytes r has left to read, when that can be known
// without reading them (0 otherwise).
func remaining(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0
		}
		cur, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		return st.Size() - cur
	}
	return 0
}

// checkDeclared refuses a manifest whose files could not come out of the
// packSize bytes the pack has (see maxRatio). It runs before anything is
// decoded or written, so a forged size costs neither disk nor time.
func checkDeclared(h *Header, packSize int64) error {
	if packSize <= 0 {
		return nil
	}
	data := packSize - h.Size - trailerSize
	if data <= 0 {
		return fmt.Errorf("%w: %d bytes leave no room for data after the %d-byte header (truncated pack)", ErrCorrupt, packSize, h.Size)
	}
	total := h.Manifest.TotalSize()
	if limit := data * maxRatio; data <= (1<<62)/maxRatio && total > limit {
		return fmt.Errorf("%w: the manifest declares %d bytes of files, but %d compressed bytes hold at most %d (zstd yields at most %d bytes per compressed byte)",
			ErrCorrupt, total, data, limit, maxRatio)
	}
	return nil
}

// extract drives both readers. ready, when set, runs once the header is
// accepted and before any data is read; open returns, per file, the writer
// that receives its bytes, a commit run after the file verified, and an
// abort run when it did not. A file's writer never receives more than its
// declared size: the next bytes belong to the next file, and bytes after the
// last file are an error.
func extract(ctx context.Context, r io.Reader, opt ReadOptions, phase string, ready func(*Header) error,
	open func(*Header, File) (w io.Writer, commit func() error, abort func(), err error)) (*Header, error) {
	packSize := opt.PackSize
	if packSize == 0 {
		packSize = remaining(r)
	}
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 256<<10)
	h, err := ReadHeader(br, opt.Trust)
	if err != nil {
		return nil, err
	}
	if opt.Accept != nil {
		if err := opt.Accept(h); err != nil {
			return nil, err
		}
	}
	if err := checkDeclared(h, packSize); err != nil {
		return nil, err
	}
	if ready != nil {
		if err := ready(h); err != nil {
			return nil, err
		}
	}
	dopts := []zstd.DOption{zstd.WithDecoderLowmem(false),
		// In streaming mode the memory limit is also a window limit, and it
		// is the one that bounds single-segment frames (whose window is
		// their content size).
		zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(maxWindow)}
	if opt.Threads > 0 {
		dopts = append(dopts, zstd.WithDecoderConcurrency(opt.Threads))
	}
	tail := &tailHasher{r: br, h: sha256.New()}
	dec, err := zstd.NewReader(tail, dopts...)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	total := h.Manifest.TotalSize()
	var doneBytes int64
	buf := make([]byte, 256<<10)
	for _, f := range h.Manifest.Files {
		w, commit, abort, err := open(h, f)
		if err != nil {
			return nil, err
		}
		sum := sha256.New()
		var n int64
		for n < f.Size {
			k := int64(len(buf))
			if rem := f.Size - n; rem < k {
				k = rem
			}
			got, rerr := io.ReadFull(dec, buf[:k])
			sum.Write(buf[:got])
			if _, werr := w.Write(buf[:got]); werr != nil {
				abort()
				return nil, fmt.Errorf("write %s: %w", f.Name, werr)
			}
			n += int64(got)
			doneBytes += int64(got)
			if opt.Progress != nil {
				opt.Progress(phase, doneBytes, total)
			}
			if rerr != nil {
				abort()
				return nil, dataError(ctx, f, n, rerr)
			}
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != f.SHA256 {
			abort()
			return nil, fmt.Errorf("%w: %s: sha256 %s, manifest says %s", ErrCorrupt, f.Name, got, f.SHA256)
		}
		if err := commit(); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.Name, err)
		}
	}
	// Nothing may follow the last file: not more data, not a damaged frame.
	var one [1]byte
	if k, err := dec.Read(one[:]); k != 0 || err != io.EOF {
		if err != nil && err != io.EOF {
			return nil, dataError(ctx, File{Name: "end of data"}, 0, err)
		}
		return nil, fmt.Errorf("%w: data continues after the last file", ErrCorrupt)
	}
	if _, err := io.Copy(io.Discard, tail); err != nil {
		return nil, dataError(ctx, File{Name: "trailer"}, 0, err)
	}
	if tail.held != trailerSize || [8]byte(tail.hold[:8]) != trailerHead || !bytes.Equal(tail.hold[8:], tail.h.Sum(nil)) {
		return nil, fmt.Errorf("%w: the compressed data does not match its checksum trailer", ErrCorrupt)
	}
	return h, nil
}

// tailHasher passes a stream through, hashing all of it but the last
// trailerSize bytes, which it keeps.
type tailHasher struct {
	r    io.Reader
	h    hash.Hash
	hold [trailerSize]byte
	held int
}

func (t *tailHasher) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	b := p[:n]
	switch out := t.held + n - trailerSize; {
	case out <= 0: // everything still fits in the window
		t.held += copy(t.hold[t.held:], b)
	case out <= t.held: // the oldest out bytes of the window leave it
		t.h.Write(t.hold[:out])
		k := copy(t.hold[:], t.hold[out:t.held])
		copy(t.hold[k:], b)
		t.held = trailerSize
	default: // the whole window and the start of b leave
		t.h.Write(t.hold[:t.held])
		t.h.Write(b[:out-t.held])
		copy(t.hold[:], b[out-t.held:])
		t.held = trailerSize
	}
	return n, err
}

func dataError(ctx context.Context, f File, n int64, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("%w: %s: after %d bytes: a zstd frame asks for a window over the %d MiB limit (%v)", ErrCorrupt, f.Name, n, maxWindow>>20, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: data ends after %d of %d bytes (truncated pack)", ErrCorrupt, f.Name, n, f.Size)
	}
	return fmt.Errorf("%w: %s: after %d bytes: %v", ErrCorrupt, f.Name, n, err)
}
