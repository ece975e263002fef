// Package atomicfile writes files so that a reader sees either the old file
// or the whole new one, never a half-written model, pack, sidecar or
// database, even if the process dies or the machine loses power mid-write.
//
// The recipe is the usual POSIX one: write a hidden temporary file in the
// destination's directory (same file system, so the rename is atomic),
// fsync it, rename it over the destination, then fsync the directory so
// that the rename itself survives a crash (rename(2) alone is atomic but not
// durable; see the ext4 and XFS notes on "data=ordered" and the same step in
// SQLite's and bbolt's own file replacement).
//
// dayi had seven hand-written copies of this recipe, several of which skipped
// the directory fsync or left the temporary file behind on error; every
// writer now goes through this package.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// bufSize buffers streamed writes; models and packs are written in large
// sequential pieces, so a small buffer would cost a syscall per tensor row.
const bufSize = 1 << 20

// File is a file being written. Writes go to a hidden temporary file next to
// its destination; Commit makes it appear at the destination, Abort throws it
// away. A File must end in exactly one of them (Abort after Commit is a no-op,
// so `defer f.Abort()` is the idiom).
type File struct {
	path   string
	perm   fs.FileMode
	tmp    *os.File
	bw     *bufio.Writer
	closed bool // tmp synced and closed (Close), awaiting Commit
	done   bool // committed or aborted
}

// Create starts writing path. perm is the mode the file gets (set with
// chmod, so the umask does not apply: 0o644 means 0o644). The
// directory must exist.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{path: path, perm: perm, tmp: tmp, bw: bufio.NewWriterSize(tmp, bufSize)}, nil
}

// Path is the destination.
func (f *File) Path() string { return f.path }

// TempName is the temporary file's path, for a check of the finished content
// (after Close, before Commit) by code that opens files by name.
func (f *File) TempName() string { return f.tmp.Name() }

// Write writes to the temporary file (buffered).
func (f *File) Write(p []byte) (int, error) {
	if f.closed || f.done {
		return 0, fmt.Errorf("%s: write after close", f.path)
	}
	return f.bw.Write(p)
}

// ReadFrom copies r into the file; with an empty buffer and an *os.File
// source the kernel copies (copy_file_range) without passing through user space.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if f.closed || f.done {
		return 0, fmt.Errorf("%s: write after close", f.path)
	}
	return f.bw.ReadFrom(r)
}

// Close flushes, sets the mode, fsyncs and closes the temporary file without
// moving it into place: a caller that installs several files together (a
// pack) closes each as it is finished and commits them all at the end. Close
// is idempotent; Commit calls it.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	if f.done {
		return fmt.Errorf("%s: already finished", f.path)
	}
	err := f.bw.Flush()
	if err == nil {
		err = f.tmp.Chmod(f.perm)
	}
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	f.bw = nil
	f.closed = true
	if err != nil {
		f.Abort()
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

// Commit closes the file (if Close was not called) and renames it over the
// destination, then fsyncs the directory. On error the temporary file is
// removed and the destination is untouched.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already finished", f.path)
	}
	if err := f.Close(); err != nil {
		return err
	}
	f.done = true
	if err := Rename(f.tmp.Name(), f.path); err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	return nil
}

// Abort removes the temporary file. It does nothing after Commit or a
// previous Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	if !f.closed {
		f.tmp.Close()
		f.closed = true
	}
	os.Remove(f.tmp.Name())
}

// Write creates path with the content fn writes to a buffered writer. If fn
// or any step fails, nothing is left behind and path is untouched.
func Write(path string, perm fs.FileMode, fn func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fn(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// WriteFile is os.WriteFile made atomic and durable.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Rename moves a finished, already synced file over newpath and fsyncs
// newpath's directory, for files written by code that needs a path of its
// own (a database compacted into a side file).
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(newpath)); err != nil {
		return fmt.Errorf("%s: %w", newpath, err)
	}
	return nil
}

// SyncDir fsyncs a directory so that renames and creations in it are
// durable. File systems that cannot sync a directory (some network and
// Windows file systems answer EINVAL or "access denied") are not an error:
// there is nothing more a program can do there.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !ignorableSyncErr(err) {
		return err
	}
	return nil
}

func ignorableSyncErr(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EINVAL) || errors.Is(err, fs.ErrPermission)
}
