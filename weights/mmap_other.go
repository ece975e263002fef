//go:build !unix

package weights

import (
	"fmt"
	"os"
)

// Open reads the GGUF file at path into memory and parses it (no mmap on this
// platform).
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, data: data, Size: int64(len(data))}
	if err := f.parse(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
