package backend

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestElementwiseInPlace checks the slot plan of a SwiGLU-like chain: an
// elementwise op whose same-shape operand dies there writes over it (one
// slot for the chain instead of one per value), an operand read again later
// or broadcast is never overwritten, and the results are those of the plain
// formula.
func TestElementwiseInPlace(t *testing.T) {
	be, err := New("threads=1")
	if err != nil {
		t.Fatal(err)
	}
	bl := be.Builder("inplace")
	f := bl.Main()
	must := mustValue(t)
	big := shapes.Make(dtypes.Float32, 4, 8)
	row := shapes.Make(dtypes.Float32, 1, 8)
	x := must(f.Parameter("x", big, nil))
	w := must(f.Parameter("w", row, nil))
	g := must(f.Add(x, x))   // g: a slot of its own (x is a parameter)
	s := must(f.Logistic(g)) // g is read again below: s needs a new slot
	h := must(f.Mul(g, s))   // g and s die here: h takes one of theirs
	u := must(f.Exp(h))      // h dies: in place
	v := must(f.Mul(u, w))   // u dies (w is broadcast, never written)
	if err := f.Return([]backends.Value{must(f.Add(v, x))}, nil); err != nil {
		t.Fatal(err)
	}
	exe, err := bl.Compile()
	if err != nil {
		t.Fatal(err)
	}
	e := exe.(*Executable)
	if got := len(e.slots); got != 2 {
		t.Errorf("%d slots for g, s, h, u, v; want 2 (g and s, the rest in place)", got)
	}
	xb, wb := newBuffer(big), newBuffer(row)
	xs, ws := xb.flat.([]float32), wb.flat.([]float32)
	for i := range xs {
		xs[i] = float32(i%7) - 3
	}
	for i := range ws {
		ws[i] = float32(i) / 8
	}
	outs, err := e.Execute([]backends.Buffer{xb, wb}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := outs[0].(*Buffer).flat.([]float32)
	for i, xv := range xs {
		gv := float64(xv + xv)
		sv := 1 / (1 + math.Exp(-gv))
		want := float32(math.Exp(float64(float32(gv*sv))))*ws[i%8] + xv
		if d := math.Abs(float64(got[i] - want)); d > 1e-5*math.Max(1, math.Abs(float64(want))) {
			t.Fatalf("out[%d] = %g, want %g", i, got[i], want)
		}
	}
}

// mustValue returns a helper that unwraps a builder's (value, error) pair,
// failing t on an error.
func mustValue(t *testing.T) func(backends.Value, error) backends.Value {
	return func(v backends.Value, err error) backends.Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
