//go:build !linux

package tokenizer

import "time"

// threadCPU returns the wall time of f where per-thread CPU time is not read
// (see cputime_linux_test.go).
func threadCPU(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
