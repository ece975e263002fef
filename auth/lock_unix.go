//go:build unix

package auth

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile holds an exclusive advisory lock on path+".lock" until unlock
// is called, so two `dayi keys` commands at once cannot lose each other's
// change (each reads, edits and rewrites the whole file).
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keys file %s: lock: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("keys file %s: lock: %w", path, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
