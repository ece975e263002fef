package backend

import (
	"fmt"
	"math"

	"dayi/kernels"
	"dayi/weights"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// ---- Where ----

type whereData struct {
	condScalar, tScalar, fScalar bool
}

func whereT[T any](d *whereData, c []bool, t, f, o []T) {
	for i := range o {
		ci, ti, fi := i, i, i
		if d.condScalar {
			ci = 0
		}
		if d.tScalar {
			ti = 0
		}
		if d.fScalar {
			fi = 0
		}
		if c[ci] {
			o[i] = t[ti]
		} else {
			o[i] = f[fi]
		}
	}
}

func execWhere(st *state, n *node, ins []*Buffer, out *Buffer) error {
	parElems(st, n, ins, out, n.shape.Size(), whereChunk)
	return nil
}

// whereChunk computes the output elements [lo, hi) of Where; a scalar
// operand stays whole, the others are sliced to the chunk.
func whereChunk(n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	d := n.data.(*whereData)
	c := ins[0].flat.([]bool)
	if !d.condScalar {
		c = c[lo:hi]
	}
	es := n.shape.DType.Size()
	t, f := ins[1].raw, ins[2].raw
	if !d.tScalar {
		t = t[lo*es : hi*es]
	}
	if !d.fScalar {
		f = f[lo*es : hi*es]
	}
	o := out.raw[lo*es : hi*es]
	switch es {
	case 1:
		whereT(d, c, t, f, o)
	case 2:
		whereT(d, c, viewAs[uint16](t), viewAs[uint16](f), viewAs[uint16](o))
	case 4:
		whereT(d, c, viewAs[uint32](t), viewAs[uint32](f), viewAs[uint32](o))
	case 8:
		whereT(d, c, viewAs[uint64](t), viewAs[uint64](f), viewAs[uint64](o))
	}
}

// Where implements backends.Function.
func (f *Function) Where(condition, onTrue, onFalse backends.Value) (backends.Value, error) {
	ns, err := f.values(backends.OpTypeWhere, condition, onTrue, onFalse)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.WhereOp(ns[0].shape, ns[1].shape, ns[2].shape)
	if err != nil {
		return nil, err
	}
	if shape.Size() == 0 {
		return f.newNode(backends.OpTypeWhere, shape, execNop, ns...), nil
	}
	out := f.newNode(backends.OpTypeWhere, shape, execWhere, ns...)
	out.data = &whereData{
		condScalar: ns[0].shape.Size() == 1 && shape.Size() != 1,
		tScalar:    ns[1].shape.Size() == 1 && shape.Size() != 1,
		fScalar:    ns[2].shape.Size() == 1 && shape.Size() != 1,
	}
	return out, nil
}

func execNop(*state, *node, []*Buffer, *Buffer) error { return nil }

// ---- ConvertDType ----

// f32Of/fromF32 and friends convert through float64 (floats) or int64
// (integers); half precision rounds to nearest even as ggml does.
func toF64(b *Buffer, i int) float64 {
	switch s := b.flat.(type) {
	case []float32:
		return float64(s[i])
	case []float64:
		return s[i]
	case []bool:
		if s[i] {
			return 1
		}
		return 0
	}
	switch b.shape.DType {
	case dtypes.Float16:
		return float64(weights.FP16ToFP32(viewAs[uint16](b.raw)[i]))
	case dtypes.BFloat16:
		return float64(weights.BF16ToFP32(viewAs[uint16](b.raw)[i]))
	}
	if b.shape.DType == dtypes.Uint64 {
		return float64(b.flat.([]uint64)[i])
	}
	return float64(toI64(b, i))
}

func toI64(b *Buffer, i int) int64 {
	switch s := b.flat.(type) {
	case []int8:
		return int64(s[i])
	case []int16:
		return int64(s[i])
	case []int32:
		return int64(s[i])
	case []int64:
		return s[i]
	case []uint8:
		return int64(s[i])
	case []uint16:
		return int64(s[i])
	case []uint32:
		return int64(s[i])
	case []uint64:
		return int64(s[i])
	case []bool:
		if s[i] {
			return 1
		}
		return 0
	}
	return int64(toF64(b, i))
}

func setFromF64(b *Buffer, i int, v float64) {
	switch s := b.flat.(type) {
	case []float32:
		s[i] = float32(v)
	case []float64:
		s[i] = v
	case []bool:
		s[i] = v != 0
	default:
		switch b.shape.DType {
		case dtypes.Float16:
			viewAs[uint16](b.raw)[i] = weights.FP32ToFP16(float32(v))
		case dtypes.BFloat16:
			viewAs[uint16](b.raw)[i] = weights.FP32ToBF16(float32(v))
		default:
			if math.IsNaN(v) {
				v = 0
			}
			setFromI64(b, i, int64(v))
		}
	}
}

func setFromI64(b *Buffer, i int, v int64) {
	switch s := b.flat.(type) {
	case []int8:
		s[i] = int8(v)
	case []int16:
		s[i] = int16(v)
	case []int32:
		s[i] = int32(v)
	case []int64:
		s[i] = v
	case []uint8:
		s[i] = uint8(v)
	case []uint16:
		s[i] = uint16(v)
	case []uint32:
		s[i] = uint32(v)
	case []uint64:
		s[i] = uint64(v)
	case []bool:
		s[i] = v != 0
	default:
		setFromF64(b, i, float64(v))
	}
}

func execConvert(st *state, n *node, ins []*Buffer, out *Buffer) error {
	parElems(st, n, ins, out, out.shape.Size(), convertChunk)
	return nil
}

// convertChunk converts the elements [lo, hi). Float32<->Float64 (RMSNorm's
// sum of squares in double) and the half formats have direct loops; the rest
// goes through float64 or int64 per element.
func convertChunk(_ *node, ins []*Buffer, out *Buffer, lo, hi int) {
	in := ins[0]
	src, dst := in.shape.DType, out.shape.DType
	switch {
	case src == dst:
		es := src.Size()
		copy(out.raw[lo*es:hi*es], in.raw[lo*es:hi*es])
	case src == dtypes.Float32 && dst == dtypes.Float64:
		x, o := in.flat.([]float32)[lo:hi], out.flat.([]float64)[lo:hi]
		for i, v := range x {
			o[i] = float64(v)
		}
	case src == dtypes.Float64 && dst == dtypes.Float32:
		x, o := in.flat.([]float64)[lo:hi], out.flat.([]float32)[lo:hi]
		for i, v := range x {
			o[i] = float32(v)
		}
	case src == dtypes.Float32 && dst == dtypes.Float16:
		// The K/V rows written to an F16 cache every step (F16C).
		kernels.F32ToF16Row(viewAs[uint16](out.raw)[lo:hi], in.flat.([]float32)[lo:hi])
	case src == dtypes.Float16 && dst == dtypes.Float32:
		kernels.F16ToF32Row(out.flat.([]float32)[lo:hi], viewAs[uint16](in.raw)[lo:hi])
	case src == dtypes.Float32 && dst == dtypes.BFloat16:
		x, o := in.flat.([]float32)[lo:hi], viewAs[uint16](out.raw)[lo:hi]
		for i, v := range x {
			o[i] = weights.FP32ToBF16(v)
		}
	case src == dtypes.BFloat16 && dst == dtypes.Float32:
		x, o := viewAs[uint16](in.raw)[lo:hi], out.flat.([]float32)[lo:hi]
		for i, v := range x {
			o[i] = weights.BF16ToFP32(v)
		}
	case src.IsFloat() || dst.IsFloat():
		for i := lo; i < hi; i++ {
			setFromF64(out, i, toF64(in, i))
		}
	default:
		for i := lo; i < hi; i++ {
			setFromI64(out, i, toI64(in, i))
		}
	}
}

// ConvertDType implements backends.Function. Float32 to Float16/BFloat16
// rounds to nearest even as ggml does (GoMLX's own bfloat16 truncates).
func (f *Function) ConvertDType(x backends.Value, dtype dtypes.DType) (backends.Value, error) {
	n, err := f.value(backends.OpTypeConvertDType, x)
	if err != nil {
		return nil, err
	}
	shape := n.shape.Clone()
	shape.DType = dtype
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	return f.newNode(backends.OpTypeConvertDType, shape, execConvert, n), nil
}

// ---- Iota ----

type iotaData struct{ inner, dim int }

func execIota(_ *state, n *node, _ []*Buffer, out *Buffer) error {
	d := n.data.(*iotaData)
	size := out.shape.Size()
	switch o := out.flat.(type) {
	case []int32:
		iotaFill(o, d)
		return nil
	case []int64:
		iotaFill(o, d)
		return nil
	case []float32:
		iotaFill(o, d)
		return nil
	}
	for i := 0; i < size; i++ {
		v := (i / d.inner) % d.dim
		if out.shape.DType.IsFloat() {
			setFromF64(out, i, float64(v))
		} else {
			setFromI64(out, i, int64(v))
		}
	}
	return nil
}

func iotaFill[T int32 | int64 | float32](o []T, d *iotaData) {
	for i := 0; i < len(o); {
		for v := 0; v < d.dim && i < len(o); v++ {
			for k := 0; k < d.inner && i < len(o); k++ {
				o[i] = T(v)
				i++
			}
		}
	}
}

// Iota implements backends.Function.
func (f *Function) Iota(shape shapes.Shape, iotaAxis int) (backends.Value, error) {
	if f.returned {
		return nil, fmt.Errorf("backend %s: Iota: %w", Name, errClosed)
	}
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	if iotaAxis < 0 || iotaAxis >= shape.Rank() || shape.DType == dtypes.Bool {
		return nil, fmt.Errorf("backend %s: Iota: axis %d invalid for shape %s", Name, iotaAxis, shape)
	}
	inner := 1
	for i := iotaAxis + 1; i < shape.Rank(); i++ {
		inner *= shape.Dimensions[i]
	}
	out := f.newNode(backends.OpTypeIota, shape, execIota)
	out.data = &iotaData{inner: inner, dim: max(1, shape.Dimensions[iotaAxis])}
	return out, nil
}

// ---- Clamp ----

func clampChunk[T number](_ *node, ins []*Buffer, out *Buffer, lo, hi int) {
	lo0, x, hi0, o := ins[0].flat.([]T), ins[1].flat.([]T), ins[2].flat.([]T), out.flat.([]T)
	for i := lo; i < hi; i++ {
		v := x[i]
		l, h := lo0[0], hi0[0]
		if len(lo0) > 1 {
			l = lo0[i]
		}
		if len(hi0) > 1 {
			h = hi0[i]
		}
		if v < l {
			v = l
		}
		if v > h {
			v = h
		}
		o[i] = v
	}
}

// Clamp implements backends.Function (min and max are scalars or x-shaped).
func (f *Function) Clamp(lo, x, hi backends.Value) (backends.Value, error) {
	ns, err := f.values(backends.OpTypeClamp, lo, x, hi)
	if err != nil {
		return nil, err
	}
	xs := ns[1].shape
	for _, b := range []*node{ns[0], ns[2]} {
		if b.shape.DType != xs.DType || (!b.shape.IsScalar() && !sameShape(b.shape, xs)) {
			return nil, fmt.Errorf("backend %s: Clamp: bound %s does not fit %s", Name, b.shape, xs)
		}
	}
	exec := elemsExec(numberExec[parBody](xs.DType, clampChunk[float32], clampChunk[float64], clampChunk[int8],
		clampChunk[int16], clampChunk[int32], clampChunk[int64], clampChunk[uint8], clampChunk[uint16],
		clampChunk[uint32], clampChunk[uint64]))
	if exec == nil {
		return nil, fmt.Errorf("backend %s: Clamp for %s: %w", Name, xs, backends.ErrNotImplemented)
	}
	return f.newNode(backends.OpTypeClamp, xs, exec, ns...), nil
}
