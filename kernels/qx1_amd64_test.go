package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestQx1Asm checks the q4_1/q5_1 assembly (qx1_amd64.s) against dotQx_1
// and its decoder against the Go twin's bytes.
func TestQx1Asm(t *testing.T) {
	for _, typ := range []weights.Type{weights.TypeQ4_1, weights.TypeQ5_1} {
		k, ok := qx1KernelsFor(typ)
		if !ok {
			t.Logf("%s: no multi-row kernels on this CPU", typ)
			continue
		}
		five := typ == weights.TypeQ5_1
		ref := qx1GoKernels(five)
		checkQx1Kernels(t, fmt.Sprintf("asm %s", typ), five, &k, &ref)
	}
}

// TestQx1Fallbacks computes q4_1/q5_1 matmuls as a CPU without the qx1
// paths would (plan gates off: the dots, through the AVX2 kernels or the
// pure-Go dot) and requires the bits of this CPU's plan.
func TestQx1Fallbacks(t *testing.T) {
	rng := rand.New(rand.NewPCG(105, 106))
	const n, k = 44, 320
	for _, typ := range []weights.Type{weights.TypeQ4_1, weights.TypeQ5_1} {
		five := typ == weights.TypeQ5_1
		w := randBlocks(rng, n*k/32, typ.TypeSize(), 0, 2)
		for _, m := range []int{1, 3, 6} {
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			want := make([]float32, m*n)
			p := NewPool(2)
			if err := p.MatMul(typ, w, n, k, x, m, want); err != nil {
				t.Fatal(err)
			}
			p.Close()
			avx2 := wrapBlocks(q4_1DotAVX2, 20, q8_1Size)
			if five {
				avx2 = wrapBlocks(q5_1DotAVX2, 24, q8_1Size)
			}
			for _, fb := range []struct {
				name string
				dot  func(w, x []byte, nb int) float32
				ok   bool
			}{
				{"avx2", avx2, hasAVX2},
				{"go", func(w, x []byte, nb int) float32 { return dotQx_1(w, x, nb, five) }, true},
			} {
				if !fb.ok {
					continue
				}
				got := qx1WithoutPaths(t, typ, fb.dot, w, n, k, x, m)
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("%s m=%d %s dots: out[%d] = %g, this CPU's plan %g", typ, m, fb.name, i, got[i], want[i])
				}
			}
		}
	}
}

// qx1WithoutPaths runs one matmul with the qx1 gates off and typ's dot
// kernel replaced by dot, restoring both afterwards.
func qx1WithoutPaths(t *testing.T, typ weights.Type, dot func(w, x []byte, nb int) float32, w []byte, n, k int, x []float32, m int) []float32 {
	t.Helper()
	zv, bits, k4, k5 := hasZVNNI, hasQx1Bits, kq4_1, kq5_1
	defer func() { hasZVNNI, hasQx1Bits, kq4_1, kq5_1 = zv, bits, k4, k5 }()
	hasZVNNI, hasQx1Bits = false, false
	if typ == weights.TypeQ5_1 {
		kq5_1 = dot
	} else {
		kq4_1 = dot
	}
	pl, err := NewPlan(typ, LayoutGGUF, n, k)
	if err != nil {
		t.Fatal(err)
	}
	if name := pl.path(m).name; name != "dots" {
		t.Fatalf("%s m=%d without AVX-512 VNNI: path %s, want dots", typ, m, name)
	}
	p := NewPool(2)
	defer p.Close()
	out := make([]float32, m*n)
	if err := p.MatMulPlan(pl, w, x, m, out); err != nil {
		t.Fatal(err)
	}
	return out
}
