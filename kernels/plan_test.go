package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// wantPath is the path table of plan.go written out as rules on this
// CPU's features, independently of how NewPlan builds its list.
func wantPath(t weights.Type, l Layout, m int) string {
	if l == LayoutRows16 {
		if !hasZVNNI && hasAVX2 && (t == weights.TypeQ4_0 || t == weights.TypeQ5_0 || t == weights.TypeQ8_0) {
			return "rows16-avx2"
		}
		if !hasZVNNI && hasAVX2 && (t == weights.TypeQ4_K || t == weights.TypeQ5_K) && m >= 2 {
			return "rows16k-avx2"
		}
		name := "rows16"
		if r16KType(t) {
			name = "rows16k"
		}
		multi := hasZVNNI && (t == weights.TypeQ4_0 || t == weights.TypeQ8_0)
		multiK := hasZVNNI && t == weights.TypeQ4_K
		// q8_0 on AMX (the OS granted the tiles, DAYI_AMX not 0) takes
		// its tiles in place from one full group of 16 rows.
		amxQ8 := t == weights.TypeQ8_0 && gemm16AMXKernels(t, l).inPlace
		switch {
		case multi && amxQ8 && m >= r16MaxGemvmRows:
			return name + "-gemm16"
		case multi && m > r16MaxGemvmRows:
			return name + "-gemm16"
		case multiK && m > r16kMaxGemvmRows:
			return name + "-gemmk16"
		case (multi || multiK) && m >= 2:
			return name + "-gemvm"
		case m > r16MaxGemvCols && hasZVNNI && r16KType(t):
			return name + "-gemmk16"
		case m > r16MaxGemvCols && hasZVNNI:
			return name + "-gemm16"
		}
		return name + "-gemv"
	}
	if t == weights.TypeQ4_1 || t == weights.TypeQ5_1 {
		switch {
		case hasZVNNI && m >= qx1GemmMinRows:
			return "qx1gemm"
		case hasZVNNI:
			return "qx1gemv"
		case hasAVX2 && m >= qx1GemmMinRows2:
			return "qx1gemm"
		case hasAVX2:
			return "qx1gemv"
		}
		return "dots"
	}
	if !hasZVNNI {
		switch {
		case t == weights.TypeF16 && hasZ512:
			return "f16"
		case !hasAVX2:
			return "dots"
		case t == weights.TypeQ4_K || t == weights.TypeQ6_K:
			if m >= kPackedMinRows {
				return "kpacked"
			}
		case t == weights.TypeQ2_K || t == weights.TypeQ3_K || t == weights.TypeQ5_K:
			return "kpacked"
		}
		return "dots"
	}
	switch t {
	case weights.TypeQ4_0, weights.TypeQ8_0:
		if m >= gemm16MinRows {
			return "gemm16"
		}
		return "packed"
	case weights.TypeQ5_0:
		switch {
		case m >= gemm16MinRows:
			return "gemm16"
		case m == 1:
			return "q5gemv"
		}
		return "dots"
	case weights.TypeQ4_K, weights.TypeQ5_K, weights.TypeQ6_K:
		if m >= k16MinRows {
			return "gemmk16"
		}
		return "kgemv"
	case weights.TypeQ2_K, weights.TypeQ3_K:
		return "kpacked"
	case weights.TypeF16:
		return "f16"
	}
	return "dots"
}

// TestPlanPaths checks which path a plan takes for each type, layout and
// batch against the table of plan.go, and that the reference plan of the
// benchmarks (perDot) keeps only the dots for GGUF weights.
func TestPlanPaths(t *testing.T) {
	types := []weights.Type{weights.TypeF32, weights.TypeF16, weights.TypeBF16, weights.TypeQ4_0, weights.TypeQ4_1,
		weights.TypeQ5_0, weights.TypeQ5_1, weights.TypeQ8_0, weights.TypeQ2_K, weights.TypeQ3_K, weights.TypeQ4_K,
		weights.TypeQ5_K, weights.TypeQ6_K}
	for _, typ := range types {
		for _, l := range []Layout{LayoutGGUF, LayoutRows16} {
			if l == LayoutRows16 && !r16Type(typ) {
				continue
			}
			pl, err := NewPlan(typ, l, 64, 512)
			if err != nil {
				t.Fatalf("%s layout %d: %v", typ, l, err)
			}
			ref, err := newPlan(typ, l, 64, 512, true)
			if err != nil {
				t.Fatal(err)
			}
			for m := 1; m <= 40; m++ {
				if got, want := pl.path(m).name, wantPath(typ, l, m); got != want {
					t.Errorf("%s m=%d: path %s, want %s (%s)", typ, m, got, want, pl)
				}
				want := "dots"
				if l == LayoutRows16 {
					want = wantPath(typ, l, m)
				}
				if got := ref.path(m).name; got != want {
					t.Errorf("%s m=%d reference plan: path %s, want %s", typ, m, got, want)
				}
			}
			if pl.Type() != typ || pl.Layout() != l {
				t.Errorf("plan %s reports %s layout %d", pl, pl.Type(), pl.Layout())
			}
		}
	}
}

