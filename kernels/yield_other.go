//go:build !linux

package kernels

import "runtime"

// osYield lets other goroutines run; without sched_yield this is the best
// portable approximation.
func osYield() { runtime.Gosched() }
