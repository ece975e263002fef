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
	x := make([]float32, 2*parMinCheap)
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

// TestFastExpErrorBound: the table-driven exp stays within a few ulps of
// math.Exp (the reference) on float32 inputs of [-87, 0], and so do the
// logistic quotients built from it: far inside logisticGuard.
func TestFastExpErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var xs []float32
	for range 2_000_000 {
		xs = append(xs, 87*r.Float32(), float32(math.Ldexp(r.Float64(), -r.IntN(40))))
	}
	for k := 0; k <= 8100*4; k++ { // table and exponent boundaries k·ln2/256 and their neighbours
		v := float32(float64(k) * math.Ln2 / 256)
		if v > 87 {
			break
		}
		xs = append(xs, v, math.Nextafter32(v, 0), math.Nextafter32(v, 100), v+float32(math.Ln2/512))
	}
	xs = append(xs, math.SmallestNonzeroFloat32*(1<<23), 87, 1, 0.5)
	es := make([]float64, len(xs))
	expNegAbs(xs, es)
	var worst, worstQ int64
	var worstX float32
	for i, v := range xs {
		if v > 87 {
			continue
		}
		e, ef := math.Exp(-float64(v)), es[i]
		if d := int64(math.Float64bits(ef)) - int64(math.Float64bits(e)); max(d, -d) > worst {
			worst, worstX = max(d, -d), v
		}
		// The quotients logisticF32 rounds, both signs, against logisticRef's.
		for _, q := range [][2]float64{{1 / (1 + e), 1 / (1 + ef)}, {e / (1 + e), ef / (1 + ef)}} {
			d := int64(math.Float64bits(q[0])) - int64(math.Float64bits(q[1]))
			worstQ = max(worstQ, d, -d)
		}
	}
	t.Logf("max |exp - math.Exp| = %d ulp (at -%g); max quotient difference %d ulp", worst, worstX, worstQ)
	if worst > 4 || worstQ > logisticGuard/16 {
		t.Errorf("exp is %d ulps from math.Exp at -%g, quotients %d ulps apart: the logistic guard (%d ulps) needs a wide margin",
			worst, worstX, worstQ, logisticGuard)
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

// BenchmarkLogisticKernel times the Logistic loop alone: the reference
// formula against logisticF32, on SiLU-like inputs.
func BenchmarkLogisticKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 8192)
	for i := range x {
		x[i] = 16*r.Float32() - 8
	}
	o := make([]float32, len(x))
	b.Run("ref", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for range b.N {
			for i, v := range x {
				o[i] = logisticRef(v)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for range b.N {
			logisticF32(x, o)
		}
	})
}
