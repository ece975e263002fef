//go:build unix

package weights

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// release gives back the pages of r.data[lo:hi]; lo and hi are multiples of
// the page size.
func (r *releaser) release(lo, hi int) error {
	b := r.data[lo:hi:hi]
	if uintptr(unsafe.Pointer(&b[0]))%uintptr(os.Getpagesize()) != 0 {
		return fmt.Errorf("memory is not page-aligned")
	}
	if !r.private {
		// A shared read-only file mapping: dropping the page table entries
		// is enough, the bytes come back from the page cache.
		if err := r.unlock(b); err != nil {
			return err
		}
		if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
			return fmt.Errorf("madvise: %w", err)
		}
		return nil
	}
	// Private anonymous memory holding a copy of the file from offset 0:
	// MADV_DONTNEED would zero it, so map the file's own bytes over it
	// instead (private, so writable like the rest of the buffer, and
	// unshared with the file). That is only right if the file is still the
	// one that was read.
	fd, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(st, r.loaded) || st.Size() != r.loaded.Size() || !st.ModTime().Equal(r.loaded.ModTime()) {
		return fmt.Errorf("%s changed since it was loaded (size %d, modified %v; was %d, %v)",
			r.path, st.Size(), st.ModTime(), r.loaded.Size(), r.loaded.ModTime())
	}
	if int64(hi) > st.Size() {
		return fmt.Errorf("range ends at %d, past the file's %d bytes", hi, st.Size())
	}
	if err := r.unlock(b); err != nil {
		return err
	}
	// MAP_FIXED replaces the pages in one step: a reader never sees a hole.
	// (Linux can fail such a call after removing the old pages only on
	// ENOMEM while splitting mappings, which we cannot undo.)
	_, err = unix.MmapPtr(int(fd.Fd()), int64(lo), unsafe.Pointer(&b[0]), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("mmap over the copy: %w", err)
	}
	return nil
}

// unlock unpins b if the File's memory was mlocked: MADV_DONTNEED refuses
// locked pages, and a replaced range should not stay counted as locked.
func (r *releaser) unlock(b []byte) error {
	if !r.locked {
		return nil
	}
	if err := unix.Munlock(b); err != nil {
		return fmt.Errorf("munlock: %w", err)
	}
	return nil
}
