package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// dotF32 is the inner product of two equal-length vectors with four
// independent accumulators (breaks the add latency chain).
func dotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyF32 computes y += a*x.
func axpyF32(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

type dotData struct {
	B, M, N, K int
	// lhsT/rhsT transpose the operands into normalized layouts in scratch
	// (nil when the operand is already laid out right).
	lhsT, rhsT *strided
	// rhsKN: the rhs is [B, K, N] (axpy kernel) instead of [B, N, K] (dot kernel).
	rhsKN bool
}

func execDot(st *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*dotData)
	a, w := ins[0].flat.([]float32), ins[1].flat.([]float32)
	o := out.flat.([]float32)
	var scratch []float32
	if d.lhsT != nil || d.rhsT != nil {
		scratch = st.f32Scratch(n.id, n.scratch)
	}
	if d.lhsT != nil {
		t := scratch[:d.B*d.M*d.K]
		copyStrided(d.lhsT, 0, a, t)
		a = t
		scratch = scratch[len(t):]
	}
	if d.rhsT != nil {
		t := scratch[:d.B*d.N*d.K]
		copyStrided(d.rhsT, 0, w, t)
		w = t
	}
	M, N, K := d.M, d.N, d.K
	work := d.B * M * N * K
	for b := 0; b < d.B; b++ {
		ab := a[b*M*K : (b+1)*M*K]
		wb := w[b*N*K : (b+1)*N*K]
		ob := o[b*M*N : (b+1)*M*N]
		if d.rhsKN {
			rows := func(lo, hi int) {
				for m := lo; m < hi; m++ {
					y := ob[m*N : (m+1)*N]
					clear(y)
					for k := 0; k < K; k++ {
						axpyF32(ab[m*K+k], wb[k*N:(k+1)*N], y)
					}
				}
			}
			if work >= 1<<16 && M > 1 {
				st.e.b.kern.For(M, 1, rows)
			} else {
				rows(0, M)
			}
			continue
		}
		cols := func(lo, hi int) {
			for m := 0; m < M; m++ {
				x := ab[m*K : (m+1)*K]
				y := ob[m*N : (m+1)*N]
				for j := lo; j < hi; j++ {
					y[j] = dotF32(x, wb[j*K:(j+1)*K])
				}
			}
		}
		if work >= 1<<16 {
			st.e.b.kern.For(N, max(1, (1<<14)/max(1, M*K)), cols)
		} else {
			cols(0, N)
		}
	}
	return nil
}

// permStrides returns input strides for a transpose of dims by perm.
func permStrides(dims, perm []int) (outDims, inStr []int) {
	st := rowStrides(dims)
	for _, p := range perm {
		outDims = append(outDims, dims[p])
		inStr = append(inStr, st[p])
	}
	return
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if p != i {
			return false
		}
	}
	return true
}

// DotGeneral implements backends.Function for Float32 (batch, free and
// contracting axes in any order).
func (f *Function) DotGeneral(lhs backends.Value, lhsContractingAxes, lhsBatchAxes []int,
	rhs backends.Value, rhsContractingAxes, rhsBatchAxes []int, config backends.DotGeneralConfig) (backends.Value, error) {
	ns, err := f.values(backends.OpTypeDotGeneral, lhs, rhs)
	if err != nil {
		return nil, err
	}
	l, r := ns[0], ns[1]
	ls, rs := l.shape, r.shape
	if ls.DType != dtypes.Float32 || rs.DType != dtypes.Float32 ||
		(config.AccumulatorDType != dtypes.InvalidDType && config.AccumulatorDType != dtypes.Float32) ||
		(config.OutputDType != dtypes.InvalidDType && config.OutputDType != dtypes.Float32) {
		return nil, fmt.Errorf("backend %s: DotGeneral of %s x %s (config %+v): %w", Name, ls, rs, config, backends.ErrNotImplemented)
	}
	if len(lhsContractingAxes) != len(rhsContractingAxes) || len(lhsBatchAxes) != len(rhsBatchAxes) {
		return nil, fmt.Errorf("backend %s: DotGeneral: axes counts differ", Name)
	}
	free := func(s shapes.Shape, contracting, batch []int) ([]int, error) {
		used := make([]bool, s.Rank())
		for _, a := range slices.Concat(contracting, batch) {
			if a < 0 || a >= s.Rank() || used[a] {
				return nil, fmt.Errorf("backend %s: DotGeneral: invalid axis %d for %s", Name, a, s)
			}
			used[a] = true
		}
		var fr []int
		for a := range s.Rank() {
			if !used[a] {
				fr = append(fr, a)
			}
		}
		return fr, nil
	}
	lFree, err := free(ls, lhsContractingAxes, lhsBatchAxes)
	if err != nil {
		return nil, err
	}
	rFree, err := free(rs, rhsContractingAxes, rhsBatchAxes)
	if err != nil {
		return nil, err
	}
	d := &dotData{B: 1, M: 1, N: 1, K: 1}
	var outDims []int
	for i, a := range lhsBatchAxes {
		if ls.Dimensions[a] != rs.Dimensions[rhsBatchAxes[i]] {
			return nil, fmt.Errorf("backend %s: DotGeneral: batch axes %d/%d differ for %s x %s", Name, a, rhsBatchAxes[i], ls, rs)
		}
		d.B *= ls.Dimensions[a]
		outDims = append(outDims, ls.Dimensions[a])
	}
	for i, a := range lhsContractingAxes {
		if ls.Dimensions[a] != rs.Dimensions[rhsContractingAxes[i]] {
			return nil, fmt.Errorf("backend %s: DotGeneral: contracting axes %d/%d differ for %s x %s", Name, a, rhsContractingAxes[i], ls, rs)
		}
		d.K *= ls.Dimensions[a]
	}
	for _, a := range lFree {
		d.M *= ls.Dimensions[a]
		outDims = append(outDims, ls.Dimensions[a])
	}
	for _, a := range rFree {
		d.N *= rs.Dimensions[a]
		outDims = append(outDims, rs.Dimensions[a])
	}
	if ls.Rank() > 16 || rs.Rank() > 16 {
		return nil, fmt.Errorf("backend %s: DotGeneral of rank > 16: %w", Name, backends.ErrNotImplemented)
	}
	scratch := 0
	lPerm := slices.Concat(lhsBatchAxes, lFree, lhsContractingAxes)
	if !isIdentity(lPerm) {
		od, is := permStrides(ls.Dimensions, lPerm)
		d.lhsT = makeStrided(od, is, 0)
		scratch += d.B * d.M * d.K
	}
	if isIdentity(slices.Concat(rhsBatchAxes, rhsContractingAxes, rFree)) {
		d.rhsKN = true
	} else if rPerm := slices.Concat(rhsBatchAxes, rFree, rhsContractingAxes); !isIdentity(rPerm) {
		od, is := permStrides(rs.Dimensions, rPerm)
		d.rhsT = makeStrided(od, is, 0)
		scratch += d.B * d.N * d.K
	}
	out := f.newNode(backends.OpTypeDotGeneral, shapes.Make(dtypes.Float32, outDims...), execDot, l, r)
	out.data = d
	out.scratch = scratch
	return out, nil
}
