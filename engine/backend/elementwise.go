package backend

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"dayi/kernels"
)

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type float interface{ ~float32 | ~float64 }

type number interface{ integer | float }

const maxRank = 8

// bplan iterates two broadcast operands against an output: outer rows walk
// a collapsed multi-index, each row is a strided inner loop.
type bplan struct {
	inner      int
	sa, sb     int
	outerDims  []int
	aStr, bStr []int
}

// makePlan builds the iteration plan of out = op(a, b) under GoMLX's rules:
// either side may be a scalar, else ranks match and size-1 axes broadcast.
func makePlan(a, b, out shapes.Shape) (*bplan, error) {
	r := out.Rank()
	dims := make([]int, 0, r)
	sa := make([]int, 0, r)
	sb := make([]int, 0, r)
	strides := func(s shapes.Shape) []int {
		st := make([]int, r)
		if s.Rank() == 0 {
			return st
		}
		acc := 1
		for i := r - 1; i >= 0; i-- {
			if s.Dimensions[i] != 1 {
				st[i] = acc
			}
			acc *= s.Dimensions[i]
		}
		return st
	}
	as, bs := strides(a), strides(b)
	for i := 0; i < r; i++ {
		if out.Dimensions[i] == 1 {
			continue
		}
		dims = append(dims, out.Dimensions[i])
		sa = append(sa, as[i])
		sb = append(sb, bs[i])
	}
	// Merge axis i into i+1 when both operands are laid out compatibly.
	for i := len(dims) - 2; i >= 0; i-- {
		if sa[i] == sa[i+1]*dims[i+1] && sb[i] == sb[i+1]*dims[i+1] {
			dims[i] *= dims[i+1]
			sa[i], sb[i] = sa[i+1], sb[i+1]
			dims = append(dims[:i+1], dims[i+2:]...)
			sa = append(sa[:i+1], sa[i+2:]...)
			sb = append(sb[:i+1], sb[i+2:]...)
		}
	}
	p := &bplan{inner: 1}
	if len(dims) == 0 {
		return p, nil
	}
	if len(dims) > maxRank {
		return nil, fmt.Errorf("broadcast of rank %d: %w", len(dims), backends.ErrNotImplemented)
	}
	last := len(dims) - 1
	p.inner, p.sa, p.sb = dims[last], sa[last], sb[last]
	p.outerDims, p.aStr, p.bStr = dims[:last], sa[:last], sb[:last]
	return p, nil
}

// span calls row(ia, ib, io, cnt) for the pieces of inner rows that cover
// the output elements [lo, hi): a chunk of a parallel op may start and end
// in the middle of a row.
func (p *bplan) span(lo, hi int, row func(ia, ib, io, cnt int)) {
	if lo >= hi {
		return
	}
	nd := len(p.outerDims)
	r, off := lo/p.inner, lo%p.inner
	var idx [maxRank]int
	ia, ib := 0, 0
	for k := nd - 1; k >= 0; k-- {
		idx[k] = r % p.outerDims[k]
		r /= p.outerDims[k]
		ia += idx[k] * p.aStr[k]
		ib += idx[k] * p.bStr[k]
	}
	for io := lo; ; {
		cnt := min(p.inner-off, hi-io)
		row(ia+off*p.sa, ib+off*p.sb, io, cnt)
		io += cnt
		if io >= hi {
			return
		}
		off = 0
		for k := nd - 1; k >= 0; k-- {
			idx[k]++
			ia += p.aStr[k]
			ib += p.bStr[k]
			if idx[k] < p.outerDims[k] {
				break
			}
			ia -= p.aStr[k] * idx[k]
			ib -= p.bStr[k] * idx[k]
			idx[k] = 0
		}
	}
}

type binOp uint8

const (
	bAdd binOp = iota
	bSub
	bMul
	bDiv
	bMax
	bMin
	bPow
	bRem
	bAnd // logical, bool
	bOr
	bXor
	bEq // comparisons
	bNe
	bLt
	bLe
	bGt
	bGe
)

