package backend

import "sync"

// workers splits loops across threads. It is the backend's stand-in until the
// kernels package's pool is wired in.
type workers struct{ n int }

func newWorkers(n int) *workers { return &workers{n: max(1, n)} }

// For runs fn over [0,n) in contiguous chunks of at least grain items.
func (w *workers) For(n, grain int, fn func(lo, hi int)) {
	grain = max(1, grain)
	chunks := min(w.n, (n+grain-1)/grain)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	per := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(n, lo+per))
	}
	fn(0, min(n, per))
	wg.Wait()
}
