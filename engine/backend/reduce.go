package backend

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

type reduceData struct {
	op     backends.ReduceOpType
	inDims []int
	outStr []int // output stride per input axis (0 when reduced)
	// trailing: the reduced axes are exactly the trailing ones, so each
	// output element reduces a contiguous run of `inner` inputs.
	trailing bool
	inner    int
	// rows is reduceRows for the dtype, bound at build time (elemsExec
	// says why).
	rows parBody
}

func reduceInit[T number](op backends.ReduceOpType) T {
	var z T
	switch op {
	case backends.ReduceOpProduct:
		return 1
	case backends.ReduceOpMax:
		switch any(z).(type) {
		case float32, float64:
			return T(math.Inf(-1))
		}
		return minOf[T]()
	case backends.ReduceOpMin:
		switch any(z).(type) {
		case float32, float64:
			return T(math.Inf(1))
		}
		return maxOf[T]()
	}
	return z
}

func minOf[T number]() T {
	var z T
	var v any
	switch any(z).(type) {
	case int8:
		v = int8(math.MinInt8)
	case int16:
		v = int16(math.MinInt16)
	case int32:
		v = int32(math.MinInt32)
	case int64:
		v = int64(math.MinInt64)
	default:
		return z // unsigned
	}
	return v.(T)
}

func maxOf[T number]() T {
	var z T
	var v any
	switch any(z).(type) {
	case int8:
		v = int8(math.MaxInt8)
	case int16:
		v = int16(math.MaxInt16)
	case int32:
		v = int32(math.MaxInt32)
	case int64:
		v = int64(math.MaxInt64)
	case uint8:
		v = uint8(math.MaxUint8)
	case uint16:
		v = uint16(math.MaxUint16)
	case uint32:
		v = uint32(math.MaxUint32)
	case uint64:
		v = uint64(math.MaxUint64)
	default:
		return z
	}
	return v.(T)
}

func reduceStep[T number](op backends.ReduceOpType, acc, x T) T {
	switch op {
	case backends.ReduceOpSum:
		return acc + x
	case backends.ReduceOpProduct:
		return acc * x
	case backends.ReduceOpMax:
		if x > acc || isNaN(x) {
			return x
		}
	case backends.ReduceOpMin:
		if x < acc || isNaN(x) {
			return x
		}
	}
	return acc
}

func execReduce[T number](st *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*reduceData)
	x, o := ins[0].flat.([]T), out.flat.([]T)
	init := reduceInit[T](d.op)
	if d.trailing {
		// Rows are independent: split them over the pool when the input is
		// large (RMSNorm's sums of squares in prefill).
		minRows := max(1, parMinCheap/max(1, d.inner))
		parallel(st, n, ins, out, len(o), minRows, max(1, parBlock/max(1, d.inner)), d.rows)
		return nil
	}
	for i := range o {
		o[i] = init
	}
	if len(x) == 0 {
		return nil
	}
	var idx [16]int
	r := len(d.inDims)
	oi := 0
	for _, v := range x {
		o[oi] = reduceStep(d.op, o[oi], v)
		for k := r - 1; k >= 0; k-- {
			idx[k]++
			oi += d.outStr[k]
			if idx[k] < d.inDims[k] {
				break
			}
			oi -= d.outStr[k] * idx[k]
			idx[k] = 0
		}
	}
	return nil
}

// reduceRows reduces the rows [lo, hi) of a trailing-axes reduction.
func reduceRows[T number](n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	d := n.data.(*reduceData)
	x, o := ins[0].flat.([]T), out.flat.([]T)
	init := reduceInit[T](d.op)
	for i := lo; i < hi; i++ {
		row := x[i*d.inner : (i+1)*d.inner]
		acc := init
		switch d.op {
		case backends.ReduceOpSum:
			for _, v := range row {
				acc += v
			}
		default:
			for _, v := range row {
				acc = reduceStep(d.op, acc, v)
			}
		}
		o[i] = acc
	}
}