var binOpTypes = map[backends.OpType]binOp{
	backends.OpTypeAdd: bAdd, backends.OpTypeSub: bSub, backends.OpTypeMul: bMul, backends.OpTypeDiv: bDiv,
	backends.OpTypeMax: bMax, backends.OpTypeMin: bMin, backends.OpTypePow: bPow, backends.OpTypeRem: bRem,
	backends.OpTypeLogicalAnd: bAnd, backends.OpTypeLogicalOr: bOr, backends.OpTypeLogicalXor: bXor,
	backends.OpTypeEqual: bEq, backends.OpTypeNotEqual: bNe, backends.OpTypeLessThan: bLt,
	backends.OpTypeLessOrEqual: bLe, backends.OpTypeGreaterThan: bGt, backends.OpTypeGreaterOrEqual: bGe,
}

func isNaN[T number](x T) bool { return x != x }

// binRow computes o[i] = a[ia+i*sa] op b[ib+i*sb].
func binRow[T number](op binOp, a []T, ia, sa int, b []T, ib, sb int, o []T) {
	if binRowFast(op, a, ia, sa, b, ib, sb, o) {
		return
	}
	switch op {
	case bAdd:
		for i := range o {
			o[i] = a[ia] + b[ib]
			ia += sa
			ib += sb
		}
	case bSub:
		for i := range o {
			o[i] = a[ia] - b[ib]
			ia += sa
			ib += sb
		}
	case bMul:
		for i := range o {
			o[i] = a[ia] * b[ib]
			ia += sa
			ib += sb
		}
	case bDiv:
		var zero T
		fl := isFloat[T]()
		for i := range o {
			y := b[ib]
			if y == zero && !fl {
				o[i] = zero // integer division by zero: no panic, 0
			} else {
				o[i] = a[ia] / y
			}
			ia += sa
			ib += sb
		}
	case bMax:
		for i := range o {
			x, y := a[ia], b[ib]
			switch {
			case isNaN(x) || x >= y:
				o[i] = x
			default:
				o[i] = y
			}
			ia += sa
			ib += sb
		}
	case bMin:
		for i := range o {
			x, y := a[ia], b[ib]
			switch {
			case isNaN(x) || x <= y:
				o[i] = x
			default:
				o[i] = y
			}
			ia += sa
			ib += sb
		}
	case bPow:
		for i := range o {
			o[i] = powT(a[ia], b[ib])
			ia += sa
			ib += sb
		}
	case bRem:
		for i := range o {
			o[i] = remT(a[ia], b[ib])
			ia += sa
			ib += sb
		}
	}
}

// binRowFast covers the common layouts of Add, Sub and Mul (both operands
// contiguous, or one broadcast along the row) with plain indexed loops the
// compiler can drop bounds checks from; it reports false for anything else.
// Each element is the same single operation as in binRow.
func binRowFast[T number](op binOp, a []T, ia, sa int, b []T, ib, sb int, o []T) bool {
	if op != bAdd && op != bSub && op != bMul {
		return false
	}
	n := len(o)
	if o32, ok := any(o).([]float32); ok {
		return binRowF32(op, any(a).([]float32), ia, sa, any(b).([]float32), ib, sb, o32)
	}
	switch {
	case sa == 1 && sb == 1:
		a, b = a[ia:ia+n], b[ib:ib+n]
		switch op {
		case bAdd:
			for i := range o {
				o[i] = a[i] + b[i]
			}
		case bSub:
			for i := range o {
				o[i] = a[i] - b[i]
			}
		default:
			for i := range o {
				o[i] = a[i] * b[i]
			}
		}
	case sa == 1 && sb == 0:
		a, y := a[ia:ia+n], b[ib]
		switch op {
		case bAdd:
			for i := range o {
				o[i] = a[i] + y
			}
		case bSub:
			for i := range o {
				o[i] = a[i] - y
			}
		default:
			for i := range o {
				o[i] = a[i] * y
			}
		}
	case sa == 0 && sb == 1:
		x, b := a[ia], b[ib:ib+n]
		switch op {
		case bAdd:
			for i := range o {
				o[i] = x + b[i]
			}
		case bSub:
			for i := range o {
				o[i] = x - b[i]
			}
		default:
			for i := range o {
				o[i] = x * b[i]
			}
		}
	default:
		return false
	}
	return true
}

// vecOps maps Add, Sub and Mul to the kernels' SIMD element-wise ops.
var vecOps = [...]kernels.VecOp{bAdd: kernels.VecAdd, bSub: kernels.VecSub, bMul: kernels.VecMul}

