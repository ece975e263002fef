package compare

import (
	"encoding/binary"
	"sync"
	"time"
)

// ReadBandwidth measures the host's memory read bandwidth in bytes/s with
// threads goroutines reading disjoint parts of a size-byte buffer (size
// should be far beyond the last-level cache). The best of rounds passes is
// returned.
//
// Each goroutine sums the buffer's 64-bit words with sumWords: on amd64 an
// AVX-512 or AVX2 loop (readbw_amd64.s) with the loads folded into
// independent vector adds, so the core issues loads faster than memory can
// serve them and the result is the memory system's ceiling, like STREAM's
// or likwid-bench's read kernels. Odd rounds add software prefetch (which
// helps on some hosts and not on others), so give rounds ≥ 2. An
// earlier version scanned with bytes.IndexByte, one 32-byte load per
// compare-and-branch without prefetch: it measured 8.2 GB/s on one thread
// where dayi's q8_0 decode already streamed weights at ~11 GB/s, so
// "decode % of bandwidth" exceeded 100 %.
func ReadBandwidth(threads, size, rounds int) float64 {
	if threads < 1 {
		threads = 1
	}
	if rounds < 1 {
		rounds = 1
	}
	part := size / threads &^ 4095 // whole pages: every part word-aligned
	if part == 0 {
		return 0
	}
	buf := make([]byte, part*threads)
	for i := 0; i < len(buf); i += 8 { // real pages, not the shared zero page
		binary.LittleEndian.PutUint64(buf[i:], uint64(i))
	}
	sums := make([]uint64, threads)
	best := 0.0
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		start := time.Now()
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				sums[t] = sumWords(buf[t*part:(t+1)*part], r%2 == 1)
			}(t)
		}
		wg.Wait()
		if bw := float64(len(buf)) / time.Since(start).Seconds(); bw > best {
			best = bw
		}
	}
	// The words are 0, 8, 16, …: their sum is known, which keeps the
	// loads alive and checks that every word was read.
	var got uint64
	for _, s := range sums {
		got += s
	}
	n := uint64(len(buf) / 8)
	if got != 8*(n*(n-1)/2) {
		return 0
	}
	return best
}

// sumGo is the portable read loop and the twin of the assembly ones: the
// wrapping sum of the little-endian 64-bit words of b (len(b) a multiple
// of 8), with four accumulators.
func sumGo(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for ; len(b) >= 32; b = b[32:] {
		s0 += binary.LittleEndian.Uint64(b)
		s1 += binary.LittleEndian.Uint64(b[8:])
		s2 += binary.LittleEndian.Uint64(b[16:])
		s3 += binary.LittleEndian.Uint64(b[24:])
	}
	for ; len(b) >= 8; b = b[8:] {
		s0 += binary.LittleEndian.Uint64(b)
	}
	return s0 + s1 + s2 + s3
}
