package compare

import (
	"bytes"
	"sync"
	"time"
)

// ReadBandwidth measures the host's memory read bandwidth in bytes/s with
// threads goroutines scanning disjoint parts of a size-byte buffer (much
// larger than the last-level cache). The scan is bytes.IndexByte for a byte
// that is absent: the Go runtime's SIMD loop reads at full speed and writes
// nothing, which is what a decode step does to its weights. The best of
// rounds passes is returned.
func ReadBandwidth(threads, size, rounds int) float64 {
	if threads < 1 {
		threads = 1
	}
	buf := make([]byte, size)
	for i := range buf { // real pages, not the shared zero page
		buf[i] = 0x55
	}
	part := size / threads
	best := 0.0
	var found int
	var mu sync.Mutex
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		start := time.Now()
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(p []byte) {
				defer wg.Done()
				i := bytes.IndexByte(p, 0xAA)
				mu.Lock()
				found += i
				mu.Unlock()
			}(buf[t*part : (t+1)*part])
		}
		wg.Wait()
		if bw := float64(part*threads) / time.Since(start).Seconds(); bw > best {
			best = bw
		}
	}
	if found != -threads*rounds { // the byte was never there: keeps the scan alive
		return 0
	}
	return best
}