// binRowF32 is binRowFast for float32 rows on the kernels' SIMD loops
// (kernels.VecBinary: the same single IEEE operation per element).
func binRowF32(op binOp, a []float32, ia, sa int, b []float32, ib, sb int, o []float32) bool {
	n, vop := len(o), vecOps[op]
	switch {
	case sa == 1 && sb == 1:
		kernels.VecBinary(vop, o, a[ia:ia+n], b[ib:ib+n])
	case sa == 1 && sb == 0:
		kernels.VecBinaryScalar(vop, o, a[ia:ia+n], b[ib], false)
	case sa == 0 && sb == 1:
		kernels.VecBinaryScalar(vop, o, b[ib:ib+n], a[ia], true)
	default:
		return false
	}
	return true
}

func isFloat[T number]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

func powT[T number](x, y T) T {
	if isFloat[T]() {
		return T(math.Pow(float64(x), float64(y)))
	}
	// Integer power by squaring; negative exponents give 0 (except for |x|==1).
	var zero T
	if y < zero {
		switch {
		case x == 1:
			return 1
		case x+1 == 0:
			if int64(y)%2 == 0 {
				return 1
			}
			return x
		}
		return zero
	}
	r := T(1)
	for e := uint64(y); e > 0; e >>= 1 {
		if e&1 == 1 {
			r *= x
		}
		x *= x
	}
	return r
}

func remT[T number](x, y T) T {
	if isFloat[T]() {
		return T(math.Mod(float64(x), float64(y)))
	}
	var zero T
	if y == zero {
		return x
	}
	return x - (x/y)*y
}

// cmpRow computes o[i] = a[..] cmp b[..].
func cmpRow[T number](op binOp, a []T, ia, sa int, b []T, ib, sb int, o []bool) {
	switch op {
	case bEq:
		for i := range o {
			o[i] = a[ia] == b[ib]
			ia += sa
			ib += sb
		}
	case bNe:
		for i := range o {
			o[i] = a[ia] != b[ib]
			ia += sa
			ib += sb
		}
	case bLt:
		for i := range o {
			o[i] = a[ia] < b[ib]
			ia += sa
			ib += sb
		}
	case bLe:
		for i := range o {
			o[i] = a[ia] <= b[ib]
			ia += sa
			ib += sb
		}
	case bGt:
		for i := range o {
			o[i] = a[ia] > b[ib]
			ia += sa
			ib += sb
		}
	case bGe:
		for i := range o {
			o[i] = a[ia] >= b[ib]
			ia += sa
			ib += sb
		}
	}
}

func boolRow(op binOp, a []bool, ia, sa int, b []bool, ib, sb int, o []bool) {
	for i := range o {
		x, y := a[ia], b[ib]
		switch op {
		case bAnd:
			o[i] = x && y
		case bOr:
			o[i] = x || y
		case bXor, bNe:
			o[i] = x != y
		case bEq:
			o[i] = x == y
		}
		ia += sa
		ib += sb
	}
}

type binData struct {
	op   binOp
	plan *bplan
}

// elemsExec returns the exec that runs body over the node's output
// elements. The body is bound here, when the graph is built: an exec that
// named a generic instantiation (binChunk[T]) inside its own generic body
// would allocate that func value on every run, ~140 allocations per decode
// token on the embedded model.
func elemsExec(body parBody) execFn {
	if body == nil {
		return nil
	}
	return func(st *state, n *node, ins []*Buffer, out *Buffer) error {
		parElems(st, n, ins, out, n.shape.Size(), body)
		return nil
	}
}

func binChunk[T number](n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	d := n.data.(*binData)
	a, b, o := ins[0].flat.([]T), ins[1].flat.([]T), out.flat.([]T)
	p := d.plan
	if len(p.outerDims) == 0 {
		binRow(d.op, a, lo*p.sa, p.sa, b, lo*p.sb, p.sb, o[lo:hi])
		return
	}
	p.span(lo, hi, func(ia, ib, io, cnt int) { binRow(d.op, a, ia, p.sa, b, ib, p.sb, o[io:io+cnt]) })
}

