package kernels

// Element-wise float32 Add, Sub and Mul for the backend's binary ops
// (engine/backend binRowFast): a prefill step of a small model spends a
// few per cent of its time in them (RMSNorm's two products, Q/K/V biases,
// the rotary products, the residual adds, SwiGLU's gate·up), which the Go
// compiler runs one element at a time. Each element is the one IEEE
// operation of the scalar loop, so the SIMD kernels (vecbin_amd64.s) equal
// the Go twins bit for bit; only when both operands are NaN may the other
// operand's NaN come out, as x86 returns the first source's and the Go
// compiler picks the operand order of a commutative scalar op itself.

// VecOp is an element-wise operation of VecBinary.
type VecOp uint8

const (
	VecAdd VecOp = iota
	VecSub
	VecMul
)

// VecBinary sets o[i] = a[i] op b[i] for i < len(o); a and b must be at
// least as long as o.
func VecBinary(op VecOp, o, a, b []float32) {
	n := len(o)
	if n == 0 {
		return
	}
	a, b = a[:n], b[:n]
	done := 0
	if hasAVX2 && n >= 8 {
		done = n &^ 7
		vecVVAVX2(int(op), &o[0], &a[0], &b[0], done)
	}
	vecVVGo(op, o[done:], a[done:], b[done:])
}

// VecBinaryScalar sets o[i] = a[i] op y (yFirst false) or y op a[i]
// (yFirst true) for i < len(o); a must be at least as long as o.
func VecBinaryScalar(op VecOp, o, a []float32, y float32, yFirst bool) {
	n := len(o)
	if n == 0 {
		return
	}
	a = a[:n]
	done := 0
	if hasAVX2 && n >= 8 {
		done = n &^ 7
		f := 0
		if yFirst {
			f = 1
		}
		vecVSAVX2(int(op), &o[0], &a[0], y, done, f)
	}
	vecVSGo(op, o[done:], a[done:], y, yFirst)
}

// vecVVGo is VecBinary's twin.
func vecVVGo(op VecOp, o, a, b []float32) {
	a, b = a[:len(o)], b[:len(o)]
	switch op {
	case VecAdd:
		for i := range o {
			o[i] = a[i] + b[i]
		}
	case VecSub:
		for i := range o {
			o[i] = a[i] - b[i]
		}
	default:
		for i := range o {
			o[i] = a[i] * b[i]
		}
	}
}

// vecVSGo is VecBinaryScalar's twin.
func vecVSGo(op VecOp, o, a []float32, y float32, yFirst bool) {
	a = a[:len(o)]
	switch {
	case op == VecAdd && !yFirst:
		for i := range o {
			o[i] = a[i] + y
		}
	case op == VecAdd:
		for i := range o {
			o[i] = y + a[i]
		}
	case op == VecSub && !yFirst:
		for i := range o {
			o[i] = a[i] - y
		}
	case op == VecSub:
		for i := range o {
			o[i] = y - a[i]
		}
	case !yFirst:
		for i := range o {
			o[i] = a[i] * y
		}
	default:
		for i := range o {
			o[i] = y * a[i]
		}
	}
}
