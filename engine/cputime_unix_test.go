//go:build unix

package engine

import "syscall"

// processCPU is the process's user+system CPU time in nanoseconds (0 if
// unknown), for benchmarks on shared hosts.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