func cmpChunk[T number](n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	d := n.data.(*binData)
	a, b, o := ins[0].flat.([]T), ins[1].flat.([]T), out.flat.([]bool)
	p := d.plan
	p.span(lo, hi, func(ia, ib, io, cnt int) { cmpRow(d.op, a, ia, p.sa, b, ib, p.sb, o[io:io+cnt]) })
}

func execBool(st *state, n *node, ins []*Buffer, out *Buffer) error {
	parElems(st, n, ins, out, len(out.flat.([]bool)), boolChunk)
	return nil
}

func boolChunk(n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	d := n.data.(*binData)
	a, b, o := ins[0].flat.([]bool), ins[1].flat.([]bool), out.flat.([]bool)
	p := d.plan
	p.span(lo, hi, func(ia, ib, io, cnt int) { boolRow(d.op, a, ia, p.sa, b, ib, p.sb, o[io:io+cnt]) })
}

// numberExec picks the instantiation of a generic exec (or chunk body) for
// dtype; the zero F where there is none.
func numberExec[F any](dtype dtypes.DType, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64 F) F {
	switch dtype {
	case dtypes.Float32:
		return f32
	case dtypes.Float64:
		return f64
	case dtypes.Int8:
		return i8
	case dtypes.Int16:
		return i16
	case dtypes.Int32:
		return i32
	case dtypes.Int64:
		return i64
	case dtypes.Uint8:
		return u8
	case dtypes.Uint16:
		return u16
	case dtypes.Uint32:
		return u32
	case dtypes.Uint64:
		return u64
	}
	var none F
	return none
}

func (f *Function) binary(opType backends.OpType, lhs, rhs backends.Value) (backends.Value, error) {
	ns, err := f.values(opType, lhs, rhs)
	if err != nil {
		return nil, err
	}
	a, b := ns[0], ns[1]
	op := binOpTypes[opType]
	var shape shapes.Shape
	isCmp := op >= bEq
	if isCmp {
		shape, err = shapeinference.ComparisonOp(opType, a.shape, b.shape)
		if err != nil && a.shape.DType == dtypes.Bool && (op == bEq || op == bNe) {
			shape, err = shapeinference.BinaryOp(backends.OpTypeLogicalXor, a.shape, b.shape)
		}
	} else {
		shape, err = shapeinference.BinaryOp(opType, a.shape, b.shape)
	}
	if err != nil {
		return nil, err
	}
	plan, err := makePlan(a.shape, b.shape, shape)
	if err != nil {
		return nil, fmt.Errorf("op %s: %w", opType, err)
	}
	dt := a.shape.DType
	var exec execFn
	switch {
	case dt == dtypes.Bool:
		if op == bAnd || op == bOr || op == bXor || op == bEq || op == bNe {
			exec = execBool
		}
	case isCmp:
		exec = elemsExec(numberExec[parBody](dt, cmpChunk[float32], cmpChunk[float64], cmpChunk[int8],
			cmpChunk[int16], cmpChunk[int32], cmpChunk[int64], cmpChunk[uint8], cmpChunk[uint16], cmpChunk[uint32],
			cmpChunk[uint64]))
	case op <= bRem:
		exec = elemsExec(numberExec[parBody](dt, binChunk[float32], binChunk[float64], binChunk[int8],
			binChunk[int16], binChunk[int32], binChunk[int64], binChunk[uint8], binChunk[uint16], binChunk[uint32],
			binChunk[uint64]))
	}
	if exec == nil {
		return nil, fmt.Errorf("backend %s: op %s for dtype %s: %w", Name, opType, dt, backends.ErrNotImplemented)
	}
	shape.DType = dt
	if isCmp {
		shape.DType = dtypes.Bool
	}
	out := f.newNode(opType, shape, exec, a, b)
	out.data = &binData{op: op, plan: plan}
	return out, nil
}

// Add implements backends.Function.
func (f *Function) Add(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeAdd, lhs, rhs)
}

// Sub implements backends.Function.
func (f *Function) Sub(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeSub, lhs, rhs)
}

// Mul implements backends.Function.
func (f *Function) Mul(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeMul, lhs, rhs)
}

// Div implements backends.Function.
func (f *Function) Div(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeDiv, lhs, rhs)
}

// Max implements backends.Function.
func (f *Function) Max(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeMax, lhs, rhs)
}

// Min implements backends.Function.
func (f *Function) Min(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeMin, lhs, rhs)
}

