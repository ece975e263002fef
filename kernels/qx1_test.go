package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// qx1Case is nw weight rows of q4_1 (five false) or q5_1, k = 32·nb wide,
// and m activation rows quantized to q8_1 with their scale pack.
type qx1Case struct {
	five   bool
	nb, m  int
	w      []byte // rows of nb blocks
	xq, sc []byte // m q8_1 rows; scale pack (qx1PackRow)
}

func newQx1Case(rng *rand.Rand, five bool, nw, nb, m int) *qx1Case {
	bs, _ := qx1Geom(five)
	c := &qx1Case{five: five, nb: nb, m: m, w: randBlocks(rng, nw*nb, bs, 0, 2)}
	c.xq = make([]byte, m*nb*q8_1Size)
	c.sc = make([]byte, (m+3)&^3*nb*qx1ScBlock)
	for i := range c.sc {
		c.sc[i] = 0xff // the pack must write or zero every byte the kernels read
	}
	x := make([]float32, nb*32)
	for i := 0; i < m; i++ {
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		quantizeQ8_1(c.xq[i*nb*q8_1Size:(i+1)*nb*q8_1Size], x)
		qx1PackRow(c.sc, c.xq[i*nb*q8_1Size:], nb, i, m)
	}
	return c
}

// scales returns the pack pointers of activation row i and the stride.
func (c *qx1Case) scales(i int) (s4, dx *byte, ss int) {
	return qx1ScalesAt(c.sc, c.nb, i)
}

// dot is dotQx_1 of weight row r and activation row i: what every kernel
// output must equal bit for bit.
func (c *qx1Case) dot(r, i int) float32 {
	bs, _ := qx1Geom(c.five)
	return dotQx_1(c.w[r*c.nb*bs:], c.xq[i*c.nb*q8_1Size:], c.nb, c.five)
}

// checkQx1Kernels runs k's gemv kernels (those it has), decoder and gemm kernels on
// cases of several block counts and every column count and compares every
// output with dotQx_1, bit for bit; with ref (the Go twins) also the
// decoded bytes.
func checkQx1Kernels(t *testing.T, name string, five bool, k, ref *qx1Kernels) {
	t.Helper()
	rng := rand.New(rand.NewPCG(101, 102))
	bs, _ := qx1Geom(five)
	for _, nb := range []int{1, 2, 3, 7, 28, 36} {
		c := newQx1Case(rng, five, 9, nb, 7)
		rb := nb * bs
		const ostride = 13
		for ncols := 1; ncols <= 4 && k.gemv[ncols-1] != nil; ncols++ {
			for i0 := 0; i0+ncols <= c.m; i0 += 4 {
				out := make([]float32, ncols*ostride)
				s4, dx, ss := c.scales(i0)
				k.gemv[ncols-1](&c.w[rb], rb, &c.xq[i0*nb*q8_1Size], nb*q8_1Size, s4, dx, ss, nb, &out[0], ostride)
				for i := 0; i < ncols; i++ {
					for r := 0; r < 4; r++ {
						if g, w := out[i*ostride+r], c.dot(1+r, i0+i); math.Float32bits(g) != math.Float32bits(w) {
							t.Fatalf("%s nb=%d gemv x%d (from %d): row %d col %d = %g, dot %g", name, nb, ncols, i0, r, i, g, w)
						}
					}
				}
			}
		}
		dec := make([]byte, nb*k.decBlock+1)
		dec[len(dec)-1] = 0x5a
		k.dec(&c.w[rb], rb, nb, &dec[0])
		if dec[len(dec)-1] != 0x5a {
			t.Fatalf("%s nb=%d: decoder wrote past its blocks", name, nb)
		}
		dec = dec[:nb*k.decBlock]
		if ref != nil {
			want := make([]byte, len(dec))
			ref.dec(&c.w[rb], rb, nb, &want[0])
			if !bytes.Equal(dec, want) {
				t.Fatalf("%s nb=%d: decoded unit differs from the twin's", name, nb)
			}
		}
		for ncols := 1; ncols <= k.cols; ncols++ {
			for _, i0 := range []int{0, 4} {
				if i0+ncols > c.m {
					continue
				}
				out := make([]float32, ncols*ostride)
				s4, dx, ss := c.scales(i0)
				k.gemm[ncols-1](&dec[0], &c.xq[i0*nb*q8_1Size], nb*q8_1Size, s4, dx, ss, nb, &out[0], ostride)
				for i := 0; i < ncols; i++ {
					for r := 0; r < k.rows; r++ {
						if g, w := out[i*ostride+r], c.dot(1+r, i0+i); math.Float32bits(g) != math.Float32bits(w) {
							t.Fatalf("%s nb=%d gemm x%d (from %d): row %d col %d = %g, dot %g", name, nb, ncols, i0, r, i, g, w)
						}
					}
				}
			}
		}
	}
}

// TestQx1GoTwins: the pure-Go twins of the q4_1/q5_1 kernels compute
// dotQx_1's bits (through the scale pack and the decoded pair layout).
func TestQx1GoTwins(t *testing.T) {
	for _, five := range []bool{false, true} {
		for _, avx2 := range []bool{false, true} {
			k := qx1GoKernels(five, avx2)
			checkQx1Kernels(t, fmt.Sprintf("go five=%v avx2=%v", five, avx2), five, &k, nil)
		}
	}
}

// TestQx1Paths runs q4_1/q5_1 matmuls through their plans and through the
// reference plan (the dots) on shapes with partial tiles (rows not a
// multiple of 4, 8 or 16, batches not a multiple of 4, one or more
// tiles of the gemm), on 1 and 2 threads, and requires equal bits.
func TestQx1Paths(t *testing.T) {
	rng := rand.New(rand.NewPCG(103, 104))
	for _, typ := range []weights.Type{weights.TypeQ4_1, weights.TypeQ5_1} {
		for _, s := range []struct{ n, k int }{{4, 32}, {8, 64}, {13, 96}, {40, 256}, {67, 896}, {96, 4864}} {
			w := randBlocks(rng, s.n*s.k/32, typ.TypeSize(), 0, 2)
			pl, err := NewPlan(typ, LayoutGGUF, s.n, s.k)
			if err != nil {
				t.Fatal(err)
			}
			for _, th := range []int{1, 2} {
				p, ref := NewPool(th), NewPool(th)
				ref.perDot = true
				for _, m := range []int{1, 2, 3, 4, 5, 7, 9, 17, 130} {
					if s.k > 1000 && m > 17 {
						continue
					}
					x := make([]float32, m*s.k)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					got, want := make([]float32, m*s.n), make([]float32, m*s.n)
					if err := p.MatMulPlan(pl, w, x, m, got); err != nil {
						t.Fatal(err)
					}
					if err := ref.MatMul(typ, w, s.n, s.k, x, m, want); err != nil {
						t.Fatal(err)
					}
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("%s %dx%d m=%d threads=%d (%s): out[%d] = %g, dots %g", typ, s.n, s.k, m, th, pl.path(m).name, i, got[i], want[i])
					}
				}
				p.Close()
				ref.Close()
			}
		}
	}
}
