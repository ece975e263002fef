//go:build linux || darwin || freebsd

package pack

import "syscall"

// diskFree is the space statfs(2) reports available to unprivileged
// writers in the file system holding dir.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