// Pow implements backends.Function.
func (f *Function) Pow(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypePow, lhs, rhs)
}

// Rem implements backends.Function.
func (f *Function) Rem(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeRem, lhs, rhs)
}

// LogicalAnd implements backends.Function.
func (f *Function) LogicalAnd(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeLogicalAnd, lhs, rhs)
}

// LogicalOr implements backends.Function.
func (f *Function) LogicalOr(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeLogicalOr, lhs, rhs)
}

// LogicalXor implements backends.Function.
func (f *Function) LogicalXor(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeLogicalXor, lhs, rhs)
}

// Equal implements backends.Function.
func (f *Function) Equal(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeEqual, lhs, rhs)
}

// NotEqual implements backends.Function.
func (f *Function) NotEqual(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeNotEqual, lhs, rhs)
}

// LessThan implements backends.Function.
func (f *Function) LessThan(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeLessThan, lhs, rhs)
}

// LessOrEqual implements backends.Function.
func (f *Function) LessOrEqual(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeLessOrEqual, lhs, rhs)
}

// GreaterThan implements backends.Function.
func (f *Function) GreaterThan(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeGreaterThan, lhs, rhs)
}

// GreaterOrEqual implements backends.Function.
func (f *Function) GreaterOrEqual(lhs, rhs backends.Value) (backends.Value, error) {
	return f.binary(backends.OpTypeGreaterOrEqual, lhs, rhs)
}

// ---- unary ----

type unOp uint8

const (
	uNeg unOp = iota
	uAbs
	uSign
	uSqrt
	uRsqrt
	uExp
	uExpm1
	uLog
	uLog1p
	uTanh
	uLogistic
	uErf
	uCos
	uSin
	uFloor
	uCeil
	uRound
)

// unFloat64 evaluates the float functions in float64 and rounds once, as
// GoMLX's simplego does, so results agree bit-for-bit.
func unFloat64(op unOp, x float64) float64 {
	switch op {
	case uSqrt:
		return math.Sqrt(x)
	case uRsqrt:
		return 1 / math.Sqrt(x)
	case uExp:
		return math.Exp(x)
	case uExpm1:
		return math.Expm1(x)
	case uLog:
		return math.Log(x)
	case uLog1p:
		return math.Log1p(x)
	case uTanh:
		return math.Tanh(x)
	case uLogistic:
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	case uErf:
		return math.Erf(x)
	case uCos:
		return math.Cos(x)
	case uSin:
		return math.Sin(x)
	case uFloor:
		return math.Floor(x)
	case uCeil:
		return math.Ceil(x)
	case uRound:
		return math.RoundToEven(x)
	}
	return math.NaN()
}

type unData struct{ op unOp }

// unHeavy reports whether op costs a transcendental call per element, so
// that it is worth splitting over the pool at a smaller size.
func unHeavy(op unOp) bool {
	return op >= uSqrt && op <= uSin
}

// unaryFloatExec is elemsExec with the threshold of transcendental ops.
func unaryFloatExec(body parBody) execFn {
	return func(st *state, n *node, ins []*Buffer, out *Buffer) error {
		minSize := parMinCheap
		if unHeavy(n.data.(*unData).op) {
			minSize = parMinHeavy
		}
		parallel(st, n, ins, out, n.shape.Size(), minSize, parBlock, body)
		return nil
	}
}

func unaryFloatChunk[T float](n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	op := n.data.(*unData).op
	x, o := ins[0].flat.([]T)[lo:hi], out.flat.([]T)[lo:hi]
	switch op {
	case uNeg:
		for i, v := range x {
			o[i] = -v
		}
	case uAbs:
		for i, v := range x {
			o[i] = T(math.Abs(float64(v)))
		}
	case uSign:
		for i, v := range x {
			switch {
			case v > 0:
				o[i] = 1
			case v < 0:
				o[i] = -1
			default:
				o[i] = v // ±0 and NaN stay
			}
		}
	case uLogistic:
		// The SiLU of every feed-forward layer: the same float64 formula as
		// unFloat64, without its per-element dispatch.
		if xs, ok := any(x).([]float32); ok {
			logisticF32(xs, any(o).([]float32))
			break
		}
		for i, v := range x {
			o[i] = T(unFloat64(uLogistic, float64(v)))
		}
	default:
		for i, v := range x {
			o[i] = T(unFloat64(op, float64(v)))
		}
	}
}

