//go:build amd64 && !linux

package kernels

// requestAMX: only Linux's permission protocol is implemented.
func requestAMX() bool { return false }
