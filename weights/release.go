package weights

import (
	"errors"
	"fmt"
	"os"
)

// releaser remembers how a File's memory was obtained, so that Release can
// give pages back in the way that keeps them readable.
type releaser struct {
	data []byte // the File's whole image; page-aligned (it came from mmap)
	path string // the file the image was loaded from

	// private: data is private anonymous memory filled by read (NoMmap).
	// Released pages are then replaced by a private mapping of the file, so
	// the file must be the one that was read: loaded is its state then.
	private bool
	loaded  os.FileInfo

	locked bool // data is mlocked; locked pages cannot be dropped
}

// Release gives back the resident memory of tensor t's bytes while keeping
// them readable and byte-identical: after it, TensorData(t) still returns the
// original bytes, which the kernel brings back from the file (page cache) on
// first touch.
//
// It exists for weights the engine has copied into another layout (a repacked
// q4_0/q8_0 buffer): their original bytes are then read rarely if at all, and
// giving their pages back keeps the process's memory near one copy of the
// model instead of two. This is what llama.cpp gets by not loading repacked
// tensors into the mmap buffer.
//
// Only whole pages strictly inside the tensor's bytes are released; pages it
// shares with a neighbour are left alone. For a File from Open the pages are
// dropped (madvise MADV_DONTNEED) and refault from the page cache. For a File
// opened with NoMmap (private anonymous memory) the range is replaced by a
// private mapping of the same bytes of the file, which Release reopens; it
// refuses, leaving memory as it was, if the file's size, modification time or
// identity changed since load. Mlocked memory is unlocked over the range
// first. For a File from Parse, and on platforms without mmap, Release does
// nothing and returns nil.
//
// t must be one of f's tensors (from f.Tensors or f.Tensor). Views returned by
// TensorData before stay valid. Release must not run concurrently with Close.
func (f *File) Release(t *TensorInfo) error {
	if t == nil {
		return fmt.Errorf("%s: release: nil tensor", f.Path)
	}
	return f.ReleaseRange(t, 0, t.Size)
}

// ReleaseRange is Release for the bytes [off, off+n) of tensor t (clipped
// to the tensor): the whole pages inside that range only. Copying a large
// tensor in chunks and releasing each chunk after it keeps the peak of
// resident memory at about one copy plus one chunk.
func (f *File) ReleaseRange(t *TensorInfo, off, n int64) error {
	if t == nil {
		return fmt.Errorf("%s: release: nil tensor", f.Path)
	}
	i, ok := f.tIndex[t.Name]
	if !ok {
		return fmt.Errorf("%s: release tensor %q: not a tensor of this file", f.Path, t.Name)
	}
	if own := &f.Tensors[i]; own.Offset != t.Offset || own.Size != t.Size {
		return fmt.Errorf("%s: release tensor %q: offset %d size %d do not match the file's (offset %d size %d)",
			f.Path, t.Name, t.Offset, t.Size, own.Offset, own.Size)
	}
	if f.data == nil {
		return fmt.Errorf("%s: release tensor %q: %w", f.Path, t.Name, errClosed)
	}
	start := f.DataOffset + t.Offset
	end := start + t.Size
	if t.Offset < 0 || t.Size < 0 || start < 0 || end > int64(len(f.data)) || end < start {
		return fmt.Errorf("%s: release tensor %q: bytes [%d,%d) outside the file (%d bytes)", f.Path, t.Name, start, end, len(f.data))
	}
	if off < 0 || n < 0 {
		return fmt.Errorf("%s: release tensor %q: bad range offset %d length %d", f.Path, t.Name, off, n)
	}
	if off < t.Size {
		start += off
		end = start + min(n, t.Size-off)
	} else {
		end = start
	}
	if f.rel == nil {
		return nil
	}
	ps := int64(os.Getpagesize())
	lo := (start + ps - 1) / ps * ps
	hi := end / ps * ps
	if hi <= lo {
		return nil // no whole page of its own
	}
	if err := f.rel.release(int(lo), int(hi)); err != nil {
		return fmt.Errorf("%s: release tensor %q (bytes [%d,%d)): %w", f.Path, t.Name, lo, hi, err)
	}
	return nil
}

var errClosed = errors.New("file is closed")

// Mlocked reports whether f's memory was pinned (OpenOptions.Mlock), so that
// a copy made from it (repacked weights) can be pinned as well.
func (f *File) Mlocked() bool { return f.rel != nil && f.rel.locked }

// LockMemory pins b in RAM (as OpenOptions.Mlock does for a File) and returns
// the function that unpins it.
func LockMemory(b []byte) (unlock func(), err error) { return lockMemory(b) }