func unaryIntChunk[T integer](n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	op := n.data.(*unData).op
	x, o := ins[0].flat.([]T)[lo:hi], out.flat.([]T)[lo:hi]
	var zero T
	for i, v := range x {
		switch op {
		case uNeg:
			o[i] = zero - v
		case uAbs:
			if v < zero {
				v = zero - v
			}
			o[i] = v
		case uSign:
			switch {
			case v > zero:
				o[i] = 1
			case v < zero:
				o[i] = zero - 1
			default:
				o[i] = zero
			}
		default:
			o[i] = v // floor/ceil/round of integers
		}
	}
}

func execLogicalNot(_ *state, _ *node, ins []*Buffer, out *Buffer) error {
	x, o := ins[0].flat.([]bool), out.flat.([]bool)
	for i, v := range x {
		o[i] = !v
	}
	return nil
}

func execIsFinite[T float](_ *state, n *node, ins []*Buffer, out *Buffer) error {
	x, o := ins[0].flat.([]T), out.flat.([]bool)
	nan := n.op == backends.OpTypeIsNaN
	for i, v := range x {
		f := float64(v)
		if nan {
			o[i] = math.IsNaN(f)
		} else {
			o[i] = !math.IsNaN(f) && !math.IsInf(f, 0)
		}
	}
	return nil
}

func (f *Function) unary(opType backends.OpType, op unOp, x backends.Value) (backends.Value, error) {
	n, err := f.value(opType, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.UnaryOp(opType, n.shape)
	if err != nil {
		return nil, err
	}
	dt := n.shape.DType
	var exec execFn
	switch {
	case dt == dtypes.Float32:
		exec = unaryFloatExec(unaryFloatChunk[float32])
	case dt == dtypes.Float64:
		exec = unaryFloatExec(unaryFloatChunk[float64])
	case op <= uSign || op >= uFloor:
		exec = elemsExec(numberExec[parBody](dt, nil, nil, unaryIntChunk[int8], unaryIntChunk[int16],
			unaryIntChunk[int32], unaryIntChunk[int64], unaryIntChunk[uint8], unaryIntChunk[uint16],
			unaryIntChunk[uint32], unaryIntChunk[uint64]))
	}
	if exec == nil {
		return nil, fmt.Errorf("backend %s: op %s for dtype %s: %w", Name, opType, dt, backends.ErrNotImplemented)
	}
	out := f.newNode(opType, shape, exec, n)
	out.data = &unData{op: op}
	return out, nil
}

// Neg implements backends.Function.
func (f *Function) Neg(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeNeg, uNeg, x)
}

// Abs implements backends.Function.
func (f *Function) Abs(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeAbs, uAbs, x)
}

// Sign implements backends.Function.
func (f *Function) Sign(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeSign, uSign, x)
}

// Sqrt implements backends.Function.
func (f *Function) Sqrt(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeSqrt, uSqrt, x)
}

// Rsqrt implements backends.Function.
func (f *Function) Rsqrt(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeRsqrt, uRsqrt, x)
}

// Exp implements backends.Function.
func (f *Function) Exp(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeExp, uExp, x)
}

// Expm1 implements backends.Function.
func (f *Function) Expm1(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeExpm1, uExpm1, x)
}

// Log implements backends.Function.
func (f *Function) Log(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeLog, uLog, x)
}

// Log1p implements backends.Function.
func (f *Function) Log1p(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeLog1p, uLog1p, x)
}

// Tanh implements backends.Function.
func (f *Function) Tanh(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeTanh, uTanh, x)
}

// Logistic implements backends.Function.
func (f *Function) Logistic(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeLogistic, uLogistic, x)
}

// Erf implements backends.Function.
func (f *Function) Erf(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeErf, uErf, x)
}

// Cos implements backends.Function.
func (f *Function) Cos(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeCos, uCos, x)
}

// Sin implements backends.Function.
func (f *Function) Sin(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeSin, uSin, x)
}

// Floor implements backends.Function.
func (f *Function) Floor(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeFloor, uFloor, x)
}

// Ceil implements backends.Function.
func (f *Function) Ceil(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeCeil, uCeil, x)
}

