package backend

import (
	"fmt"
	"math"

	"dayi/kernels"
	"dayi/weights"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// ---- FusedSoftmax ----

type softmaxData struct{ outer, dim, inner int }

func execSoftmax(_ *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*softmaxData)
	x, o := ins[0].flat.([]float32), out.flat.([]float32)
	for a := 0; a < d.outer; a++ {
		for b := 0; b < d.inner; b++ {
			base := a*d.dim*d.inner + b
			mx := float32(math.Inf(-1))
			for j := 0; j < d.dim; j++ {
				mx = max(mx, x[base+j*d.inner])
			}
			var sum float32
			for j := 0; j < d.dim; j++ {
				e := float32(math.Exp(float64(x[base+j*d.inner] - mx)))
				o[base+j*d.inner] = e
				sum += e
			}
			inv := 1 / sum
			for j := 0; j < d.dim; j++ {
				o[base+j*d.inner] *= inv
			}
		}
	}
	return nil
}

// FusedSoftmax implements backends.Function for Float32.
func (f *Function) FusedSoftmax(x backends.Value, axis int) (backends.Value, error) {
	n, err := f.value(backends.OpTypeFusedSoftmax, x)
	if err != nil {
		return nil, err
	}
	if n.shape.DType != dtypes.Float32 || axis < 0 || axis >= n.shape.Rank() {
		return nil, fmt.Errorf("backend %s: FusedSoftmax(%s, axis=%d): %w", Name, n.shape, axis, backends.ErrNotImplemented)
	}
	d := &softmaxData{outer: 1, inner: 1, dim: n.shape.Dimensions[axis]}
	for i, dim := range n.shape.Dimensions {
		switch {
		case i < axis:
			d.outer *= dim
		case i > axis:
			d.inner *= dim
		}
	}
	out := f.newNode(backends.OpTypeFusedSoftmax, n.shape, execSoftmax, n)
	out.data = d
	return out, nil
}

// ---- activations ----

const sqrt2ByPi = 0.7978845608028654 // sqrt(2/π)

func geluExact(x float32) float32 {
	return x * 0.5 * (1 + float32(math.Erf(float64(x*float32(1/math.Sqrt2)))))
}

// geluTanh is the tanh approximation of GELU (Hendrycks & Gimpel 2016).
func geluTanh(x float32) float32 {
	inner := sqrt2ByPi * (x + 0.044715*x*x*x)
	return x * 0.5 * (1 + float32(math.Tanh(float64(inner))))
}

func applyActivation(act backends.ActivationType, v []float32) {
	switch act {
	case backends.ActivationGelu:
		for i, x := range v {
			v[i] = geluExact(x)
		}
	case backends.ActivationRelu:
		for i, x := range v {
			v[i] = max(x, 0)
		}
	case backends.ActivationSilu:
		kernels.SiLURow(v) // llama.cpp's ggml_vec_swiglu_f32 numerics, per row
	case backends.ActivationTanh:
		for i, x := range v {
			v[i] = float32(math.Tanh(float64(x)))
		}
	case geluF16:
		kernels.GeluF16Row(v)
	}
}

// geluF16 is the gate GELU of gemma's GeGLU in llama.cpp's numerics
// (kernels.GeluF16Row), an activation number only this backend knows.
const geluF16 = backends.ActivationType(kernels.GeluF16Activation)

func activationSupported(act backends.ActivationType) bool {
	switch act {
	case backends.ActivationNone, backends.ActivationGelu, backends.ActivationRelu,
		backends.ActivationSilu, backends.ActivationTanh, geluF16:
		return true
	}
	return false
}

type geluData struct{ exact bool }

func execGelu(_ *state, n *node, ins []*Buffer, out *Buffer) error {
	exact := n.data.(*geluData).exact
	x, o := ins[0].flat.([]float32), out.flat.([]float32)
	for i, v := range x {
		if exact {
			o[i] = geluExact(v)
		} else {
			o[i] = geluTanh(v)
		}
	}
	return nil
}

// FusedGelu implements backends.Function for Float32.
func (f *Function) FusedGelu(x backends.Value, exact bool) (backends.Value, error) {
	n, err := f.value(backends.OpTypeFusedGelu, x)
	if err != nil {
		return nil, err
	}
	if n.shape.DType != dtypes.Float32 {
		return nil, fmt.Errorf("backend %s: FusedGelu(%s): %w", Name, n.shape, backends.ErrNotImplemented)
	}
	out := f.newNode(backends.OpTypeFusedGelu, n.shape, execGelu, n)
	out.data = &geluData{exact: exact}
	return out, nil
}

// ---- FusedDense (float32 weights [K, N...]) ----

type denseData struct {
	M, K, N int
	act     backends.ActivationType
}

