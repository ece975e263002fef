package kernels

import (
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"dayi/weights"
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
			best := time.Duration(1 << 62)
			for b.Loop() {
				t0 := time.Now()
				var wg sync.WaitGroup
				for t := 0; t < th; t++ {
					wg.Add(1)
					go func(t int) {
						defer wg.Done()
						sums[t] = sum8(a[len(a)*t/th : len(a)*(t+1)/th])
					}(t)
				}
				wg.Wait()
				best = min(best, time.Since(t0))
			}
			b.ReportMetric(float64(8*len(a))/best.Seconds()/1e9, "GB/s-best")
		})
	}
}

// reportVsRead runs b's loop over run and read, alternating, and reports
// the best GB/s of each over n bytes (run's under the name unit) and
// run's share of the read, so that a noisy host's drift hits both alike.
func reportVsRead(b *testing.B, n int, unit string, run, read func()) {
	bestRun, bestRead := time.Duration(1<<62), time.Duration(1<<62)
	for b.Loop() {
		t0 := time.Now()
		run()
		bestRun = min(bestRun, time.Since(t0))
		t0 = time.Now()
		read()
		bestRead = min(bestRead, time.Since(t0))
	}
	r := float64(n) / bestRun.Seconds() / 1e9
	rd := float64(n) / bestRead.Seconds() / 1e9
	b.ReportMetric(r, unit)
	b.ReportMetric(rd, "GB/s-read")
	b.ReportMetric(r/rd, "of-read")
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

// BenchmarkDecodeVsBandwidth runs decode (m=1) matmuls over 512 MiB of
// 2048x8192 weight matrices - far beyond the caches, as with a real model -
// alternating with a plain read of the same bytes on as many goroutines,
// and reports both (best of the alternating runs) and matmul/read.
//
//	go test ./kernels -run '^$' -bench DecodeVsBandwidth -benchtime 5x
func BenchmarkDecodeVsBandwidth(b *testing.B) {
	const n, k, total = 2048, 8192, 512 << 20
	x := make([]float32, k)
	for i := range x {
		x[i] = float32(i%17) - 8
	}
	out := make([]float32, n)
	for _, bt := range benchTypes {
		if bt.t == weights.TypeQ5_0 {
			continue
		}
		w := benchWeights(bt.t, bt.dOffs, n, k)
		reps := total / len(w)
		big := make([]byte, reps*len(w))
		for r := 0; r < reps; r++ {
			copy(big[r*len(w):], w)
		}
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&big[0])), len(big)/8)
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", bt.t, th), func(b *testing.B) {
				p := NewPool(th)
				defer p.Close()
				sums := make([]uint64, th)
				reportVsRead(b, len(big), "GB/s-matmul", func() {
					for r := 0; r < reps; r++ {
						if err := p.MatMul(bt.t, big[r*len(w):(r+1)*len(w)], n, k, x, 1, out); err != nil {
							b.Fatal(err)
						}
					}
				}, func() {
					p.For(th, 1, func(lo, hi int) {
						for t := lo; t < hi; t++ {
							sums[t] = sum8(words[len(words)*t/th : len(words)*(t+1)/th])
						}
					})
				})
			})
		}
		big, words = nil, nil
	}
}

// BenchmarkDecodeLayers runs the decode (m=1) matmuls of 16 llama-1b layers
// (q, k, v, o 2048-wide, gate/up 2048→8192, down 8192→2048: 34 MB per layer
// in q4_0, 547 MB in all) as a model does per token, so that GB/s here can be
// compared with BenchmarkDecodeVsBandwidth's single shape and with the
// engine's decode step (the difference is the engine's share).
//
//	go test ./kernels -run '^$' -bench DecodeLayers -benchtime 10x
func BenchmarkDecodeLayers(b *testing.B) {
	type mat struct {
		n, k int
		w    []byte
	}
	shapes := []struct{ n, k int }{{2048, 2048}, {512, 2048}, {512, 2048}, {2048, 2048}, {8192, 2048}, {8192, 2048}, {2048, 8192}}
	for _, bt := range benchTypes {
		if bt.t != weights.TypeQ4_0 && bt.t != weights.TypeQ8_0 && bt.t != weights.TypeQ4_K {
			continue
		}
		var mats []mat
		total := 0
		for l := 0; l < 16; l++ {
			for _, s := range shapes {
				w := benchWeights(bt.t, bt.dOffs, s.n, s.k)
				mats = append(mats, mat{s.n, s.k, w})
				total += len(w)
			}
		}
		x := make([]float32, 8192)
		for i := range x {
			x[i] = float32(i%17) - 8
		}
		out := make([]float32, 8192)
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", bt.t, th), func(b *testing.B) {
				p := NewPool(th)
				defer p.Close()
				b.SetBytes(int64(total))
				for b.Loop() {
					for _, m := range mats {
						if err := p.MatMul(bt.t, m.w, m.n, m.k, x[:m.k], 1, out[:m.n]); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
		mats = nil
	}
}
