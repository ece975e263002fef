//go:build unix

package weights

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// AllocAnon returns n bytes of private anonymous memory (outside the Go heap,
// so a multi-gigabyte model does not move the garbage collector's pacing),
// advised for transparent huge pages, and the function that frees it. The
// engine uses it for repacked copies of weights, which are as large as the
// originals.
func AllocAnon(n int) ([]byte, func(), error) {
	data, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	adviseHugePages(data)
	return data, func() { _ = syscall.Munmap(data) }, nil
}

// lockMemory pins b in RAM and returns the function that unpins it.
func lockMemory(b []byte) (func(), error) {
	if err := unix.Mlock(b); err != nil {
		return nil, err
	}
	return func() { _ = unix.Munlock(b) }, nil
}
