package weights

import (
	"fmt"
	"io"
	"os"
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
	if _, err := io.ReadFull(fd, data); err != nil {
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
