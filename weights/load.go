package weights

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// OpenOptions choose how a model's bytes are brought into memory.
//
// The default (zero value) maps the file: loading is instant, pages are read
// on first use and shared with the page cache, and the kernel may drop them
// under memory pressure (the next token then waits for the disk). NoMmap reads
// the whole file into private anonymous memory instead: loading costs one
// sequential read and the memory is the process's own (on Linux it is also
// eligible for transparent huge pages, fewer TLB misses on a 1 GB weight
// sweep per token). Mlock pins whichever memory holds the weights so that
// it is never paged out; it needs RLIMIT_MEMLOCK (or CAP_IPC_LOCK) to cover
// the file. These are llama.cpp's --no-mmap and --mlock.
type OpenOptions struct {
	NoMmap bool
	Mlock  bool
}

// OpenWith opens the GGUF file at path as opt says. With the zero options it
// is Open.
func OpenWith(path string, opt OpenOptions) (*File, error) {
	var f *File
	var err error
	if opt.NoMmap {
		f, err = readWhole(path)
	} else {
		f, err = Open(path)
	}
	if err != nil {
		return nil, err
	}
	if opt.Mlock {
		unlock, err := lockMemory(f.data)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: mlock %d bytes (raise RLIMIT_MEMLOCK, e.g. ulimit -l unlimited): %w", path, len(f.data), err)
		}
		if f.rel != nil {
			f.rel.locked = true
		}
		inner := f.closer
		f.closer = func() error {
			unlock()
			if inner != nil {
				return inner()
			}
			return nil
		}
	}
	return f, nil
}

// readWhole reads the file at path into memory that the File owns (anonymous
// memory outside the Go heap where the platform has it).
func readWhole(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("%s: %w: empty file", path, ErrFormat)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: file too large to load", path)
	}
	data, free, err := AllocAnon(int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: allocate %d bytes: %w", path, size, err)
	}
	if err := readAtParallel(fd, data, runtime.GOMAXPROCS(0), 64<<20); err != nil {
		free()
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	f := &File{Path: path, data: data, Size: size}
	if err := f.parse(); err != nil {
		free()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.rel = &releaser{data: data, path: path, loaded: st, private: true}
	f.closer = func() error { free(); return nil }
	return f, nil
}

// readAtParallel fills data from the start of fd with up to par concurrent
// positioned reads of contiguous parts of at least minPart bytes. A model is
// gigabytes: one read(2) copies them from the page cache, and faults in the
// fresh pages, on one core while the others wait (Llama-3-8B Q4_K_M, 4.9 GB,
// 2-core VM, from the page cache, alternating: 1.3-9.3 s in one read, 0.7-2.7 s
// in two; 2026-12-07).
func readAtParallel(fd *os.File, data []byte, par, minPart int) error {
	par = max(1, min(par, len(data)/max(minPart, 1)))
	errs := make([]error, par)
	var wg sync.WaitGroup
	for p := 0; p < par; p++ {
		lo, hi := len(data)*p/par, len(data)*(p+1)/par
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := fd.ReadAt(data[lo:hi], int64(lo))
			switch {
			case n == hi-lo:
				// ReadAt may report io.EOF with the last byte of the file
			case err == nil || err == io.EOF:
				errs[p] = fmt.Errorf("bytes %d-%d: %w", lo, hi, io.ErrUnexpectedEOF)
			default:
				errs[p] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
