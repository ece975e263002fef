package kernels

import (
	"fmt"
	"sync"
	"testing"
)

// BenchmarkReadBandwidth measures the machine's memory read bandwidth, the
// ceiling for decode (m=1) matmuls: it sums a 1 GiB []uint64 (far beyond
// the caches) with 1 and 2 goroutines, each reading its contiguous half,
// with 8 independent accumulators so the loop is not latency-bound.
//
//	go test ./kernels -run '^$' -bench ReadBandwidth -benchtime 5x
func BenchmarkReadBandwidth(b *testing.B) {
	a := make([]uint64, 1<<27)
	for i := range a {
		a[i] = uint64(i)
	}
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("t%d", th), func(b *testing.B) {
			b.SetBytes(int64(8 * len(a)))
			sums := make([]uint64, th)
			for b.Loop() {
				var wg sync.WaitGroup
				for t := 0; t < th; t++ {
					wg.Add(1)
					go func(t int) {
						defer wg.Done()
						sums[t] = sum8(a[len(a)*t/th : len(a)*(t+1)/th])
					}(t)
				}
				wg.Wait()
			}
		})
	}
}

func sum8(a []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	for len(a) >= 8 {
		s0 += a[0]
		s1 += a[1]
		s2 += a[2]
		s3 += a[3]
		s4 += a[4]
		s5 += a[5]
		s6 += a[6]
		s7 += a[7]
		a = a[8:]
	}
	for _, v := range a {
		s0 += v
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}