// TestPlanErrors checks that NewPlan refuses what MatMul cannot do and
// that MatMulPlan refuses operands that do not fit its plan, naming them.
func TestPlanErrors(t *testing.T) {
	for _, c := range []struct {
		t    weights.Type
		l    Layout
		n, k int
	}{
		{weights.TypeIQ4_NL, LayoutGGUF, 2, 32},  // no kernel
		{weights.TypeQ5_1, LayoutRows16, 16, 32}, // no Rows16 layout
		{weights.TypeQ4_0, LayoutRows16, 8, 32},  // rows not a multiple of 16
		{weights.TypeQ4_0, Layout(7), 16, 32},    // unknown layout
		{weights.TypeQ4_0, LayoutGGUF, 2, 48},    // k not whole blocks
		{weights.TypeQ4_K, LayoutGGUF, 2, 128},   // k not whole super-blocks
		{weights.TypeQ8_0, LayoutGGUF, -1, 32},   // negative rows
		{weights.TypeQ8_0, LayoutGGUF, 2, 0},     // empty rows
	} {
		if pl, err := NewPlan(c.t, c.l, c.n, c.k); err == nil {
			t.Errorf("NewPlan(%s, %d, %d, %d) = %s, no error", c.t, c.l, c.n, c.k, pl)
		}
	}
	pl, err := NewPlan(weights.TypeQ8_0, LayoutGGUF, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPool(1)
	defer p.Close()
	w, x, out := make([]byte, 2*34), make([]float32, 3*32), make([]float32, 3*2)
	for _, c := range []struct {
		name   string
		w      []byte
		x      []float32
		m      int
		out    []float32
		wantOK bool
	}{
		{"fits", w, x, 3, out, true},
		{"short weights", w[:67], x, 1, out, false},
		{"short activations", w, x[:95], 3, out, false},
		{"short output", w, x, 3, out[:5], false},
		{"negative batch", w, x, -1, out, false},
		{"empty batch", w, nil, 0, nil, true},
	} {
		err := p.MatMulPlan(pl, c.w, c.x, c.m, c.out)
		if (err == nil) != c.wantOK {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

// TestMatMulPlanReuse runs one plan per type over a sequence of batches
// that switch paths (and so scratch sizes) back and forth, on one pool,
// and checks each result against a fresh pool's MatMul, bit for bit: a
// plan carries no state from one call to the next.
func TestMatMulPlanReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	const n, k = 48, 512
	shared := NewPool(2)
	defer shared.Close()
	for _, c := range []struct {
		t     weights.Type
		dOffs []int
	}{{weights.TypeQ4_0, []int{0}}, {weights.TypeQ5_0, []int{0}}, {weights.TypeQ5_1, []int{0, 2}}, {weights.TypeQ4_K, []int{0, 2}}, {weights.TypeQ6_K, []int{208}}} {
		w := randBlocks(rng, n*k/c.t.BlockSize(), c.t.TypeSize(), c.dOffs...)
		pl, err := NewPlan(c.t, LayoutGGUF, n, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []int{1, 17, 2, 9, 1, 33, 3} {
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			got, want := make([]float32, m*n), make([]float32, m*n)
			if err := shared.MatMulPlan(pl, w, x, m, got); err != nil {
				t.Fatal(err)
			}
			fresh := NewPool(1)
			err := fresh.MatMul(c.t, w, n, k, x, m, want)
			fresh.Close()
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s m=%d (%s): out[%d] = %g, fresh pool %g", c.t, m, pl.path(m).name, i, got[i], want[i])
				}
			}
		}
	}
}

// TestMatMulPlanAllocs checks that a call through a plan allocates nothing
// once the pool's scratch has grown (the decode hot path: one call per
// weight matrix and token). Only where the assembly runs: the Rows16 Go
// twins that stand in for it elsewhere decode into fresh buffers.
func TestMatMulPlanAllocs(t *testing.T) {
	if !hasZVNNI {
		t.Skip("no AVX-512 VNNI: the Rows16 paths run their allocating Go twins")
	}
	rng := rand.New(rand.NewPCG(83, 84))
	const n, k = 64, 512
	p := NewPool(2)
	defer p.Close()
	for _, c := range []struct {
		t     weights.Type
		l     Layout
		dOffs []int
	}{{weights.TypeQ4_0, LayoutGGUF, []int{0}}, {weights.TypeQ4_0, LayoutRows16, []int{0}},
		{weights.TypeQ6_K, LayoutGGUF, []int{208}}, {weights.TypeQ6_K, LayoutRows16, []int{208}}, {weights.TypeF16, LayoutGGUF, nil},
		{weights.TypeQ4_1, LayoutGGUF, []int{0, 2}}, {weights.TypeQ5_1, LayoutGGUF, []int{0, 2}}} {
		w := randBlocks(rng, n*k/c.t.BlockSize(), c.t.TypeSize(), c.dOffs...)
		if c.t == weights.TypeF16 {
			for i := 0; i < n*k; i++ {
				binary.LittleEndian.PutUint16(w[2*i:], weights.FP32ToFP16(float32(rng.NormFloat64())))
			}
		}
		pl, err := NewPlan(c.t, c.l, n, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []int{1, 32} {
			x, out := make([]float32, m*k), make([]float32, m*n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			if err := p.MatMulPlan(pl, w, x, m, out); err != nil { // grows the scratch
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(20, func() { _ = p.MatMulPlan(pl, w, x, m, out) }); a != 0 {
				t.Errorf("%s m=%d (%s): %v allocations per call", c.t, m, pl.path(m).name, a)
			}
		}
	}
}
