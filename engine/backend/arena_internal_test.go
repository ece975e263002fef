package backend

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestArenaPlannerBestFit walks the planner through a layer-like sequence:
// a big value freed between two small ones leaves a gap that a smaller
// value of another size fills (best fit, not the end), and freed
// neighbours merge so a value as big as both fits where they were.
func TestArenaPlannerBestFit(t *testing.T) {
	var p arenaPlanner
	a := p.alloc(2048) // 0
	b := p.alloc(256)  // 2048
	c := p.alloc(1024) // 2304
	d := p.alloc(128)  // 3328
	if a != 0 || b != 2048 || c != 2304 || d != 3328 || p.end != 3456 {
		t.Fatalf("offsets %d %d %d %d end %d", a, b, c, d, p.end)
	}
	p.release(a, 2048)
	p.release(c, 1024)
	// Gaps [0,2048) and [2304,3328): 512 bytes take the smaller one.
	if e := p.alloc(512); e != 2304 {
		t.Errorf("512 bytes at %d, want 2304 (the best-fitting gap)", e)
	}
	p.release(b, 256)
	// [0,2048) and [2048,2304) merge: 2304 bytes fit at 0.
	if f := p.alloc(2304); f != 0 {
		t.Errorf("2304 bytes at %d, want 0 (merged gaps)", f)
	}
	if p.end != 3456 {
		t.Errorf("arena grew to %d, want 3456", p.end)
	}
	// A value larger than any gap extends a free tail rather than
	// starting past it.
	p.release(d, 128)
	if g := p.alloc(1024); g != 2816 || p.end != 3840 {
		t.Errorf("1024 bytes at %d (end %d), want 2816 (end 3840): the free tail [2816,3456) grows", g, p.end)
	}
}

// TestArenaPlannerNoOverlap drives the planner with random sizes and live
// ranges and checks that no two live values share a byte, that the free
// list stays sorted and merged, and that no free byte is live.
func TestArenaPlannerNoOverlap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var p arenaPlanner
		live := map[int]span{}
		id := 0
		for range 300 {
			if len(live) > 0 && rng.IntN(3) == 0 {
				for k, s := range live {
					p.release(s.off, s.size)
					delete(live, k)
					break
				}
			} else {
				n := alignedSize(1 + rng.IntN(5000))
				live[id] = span{p.alloc(n), n}
				id++
			}
			for i, g := range p.free {
				if g.size <= 0 || g.off+g.size > p.end {
					t.Fatalf("trial %d: bad gap %+v (end %d)", trial, g, p.end)
				}
				if i > 0 && p.free[i-1].off+p.free[i-1].size >= g.off {
					t.Fatalf("trial %d: gaps %+v and %+v unsorted or unmerged", trial, p.free[i-1], g)
				}
			}
			spans := append([]span(nil), p.free...)
			for _, s := range live {
				if s.off+s.size > p.end {
					t.Fatalf("trial %d: value %+v past the arena's end %d", trial, s, p.end)
				}
				spans = append(spans, s)
			}
			for i, x := range spans {
				for _, y := range spans[i+1:] {
					if x.off < y.off+y.size && y.off < x.off+x.size {
						t.Fatalf("trial %d: %+v overlaps %+v", trial, x, y)
					}
				}
			}
		}
	}
}

