//go:build linux

package tokenizer

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU runs f on a locked OS thread and returns the CPU time that
// thread spent in it (getrusage RUSAGE_THREAD). Unlike wall time it does not
// grow while the thread waits for a core, so a timing test on a loaded
// machine (CI, other builds) measures the algorithm, not the queue.
func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var a, b unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &a); err != nil {
		start := time.Now()
		f()
		return time.Since(start)
	}
	f()
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &b); err != nil {
		panic(err) // it just worked on this thread
	}
	return time.Duration(b.Utime.Nano() - a.Utime.Nano() + b.Stime.Nano() - a.Stime.Nano())
}