func execDense(st *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*denseData)
	x, w, o := ins[0].flat.([]float32), ins[1].flat.([]float32), out.flat.([]float32)
	rows := func(lo, hi int) {
		for m := lo; m < hi; m++ {
			y := o[m*d.N : (m+1)*d.N]
			clear(y)
			for k := 0; k < d.K; k++ {
				axpyF32(x[m*d.K+k], w[k*d.N:(k+1)*d.N], y)
			}
			if len(ins) > 2 {
				for j, b := range ins[2].flat.([]float32) {
					y[j] += b
				}
			}
			applyActivation(d.act, y)
		}
	}
	if d.M > 1 && d.M*d.N*d.K >= 1<<16 {
		st.e.b.kern.For(d.M, 1, rows)
	} else {
		rows(0, d.M)
	}
	return nil
}

// FusedDense implements backends.Function: activation(x @ W + bias) for
// Float32 x [..., K], W [K, N...], bias [N...].
func (f *Function) FusedDense(x, weight, bias backends.Value, activation backends.ActivationType) (backends.Value, error) {
	vals := []backends.Value{x, weight}
	if bias != nil {
		vals = append(vals, bias)
	}
	ns, err := f.values(backends.OpTypeFusedDense, vals...)
	if err != nil {
		return nil, err
	}
	xs, ws := ns[0].shape, ns[1].shape
	if xs.DType != dtypes.Float32 || ws.DType != dtypes.Float32 || xs.Rank() < 1 || ws.Rank() < 1 ||
		xs.Dimensions[xs.Rank()-1] != ws.Dimensions[0] || !activationSupported(activation) {
		return nil, fmt.Errorf("backend %s: FusedDense(%s, %s, %s): %w", Name, xs, ws, activation, backends.ErrNotImplemented)
	}
	outDims := append(append([]int{}, xs.Dimensions[:xs.Rank()-1]...), ws.Dimensions[1:]...)
	d := &denseData{M: xs.Size() / max(1, ws.Dimensions[0]), K: ws.Dimensions[0], N: ws.Size() / max(1, ws.Dimensions[0]), act: activation}
	if ws.Dimensions[0] == 0 {
		return nil, fmt.Errorf("backend %s: FusedDense with K=0: %w", Name, backends.ErrNotImplemented)
	}
	if bias != nil {
		bs := ns[2].shape
		if bs.DType != dtypes.Float32 || bs.Size() != d.N {
			return nil, fmt.Errorf("backend %s: FusedDense: bias %s does not fit %d outputs", Name, bs, d.N)
		}
	}
	out := f.newNode(backends.OpTypeFusedDense, shapes.Make(dtypes.Float32, outDims...), execDense, ns...)
	out.data = d
	return out, nil
}

// ---- FusedQuantizedDense with GGUF schemes ----

// GGUFScheme is the quantization scheme for GGUF weights of type t: pass it
// in graph.Quantization{Scheme: GGUFScheme(t), Scale: <any scalar>,
// BlockAxis: 1, BlockSize: t.BlockSize()} to graph.BackendFusedQuantizedDense
// with weights as a Uint8 [N, rowBytes] tensor of raw ggml blocks. The
// numbers are kernels.Scheme's (kernels.LayoutRows16 for repacked weights).
func GGUFScheme(t weights.Type) backends.QuantizationScheme {
	return backends.QuantizationScheme(kernels.Scheme(t, kernels.LayoutGGUF))
}

type qdenseData struct {
	t       weights.Type
	M, N, K int
	act     backends.ActivationType
	hasBias bool
	// plan: the kernels chosen for these weights when the node was built
	// (kernels.NewPlan); nil where the kernels do not handle t and rows are
	// dequantized here.
	plan     *kernels.Plan
	rowBytes int
	// xNode is the node whose value x is (through reshapes): with the
	// run it keys x for the kernels (kernels.XKey), so the Q/K/V or
	// gate/up matmuls of one input quantize it once. A node's value does
	// not change during a run (a buffer is reused in place only after its
	// node's last consumer).
	xNode uint64
}

func execQDense(st *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*qdenseData)
	x, w, o := ins[0].flat.([]float32), ins[1].raw, out.flat.([]float32)
	if d.plan != nil {
		if err := st.e.b.kern.MatMulPlanX(d.plan, w, x, d.M, o, kernels.XKey{Run: st.exec, Node: d.xNode}); err != nil {
			return err
		}
	} else {
		dequantMatMul(st, n, d, w, x, o)
	}
	if !d.hasBias && d.act == backends.ActivationSilu {
		st.e.b.kern.SiLURows(o[:d.M*d.N], d.N)
		return nil
	}
	if !d.hasBias && d.act == geluF16 {
		st.e.b.kern.GeluF16Rows(o[:d.M*d.N], d.N)
		return nil
	}
	if d.hasBias || d.act != backends.ActivationNone {
		for m := 0; m < d.M; m++ {
			y := o[m*d.N : (m+1)*d.N]
			if d.hasBias {
				for j, b := range ins[2].flat.([]float32) {
					y[j] += b
				}
			}
			applyActivation(d.act, y)
		}
	}
	return nil
}