// Round implements backends.Function.
func (f *Function) Round(x backends.Value) (backends.Value, error) {
	return f.unary(backends.OpTypeRound, uRound, x)
}

// LogicalNot implements backends.Function.
func (f *Function) LogicalNot(x backends.Value) (backends.Value, error) {
	n, err := f.value(backends.OpTypeLogicalNot, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.UnaryOp(backends.OpTypeLogicalNot, n.shape)
	if err != nil {
		return nil, err
	}
	return f.newNode(backends.OpTypeLogicalNot, shape, execLogicalNot, n), nil
}

func (f *Function) floatTest(opType backends.OpType, x backends.Value) (backends.Value, error) {
	n, err := f.value(opType, x)
	if err != nil {
		return nil, err
	}
	var exec execFn
	switch n.shape.DType {
	case dtypes.Float32:
		exec = execIsFinite[float32]
	case dtypes.Float64:
		exec = execIsFinite[float64]
	default:
		return nil, fmt.Errorf("backend %s: op %s for %s: %w", Name, opType, n.shape, backends.ErrNotImplemented)
	}
	shape := n.shape.Clone()
	shape.DType = dtypes.Bool
	return f.newNode(opType, shape, exec, n), nil
}

// IsFinite implements backends.Function.
func (f *Function) IsFinite(x backends.Value) (backends.Value, error) {
	return f.floatTest(backends.OpTypeIsFinite, x)
}

// IsNaN implements backends.Function.
func (f *Function) IsNaN(x backends.Value) (backends.Value, error) {
	return f.floatTest(backends.OpTypeIsNaN, x)
}

// logisticRef is the Logistic of one float32 as the backend defines it: in
// float64 with math.Exp, rounded once to float32 (the formula of unFloat64).
func logisticRef(v float32) float32 {
	x := float64(v)
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-x)))
	}
	e := math.Exp(x)
	return float32(e / (1 + e))
}

// Fast Logistic, bit-identical to logisticRef.
//
// logisticRef's math.Exp call and its data-dependent sign branch (half the
// SiLU inputs are negative: a mispredicted branch per element) made
// Logistic the largest serial cost of a prefill after the matmuls. Both
// branches compute from e = exp(-|x|) over the same denominator 1+e, so
// logisticF32 evaluates e with a table-driven exp (P. T. P. Tang,
// "Table-driven implementation of the exponential function in IEEE
// floating-point arithmetic", ACM TOMS 15(2), 1989: e^y = 2^(k/256)·e^r
// with |r| <= ln2/512, a 256-entry table of 2^(j/256) and a degree-5
// polynomial) and picks the numerator (1 or e) without a branch.
//
// That exp is within a few float64 ulps of math.Exp, not always equal to
// it, so the float64 quotient may differ from logisticRef's in its last
// bits. Its float32 rounding can only differ if the quotient lies within
// that distance of a float32 rounding boundary (the midpoint between two
// float32 values, i.e. its 29 bits below float32 precision are near
// 1<<28). Such quotients, one in ~10^6, are recomputed with logisticRef (a
// rounding test in the manner of Ziv's correctly rounded libm), so every
// float32 result equals logisticRef's: par_internal_test.go checks the exp
// error bound and compares the results over tens of millions of inputs, and
// over every float32 with DAYI_EXHAUSTIVE=1 (done for this commit).
const (
	expTabBits = 8
	expTabN    = 1 << expTabBits
	// ln2/256 split so that k·ln2HiN is exact for |k| < 2^20.
	ln2HiN  = 0x1.62e42ffp-9
	ln2LoN  = math.Ln2/expTabN - ln2HiN
	invLn2N = expTabN / math.Ln2
	// logisticGuard is the distance, in float64 ulps, from a float32
	// rounding boundary within which the exact formula is used: far above
	// the measured error of the fast quotient (a few ulps, see
	// TestFastExpErrorBound).
	logisticGuard = 1 << 8
)

// expTab[j] = 2^(j/256), an immutable table.
var expTab = func() (t [expTabN]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / expTabN)
	}
	return t
}()

