//go:build unix && !solaris && !aix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on the log for as long as it is
// open: two servers sharing one $DAYI_HOME would otherwise interleave two
// chains in one file. The lock goes with the file descriptor.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
