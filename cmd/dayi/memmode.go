package main

import (
	"dayi/assets"
	"dayi/weights"
)

// openModelFileWith is openModelFile with a memory mode (--no-mmap, --mlock).
// The embedded model already lives in the binary's memory, so the options
// only apply to files.
func openModelFileWith(path string, opt weights.OpenOptions) (*weights.File, error) {
	if path == "" || path == assets.DefaultModelName {
		return openModelFile(path)
	}
	return weights.OpenWith(path, opt)
}