// dequantMatMul covers types the kernels package has no vec_dot for (but
// weights can dequantize): each weight row is decoded to float32, then dotted.
func dequantMatMul(st *state, n *node, d *qdenseData, w []byte, x, o []float32) {
	tr, _ := d.t.Traits()
	row := st.f32Scratch(n.id, d.K)
	for j := 0; j < d.N; j++ {
		tr.Dequantize(row, w[j*d.rowBytes:(j+1)*d.rowBytes])
		for m := 0; m < d.M; m++ {
			o[m*d.N+j] = dotF32(x[m*d.K:(m+1)*d.K], row)
		}
	}
}

// FusedQuantizedDense implements backends.Function for GGUF schemes (see
// GGUFScheme): x Float32 [..., K], weights Uint8 [N, rowBytes] of raw ggml
// blocks, optional bias Float32 [N]; output [..., N]. K is inferred from
// rowBytes and the type. The scale (required non-nil by GoMLX) is ignored:
// scales live inside the GGUF blocks. Other schemes are not implemented.
func (f *Function) FusedQuantizedDense(x, weightsV, bias backends.Value, wq *backends.Quantization,
	activation backends.ActivationType) (backends.Value, error) {
	if wq == nil {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense: nil quantization", Name)
	}
	t, layout, ok := kernels.ParseScheme(int(wq.Scheme))
	if !ok {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense scheme %d: %w", Name, wq.Scheme, backends.ErrNotImplemented)
	}
	vals := []backends.Value{x, weightsV}
	if bias != nil {
		vals = append(vals, bias)
	}
	ns, err := f.values(backends.OpTypeFusedQuantizedDense, vals...)
	if err != nil {
		return nil, err
	}
	xs, ws := ns[0].shape, ns[1].shape
	tr, _ := t.Traits()
	kernel := kernels.Supported(t)
	if !kernel && tr.Dequantize == nil {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense: GGUF type %s: %w", Name, t, backends.ErrNotImplemented)
	}
	if !activationSupported(activation) {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense activation %s: %w", Name, activation, backends.ErrNotImplemented)
	}
	if ws.DType != dtypes.Uint8 || ws.Rank() != 2 {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense %s: weights must be Uint8 [N, rowBytes], got %s", Name, t, ws)
	}
	rowBytes := ws.Dimensions[1]
	if rowBytes == 0 || rowBytes%tr.TypeSize != 0 {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense %s: row of %d bytes is not whole %d-byte blocks", Name, t, rowBytes, tr.TypeSize)
	}
	K := rowBytes / tr.TypeSize * tr.BlockSize
	if xs.DType != dtypes.Float32 || xs.Rank() < 1 || xs.Dimensions[xs.Rank()-1] != K {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense %s: x %s must be Float32 [..., %d]", Name, t, xs, K)
	}
	N := ws.Dimensions[0]
	if layout == kernels.LayoutRows16 && (!kernels.LayoutSupported(t, layout) || N%16 != 0) {
		return nil, fmt.Errorf("backend %s: FusedQuantizedDense: 16-row layout of %s with %d rows: %w", Name, t, N, backends.ErrNotImplemented)
	}
	if bias != nil {
		if bs := ns[2].shape; bs.DType != dtypes.Float32 || bs.Rank() != 1 || bs.Dimensions[0] != N {
			return nil, fmt.Errorf("backend %s: FusedQuantizedDense: bias %s must be Float32 [%d]", Name, bs, N)
		}
	}
	var plan *kernels.Plan
	if kernel {
		// The kernels for these weights are chosen once, here, not per call.
		if plan, err = kernels.NewPlan(t, layout, N, K); err != nil {
			return nil, fmt.Errorf("backend %s: FusedQuantizedDense: %w", Name, err)
		}
	}
	outDims := append(append([]int{}, xs.Dimensions[:xs.Rank()-1]...), N)
	out := f.newNode(backends.OpTypeFusedQuantizedDense, shapes.Make(dtypes.Float32, outDims...), execQDense, ns...)
	xRoot := ns[0]
	for xRoot.alias {
		xRoot = xRoot.inputs[0]
	}
	out.data = &qdenseData{t: t, M: xs.Size() / K, N: N, K: K, act: activation, hasBias: bias != nil,
		plan: plan, rowBytes: rowBytes, xNode: uint64(xRoot.id)}
	return out, nil
}