// expNegAbsGo sets e[i] = e^-|x[i]| within a few ulps of math.Exp (see
// above) for normal float32 x[i] with |x[i]| <= 87; other inputs give
// e^-87 or a meaningless value that callers must not use. It is the
// reference for the assembly twin (par_exp_amd64.s), which performs the
// same IEEE operations in the same order, so the two agree bit for bit:
// the explicit float64 conversions forbid the compiler to fuse a product
// and a sum into an FMA (Go spec, "Floating-point operators").
func expNegAbsGo(x []float32, e []float64) {
	const (
		maxAbs = 0x42ae0000         // math.Float32bits(87)
		rebias = (1023 - 127) << 52 // float32 -> float64 exponent bias
		// shifter rounds y·256/ln2 to the nearest integer k with no
		// rounding instruction: (z + 1.5·2^52) - 1.5·2^52.
		shifter = 0x1.8p52
	)
	e = e[:len(x)]
	for i, v := range x {
		// y = -|x| as float64, exactly, built on the bits (see logisticF32).
		ab := min(math.Float32bits(v)&0x7fffffff, maxAbs)
		y := math.Float64frombits(1<<63 | (uint64(ab)<<29 + rebias))
		kf := (float64(y*invLn2N) + shifter) - shifter
		k := int64(kf)
		r := (y - float64(kf*ln2HiN)) - float64(kf*ln2LoN)
		// e^r - 1 by its Taylor series to r^5 (|r| <= 0.00136: the r^6
		// term is below 2^-62), grouped to shorten the dependency chain.
		r2 := r * r
		a := float64(r2 * (1.0/2 + float64(r*(1.0/6))))
		b := float64((r2 * r2) * (1.0/24 + float64(r*(1.0/120))))
		p := (r + a) + b
		t := expTab[k&(expTabN-1)]
		// t·e^r, times 2^(k>>8) through the exponent field: the result
		// stays a normal float64 for y >= -87.
		e[i] = math.Float64frombits(math.Float64bits(t+float64(t*p)) + uint64(k>>expTabBits)<<52)
	}
}

// logisticF32 computes o[i] = logisticRef(x[i]) (bit-identical).
//
// It works in blocks: first e = exp(-|x|) for the block, then the
// quotients. Short independent loops let the CPU overlap many elements'
// exp and division latencies. The float32<->float64 conversions are done
// on the bits: CVTSS2SD and CVTSD2SS write only part of their destination
// register, and that false dependency on its previous value chained each
// element to the previous one (the loop ran latency-bound, slower than
// logisticRef).
func logisticF32(x, o []float32) {
	o = o[:len(x)]
	const (
		one     = 0x3ff0000000000000 // math.Float64bits(1)
		minNorm = 0x00800000         // smallest normal float32
		// maxAbs is math.Float32bits(87): below -87 e^y (and a negative
		// input's result) leaves the float32 normal range, where rounding
		// boundaries sit elsewhere, so such inputs take logisticRef.
		maxAbs = 0x42ae0000
		rebias = (1023 - 127) << 52 // float32 -> float64 exponent bias
		block  = 128
	)
	var eb [block]float64
	for len(x) > 0 {
		n := min(len(x), block)
		xs, os, es := x[:n], o[:n], eb[:n]
		expNegAbs(xs, es)
		for i, v := range xs {
			b := math.Float32bits(v)
			if (b&0x7fffffff)-minNorm > maxAbs-minNorm { // zero, subnormal, |x| > 87, inf, NaN
				os[i] = logisticRef(v)
				continue
			}
			e := es[i]
			// Numerator 1 for x >= 0, e for x < 0, selected by the sign bit.
			neg := -uint64(b >> 31)
			num := math.Float64frombits(one ^ ((one ^ math.Float64bits(e)) & neg))
			qb := math.Float64bits(num / (1 + e))
			// The 29 bits float32 drops; within logisticGuard ulps of
			// half, the float32 rounding could depend on the exp's last bits.
			tail := uint32(qb & (1<<29 - 1))
			if tail-(1<<28-logisticGuard) < 2*logisticGuard {
				os[i] = logisticRef(v)
				continue
			}
			// Round to float32 on the bits: 2^-126 < q <= 1 and q is not
			// a tie, so nearest-even rounds up exactly when the tail is
			// above half (a carry into the exponent is right).
			os[i] = math.Float32frombits(uint32(qb>>29-rebias>>29) + tail>>28)
		}
		x, o = x[n:], o[n:]
	}
}
