package backend

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"dayi/weights"
)

// TestParallelSplits checks the dispatch itself: below the threshold one
// call covers everything on the caller; above it the chunks are
// block-aligned, disjoint, cover [0, size) exactly, and use several workers.
func TestParallelSplits(t *testing.T) {
	b, err := NewBackend("threads=3")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	st := &state{e: &Executable{b: b}, memo: make([]any, 1)}
	n := &node{id: 0}
	for _, size := range []int{0, 1, 1000, parMinCheap - 1, parMinCheap, parMinCheap + 1, 3*parMinCheap + 17, 1 << 20} {
		var mu sync.Mutex
		var spans [][2]int
		body := func(_ *node, _ []*Buffer, _ *Buffer, lo, hi int) {
			mu.Lock()
			spans = append(spans, [2]int{lo, hi})
			mu.Unlock()
		}
		parallel(st, n, nil, nil, size, parMinCheap, parBlock, body)
		slices.SortFunc(spans, func(x, y [2]int) int { return x[0] - y[0] })
		if size < parMinCheap {
			if len(spans) != 1 || spans[0] != [2]int{0, size} {
				t.Errorf("size %d: spans %v, want one serial call", size, spans)
			}
			continue
		}
		if len(spans) < 2 {
			t.Errorf("size %d: %d chunk(s), want a split", size, len(spans))
		}
		at := 0
		for _, s := range spans {
			if s[0] != at || s[1] <= s[0] || (s[1] != size && s[1]%parBlock != 0) {
				t.Errorf("size %d: spans %v do not tile [0,%d) on %d-element blocks", size, spans, size, parBlock)
				break
			}
			at = s[1]
		}
		if at != size {
			t.Errorf("size %d: spans %v end at %d", size, spans, at)
		}
		if j, _ := st.memo[0].(*parJob); j == nil || j.ins != nil || j.out != nil || j.n != nil {
			t.Errorf("size %d: the job record still pins the run's buffers", size)
		}
	}
}

// TestParallelDispatchAllocatesNothing: a split op reuses its job record.
func TestParallelDispatchAllocatesNothing(t *testing.T) {
	b, err := NewBackend("threads=2")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	st := &state{e: &Executable{b: b}, memo: make([]any, 1)}
	n := &node{id: 0}
	x := make([]float32, 1<<16)
	body := func(_ *node, _ []*Buffer, _ *Buffer, lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i]++
		}
	}
	parallel(st, n, nil, nil, len(x), parMinCheap, parBlock, body)
	if a := testing.AllocsPerRun(50, func() { parallel(st, n, nil, nil, len(x), parMinCheap, parBlock, body) }); a != 0 {
		t.Errorf("%v allocations per parallel dispatch", a)
	}
	for i, v := range x {
		if v != 52 {
			t.Fatalf("x[%d] = %v after 52 dispatches", i, v)
		}
	}
}

// fastExpULPs is the distance in ulps between expNeg(y) and math.Exp(y).
func fastExpULPs(y float64) int64 {
	d := int64(math.Float64bits(expNeg(y))) - int64(math.Float64bits(math.Exp(y)))
	if d < 0 {
		d = -d
	}
	return d
}

// TestFastExpErrorBound: the table-driven exp stays within a few ulps of
// math.Exp (the reference) over [-87, 0], and so do the logistic quotients
// built from it: far inside logisticGuard.
func TestFastExpErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var worst, worstQ int64
	var worstY float64
	check := func(y float64) {
		if d := fastExpULPs(y); d > worst {
			worst, worstY = d, y
		}
		// The quotients logisticF32 rounds, both signs, against logisticRef's.
		e, ef := math.Exp(y), expNeg(y)
		for _, q := range [][2]float64{{1 / (1 + e), 1 / (1 + ef)}, {e / (1 + e), ef / (1 + ef)}} {
			d := int64(math.Float64bits(q[0])) - int64(math.Float64bits(q[1]))
			worstQ = max(worstQ, d, -d)
		}
	}
	for range 2_000_000 {
		check(-87 * r.Float64())
		check(-math.Ldexp(r.Float64(), -r.IntN(40)))
	}
	for k := -8100; k <= 0; k++ { // table/exponent boundaries k·ln2/64 and their neighbours
		y := float64(k) * math.Ln2 / 64
		if y < -87 {
			continue
		}
		check(y)
		check(math.Nextafter(y, 0))
		check(math.Nextafter(y, -1))
		check(y + math.Ln2/128)
	}
	check(0)
	check(-87)
	t.Logf("max |expNeg - math.Exp| = %d ulp (at y = %g); max quotient difference %d ulp", worst, worstY, worstQ)
	if worst > 4 || worstQ > logisticGuard/16 {
		t.Errorf("expNeg is %d ulps from math.Exp at y = %g, quotients %d ulps apart: the logistic guard (%d ulps) needs a wide margin",
			worst, worstY, worstQ, logisticGuard)
	}
}

