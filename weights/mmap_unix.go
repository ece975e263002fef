//go:build unix

package weights

import (
	"fmt"
	"os"
	"syscall"
)

// Open maps the GGUF file at path read-only and parses it. Tensor data is not
// read until used: the views returned by TensorData point into the mapping.
func Open(path string) (*File, error) {
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
		return nil, fmt.Errorf("%s: file too large to map", path)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	f := &File{Path: path, data: data, Size: size}
	if err := f.parse(); err != nil {
		syscall.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.rel = &releaser{data: data, path: path}
	f.closer = func() error { return syscall.Munmap(data) }
	return f, nil
}