// TestArenaSharesBytesAcrossSizes compiles a graph whose big intermediate
// dies before two smaller values of other sizes are made: they take its
// bytes (a pool per (dtype, size) kept all three), and the results are
// right.
func TestArenaSharesBytesAcrossSizes(t *testing.T) {
	be, err := New("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	bl := be.Builder("arena")
	f := bl.Main()
	must := mustValue(t)
	x := must(f.Parameter("x", shapes.Make(dtypes.Float32, 16, 16), nil))
	big := must(f.Add(x, x))                                                          // 1024 bytes
	sum := must(f.ReduceSum(big, 1))                                                  // [16], 64 bytes; big dies
	wide := must(f.BroadcastInDim(sum, shapes.Make(dtypes.Float32, 2, 16), []int{1})) // 128 bytes
	f64 := must(f.ConvertDType(wide, dtypes.Float64))                                 // 256 bytes
	if err := f.Return([]backends.Value{must(f.ReduceSum(f64, 0))}, nil); err != nil {
		t.Fatal(err)
	}
	exe, err := bl.Compile()
	if err != nil {
		t.Fatal(err)
	}
	e := exe.(*Executable)
	if e.arenaBytes != 1024+64 {
		t.Errorf("arena of %d bytes, want %d (the [2,16] and f64 values in the dead [16,16]'s bytes)", e.arenaBytes, 1024+64)
	}
	xb := newBuffer(shapes.Make(dtypes.Float32, 16, 16))
	xs := xb.flat.([]float32)
	for i := range xs {
		xs[i] = float32(i%5) - 1
	}
	outs, err := e.Execute([]backends.Buffer{xb}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := outs[0].(*Buffer).flat.([]float64)
	for j := range 16 {
		var want float64
		for i := range 16 {
			want += 2 * float64(xs[j*16+i])
		}
		if got[j] != 2*want {
			t.Fatalf("out[%d] = %g, want %g", j, got[j], 2*want)
		}
	}
}

// TestNewZeroedBuffer checks that a zeroed buffer holds zeros also when it
// comes from the pool with a finalized buffer's data, and that a fresh one
// is not a copy of anything (its own memory).
func TestNewZeroedBuffer(t *testing.T) {
	be, err := NewBackend("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	s := shapes.Make(dtypes.Float16, 4, 8)
	b1, err := be.NewZeroedBuffer(s)
	if err != nil {
		t.Fatal(err)
	}
	raw := b1.(*Buffer).raw
	for i := range raw {
		raw[i] = 0xAB
	}
	if err := be.BufferFinalize(b1); err != nil {
		t.Fatal(err)
	}
	b2, err := be.NewZeroedBuffer(s)
	if err != nil {
		t.Fatal(err)
	}
	got := b2.(*Buffer)
	if rawPtr(got.raw) != rawPtr(raw) {
		t.Log("pool did not hand the finalized buffer back (still checking zeros)")
	}
	for i, v := range got.raw {
		if v != 0 {
			t.Fatalf("byte %d = %#x after reuse, want 0", i, v)
		}
	}
	if !sameShape(got.shape, s) || !got.owned || got.shared {
		t.Errorf("buffer %s owned=%v shared=%v", got.shape, got.owned, got.shared)
	}
	if _, err := be.NewZeroedBuffer(shapes.Make(dtypes.Complex128, 2)); err == nil {
		t.Error("unsupported dtype accepted")
	}
}

// arenaTestExe compiles sum_j (x+x)·x over rows of an [n,n] input: one
// intermediate of n·n float32 in the arena.
func arenaTestExe(t *testing.T, be *Backend, n int) *Executable {
	t.Helper()
	bl := be.Builder("arena_pool")
	f := bl.Main()
	must := mustValue(t)
	x := must(f.Parameter("x", shapes.Make(dtypes.Float32, n, n), nil))
	y := must(f.Mul(must(f.Add(x, x)), x))
	if err := f.Return([]backends.Value{must(f.ReduceSum(y, 1))}, nil); err != nil {
		t.Fatal(err)
	}
	exe, err := bl.Compile()
	if err != nil {
		t.Fatal(err)
	}
	e := exe.(*Executable)
	if e.arenaBytes < n*n*4 {
		t.Fatalf("arena of %d bytes for a [%d,%d] float32 intermediate", e.arenaBytes, n, n)
	}
	return e
}

// runArenaTestExe runs e on a fresh input and checks every row sum.
func runArenaTestExe(t *testing.T, e *Executable, n int, seed float32) {
	t.Helper()
	xb := newBuffer(shapes.Make(dtypes.Float32, n, n))
	xs := xb.flat.([]float32)
	for i := range xs {
		xs[i] = float32(i%7) - seed
	}
	outs, err := e.Execute([]backends.Buffer{xb}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := outs[0].(*Buffer).flat.([]float32)
	for r := range n {
		var want float32
		for c := range n {
			v := xs[r*n+c]
			want += (v + v) * v
		}
		if d := got[r] - want; d > 1e-3 || d < -1e-3 {
			t.Fatalf("[%d,%d] row %d: %g, want %g", n, n, r, got[r], want)
		}
	}
}

// TestArenaPoolShared checks that the step graphs of one backend take
// turns with one arena (the largest's, faulted in by ReserveArena before
// any run), that a run overlapping another gets an arena of its own, that
// results stay right when a state's slots move to another graph's used
// arena, and that a too-small arena is dropped, not kept beside a new one.
func TestArenaPoolShared(t *testing.T) {
	be, err := NewBackend("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	small, big := arenaTestExe(t, be, 8), arenaTestExe(t, be, 32)
	be.ReserveArena()
	if len(be.arenas.free) != 1 || len(be.arenas.free[0]) < big.arenaBytes {
		t.Fatalf("after ReserveArena: %d free arenas, want one of ≥ %d bytes", len(be.arenas.free), big.arenaBytes)
	}
	reserved := unsafe.SliceData(be.arenas.free[0])
	for i := range 3 {
		runArenaTestExe(t, small, 8, float32(i))
		runArenaTestExe(t, big, 32, float32(i+1))
	}
	if len(be.arenas.free) != 1 || unsafe.SliceData(be.arenas.free[0]) != reserved {
		t.Fatalf("after sequential runs: %d free arenas (want the reserved one only)", len(be.arenas.free))
	}

	// A run while another holds the arena: a second arena, then both free.
	st := small.getState()
	if unsafe.SliceData(st.arena) != reserved {
		t.Error("the small graph's state did not take the reserved arena back")
	}
	runArenaTestExe(t, big, 32, 3)
	if len(be.arenas.free) != 1 || unsafe.SliceData(be.arenas.free[0]) == reserved {
		t.Fatalf("overlapping run: %d free arenas, want one other than the held one", len(be.arenas.free))
	}
	small.putState(st)
	if len(be.arenas.free) != 2 {
		t.Fatalf("%d free arenas after both runs, want 2", len(be.arenas.free))
	}
	runArenaTestExe(t, small, 8, 4)
	runArenaTestExe(t, big, 32, 5)

	// Without a reservation the first (small) run's arena is too small for
	// the big graph compiled later: it is dropped, not kept.
	be2, err := NewBackend("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	s2 := arenaTestExe(t, be2, 8)
	runArenaTestExe(t, s2, 8, 1)
	b2 := arenaTestExe(t, be2, 32)
	runArenaTestExe(t, b2, 32, 2)
	runArenaTestExe(t, s2, 8, 3)
	if len(be2.arenas.free) != 1 || len(be2.arenas.free[0]) < b2.arenaBytes {
		t.Fatalf("%d free arenas, want one of ≥ %d bytes", len(be2.arenas.free), b2.arenaBytes)
	}
}