func sameF32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestLogisticFastMatchesReference compares logisticF32 with the float64
// math.Exp formula bit for bit: edge cases, a strided walk over all float32
// bit patterns (~44 M values), and every float32 with DAYI_EXHAUSTIVE=1.
func TestLogisticFastMatchesReference(t *testing.T) {
	stride := uint64(97)
	if os.Getenv("DAYI_EXHAUSTIVE") != "" {
		stride = 1
	} else if testing.Short() {
		stride = 9973
	}
	edges := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 87, -87, 87.00001, -87.00001, 88.7, -88.7, 103.9, -103.9,
		104, -104, 1e-30, -1e-30, 1e-45, -1e-45, 16.6, 17, -17, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
	got := make([]float32, len(edges))
	logisticF32(edges, got)
	for i, v := range edges {
		if want := logisticRef(v); !sameF32(got[i], want) {
			t.Errorf("logistic(%g) = %g (%#x), reference %g (%#x)", v, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
		}
	}
	// Split the walk over goroutines: each compares a contiguous range.
	workers := runtime.GOMAXPROCS(0)
	var bad atomic.Int64
	var wg sync.WaitGroup
	const total = uint64(1) << 32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, hi := total*uint64(w)/uint64(workers), total*uint64(w+1)/uint64(workers)
			lo = (lo + stride - 1) / stride * stride
			const batch = 4096
			in := make([]float32, 0, batch)
			out := make([]float32, batch)
			flush := func() {
				logisticF32(in, out)
				for i, v := range in {
					if want := logisticRef(v); !sameF32(out[i], want) {
						if bad.Add(1) <= 10 {
							t.Errorf("logistic(%g [%#x]) = %#x, reference %#x", v, math.Float32bits(v), math.Float32bits(out[i]), math.Float32bits(want))
						}
					}
				}
				in = in[:0]
			}
			for b := lo; b < hi; b += stride {
				in = append(in, math.Float32frombits(uint32(b)))
				if len(in) == batch {
					flush()
				}
			}
			flush()
		}()
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d mismatches", n)
	}
}

// TestF32ToF16MatchesWeights compares the branch-free conversion with
// weights.FP32ToFP16 (itself tested against ggml's) on a strided walk over
// all float32 bit patterns and every pattern with DAYI_EXHAUSTIVE=1.
func TestF32ToF16MatchesWeights(t *testing.T) {
	stride := uint64(61)
	if os.Getenv("DAYI_EXHAUSTIVE") != "" {
		stride = 1
	} else if testing.Short() {
		stride = 9973
	}
	bad := 0
	for b := uint64(0); b < 1<<32; b += stride {
		f := math.Float32frombits(uint32(b))
		if got, want := f32ToF16(f), weights.FP32ToFP16(f); got != want {
			if bad++; bad <= 10 {
				t.Errorf("f32ToF16(%g [%#x]) = %#x, weights.FP32ToFP16 %#x", f, uint32(b), got, want)
			}
		}
	}
	// Every float16 rounding boundary: each float16 value's float32 and
	// the float32 values around the midpoints to its neighbour.
	for h := range 1 << 16 {
		f := weights.FP16ToFP32(uint16(h))
		fb := math.Float32bits(f)
		for _, d := range []int64{0, 0xfff, 0x1000, 0x1001, -0x1000, -0xfff, -0x1001} {
			v := math.Float32frombits(uint32(int64(fb) + d))
			if got, want := f32ToF16(v), weights.FP32ToFP16(v); got != want {
				if bad++; bad <= 10 {
					t.Errorf("f32ToF16(%g [%#x]) = %#x, weights.FP32ToFP16 %#x", v, math.Float32bits(v), got, want)
				}
			}
		}
	}
}