func (f *Function) reduce(opType backends.OpType, op backends.ReduceOpType, x backends.Value, axes []int) (backends.Value, error) {
	n, err := f.value(opType, x)
	if err != nil {
		return nil, err
	}
	if len(axes) == 0 {
		axes = make([]int, n.shape.Rank())
		for i := range axes {
			axes[i] = i
		}
	}
	shape, err := shapeinference.ReduceOp(n.shape, axes)
	if err != nil {
		return nil, err
	}
	if n.shape.Rank() > 16 {
		return nil, fmt.Errorf("backend %s: %s of rank %d: %w", Name, opType, n.shape.Rank(), backends.ErrNotImplemented)
	}
	exec := numberExec(n.shape.DType, execReduce[float32], execReduce[float64], execReduce[int8], execReduce[int16],
		execReduce[int32], execReduce[int64], execReduce[uint8], execReduce[uint16], execReduce[uint32], execReduce[uint64])
	if exec == nil {
		return nil, fmt.Errorf("backend %s: %s for %s: %w", Name, opType, n.shape, backends.ErrNotImplemented)
	}
	r := n.shape.Rank()
	reduced := make([]bool, r)
	for _, a := range axes {
		reduced[a] = true
	}
	d := &reduceData{op: op, inDims: n.shape.Dimensions, outStr: make([]int, r), inner: 1,
		rows: numberExec[parBody](n.shape.DType, reduceRows[float32], reduceRows[float64], reduceRows[int8],
			reduceRows[int16], reduceRows[int32], reduceRows[int64], reduceRows[uint8], reduceRows[uint16],
			reduceRows[uint32], reduceRows[uint64])}
	acc := 1
	for a := r - 1; a >= 0; a-- {
		if !reduced[a] {
			d.outStr[a] = acc
			acc *= n.shape.Dimensions[a]
		}
	}
	sorted := slices.Sorted(slices.Values(axes))
	d.trailing = true
	for i, a := range sorted {
		if a != r-len(sorted)+i {
			d.trailing = false
		}
	}
	if d.trailing {
		for _, a := range sorted {
			d.inner *= n.shape.Dimensions[a]
		}
	}
	out := f.newNode(opType, shape, exec, n)
	out.data = d
	return out, nil
}

// ReduceSum implements backends.Function.
func (f *Function) ReduceSum(x backends.Value, axes ...int) (backends.Value, error) {
	return f.reduce(backends.OpTypeReduceSum, backends.ReduceOpSum, x, axes)
}

// ReduceProduct implements backends.Function.
func (f *Function) ReduceProduct(x backends.Value, axes ...int) (backends.Value, error) {
	return f.reduce(backends.OpTypeReduceProduct, backends.ReduceOpProduct, x, axes)
}

// ReduceMax implements backends.Function.
func (f *Function) ReduceMax(x backends.Value, axes ...int) (backends.Value, error) {
	return f.reduce(backends.OpTypeReduceMax, backends.ReduceOpMax, x, axes)
}

// ReduceMin implements backends.Function.
func (f *Function) ReduceMin(x backends.Value, axes ...int) (backends.Value, error) {
	return f.reduce(backends.OpTypeReduceMin, backends.ReduceOpMin, x, axes)
}

// ---- ArgMinMax ----

type argData struct {
	outer, dim, inner int
	isMin             bool
}

func execArgMinMax[T number](_ *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*argData)
	x := ins[0].flat.([]T)
	for o := 0; o < d.outer; o++ {
		for in := 0; in < d.inner; in++ {
			base := o*d.dim*d.inner + in
			best, bi := x[base], 0
			if !isNaN(best) {
				for j := 1; j < d.dim; j++ {
					v := x[base+j*d.inner]
					if isNaN(v) {
						best, bi = v, j
						break
					}
					if (d.isMin && v < best) || (!d.isMin && v > best) {
						best, bi = v, j
					}
				}
			}
			setFromI64(out, o*d.inner+in, int64(bi))
		}
	}
	return nil
}

// ArgMinMax implements backends.Function (first index on ties; NaN wins).
func (f *Function) ArgMinMax(x backends.Value, axis int, outputDType dtypes.DType, isMin bool) (backends.Value, error) {
	n, err := f.value(backends.OpTypeArgMinMax, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ArgMinMaxOp(n.shape, axis, outputDType)
	if err != nil {
		return nil, err
	}
	exec := numberExec(n.shape.DType, execArgMinMax[float32], execArgMinMax[float64], execArgMinMax[int8],
		execArgMinMax[int16], execArgMinMax[int32], execArgMinMax[int64], execArgMinMax[uint8], execArgMinMax[uint16],
		execArgMinMax[uint32], execArgMinMax[uint64])
	if exec == nil || !outputDType.IsInt() || n.shape.Dimensions[axis] == 0 {
		return nil, fmt.Errorf("backend %s: ArgMinMax of %s to %s: %w", Name, n.shape, outputDType, backends.ErrNotImplemented)
	}
	d := &argData{outer: 1, inner: 1, dim: n.shape.Dimensions[axis], isMin: isMin}
	for i, dim := range n.shape.Dimensions {
		switch {
		case i < axis:
			d.outer *= dim
		case i > axis:
			d.inner *= dim
		}
	}
	out := f.newNode(backends.OpTypeArgMinMax, shape, exec, n)
	out.data = d
	return out, nil
}
