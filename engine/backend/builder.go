package backend

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// execFn runs one step: ins are the input buffers, out the preallocated
// output (for in-place ops it may share memory with ins[0]).
type execFn func(st *state, n *node, ins []*Buffer, out *Buffer) error

// node is one op of the graph; it is the backends.Value we hand to GoMLX.
type node struct {
	id     int
	op     backends.OpType
	shape  shapes.Shape
	inputs []*node
	fn     *Function
	exec   execFn
	// alias nodes (Reshape, Identity) produce a view of inputs[0]'s memory.
	alias bool
	// param is the parameter index for Parameter nodes, else -1.
	param int
	// constant holds the data of Constant nodes.
	constant *Buffer
	// data holds op-specific precomputed parameters.
	data any
	// scratch is the number of float32 scratch elements the step needs.
	scratch int
}

// Builder implements backends.Builder. Only the main function is supported.
type Builder struct {
	b        *Backend
	name     string
	main     *Function
	compiled bool
}

var _ backends.Builder = (*Builder)(nil)

func newBuilder(b *Backend, name string) *Builder {
	bl := &Builder{b: b, name: name}
	bl.main = &Function{builder: bl}
	bl.main.ErrFn = func(op backends.OpType) error {
		return fmt.Errorf("backend %s: op %s: %w", Name, op, backends.ErrNotImplemented)
	}
	return bl
}

// Name implements backends.Builder.
func (bl *Builder) Name() string { return bl.name }

// Main implements backends.Builder.
func (bl *Builder) Main() backends.Function { return bl.main }

// NewFunction implements backends.Builder: sub-functions are not supported.
func (bl *Builder) NewFunction(name string) (backends.Function, error) {
	return nil, fmt.Errorf("backend %s: NewFunction(%q): %w", Name, name, backends.ErrNotImplemented)
}

// OpShape implements backends.Builder.
func (bl *Builder) OpShape(op backends.Value) (shapes.Shape, error) {
	n, ok := op.(*node)
	if !ok || n == nil {
		return shapes.Invalid(), fmt.Errorf("backend %s: OpShape: value of type %T is not from this backend", Name, op)
	}
	return n.shape, nil
}

// DistributedSPMD implements backends.Builder: not supported.
func (bl *Builder) DistributedSPMD(int) error {
	return fmt.Errorf("backend %s: DistributedSPMD: %w", Name, backends.ErrNotImplemented)
}

// DistributedAutoSharding implements backends.Builder: not supported.
func (bl *Builder) DistributedAutoSharding(...backends.Mesh) error {
	return fmt.Errorf("backend %s: DistributedAutoSharding: %w", Name, backends.ErrNotImplemented)
}

// DeviceAssignment implements backends.Builder: only device 0.
func (bl *Builder) DeviceAssignment(devices ...backends.DeviceNum) error {
	if len(devices) == 1 && devices[0] == 0 {
		return nil
	}
	return fmt.Errorf("backend %s: DeviceAssignment(%v): only device 0: %w", Name, devices, backends.ErrNotImplemented)
}

// Compile implements backends.Builder.
func (bl *Builder) Compile() (backends.Executable, error) {
	if bl.compiled {
		return nil, fmt.Errorf("backend %s: builder %q already compiled", Name, bl.name)
	}
	if !bl.main.returned {
		return nil, fmt.Errorf("backend %s: builder %q: Return() not called before Compile()", Name, bl.name)
	}
	bl.compiled = true
	return compile(bl)
}

// Function implements backends.Function; ops it does not implement come from
// the embedded notimplemented.Function and fail at build time with an error
// wrapping backends.ErrNotImplemented.
type Function struct {
	notimplemented.Function
	builder  *Builder
	nodes    []*node
	params   []*node
	outputs  []*node
	returned bool
}

var _ backends.Function = (*Function)(nil)

// Name implements backends.Function.
func (f *Function) Name() string { return backends.MainName }

// Parent implements backends.Function.
func (f *Function) Parent() backends.Function { return nil }

// Closure implements backends.Function: not supported.
func (f *Function) Closure() (backends.Function, error) {
	return nil, fmt.Errorf("backend %s: Closure: %w", Name, backends.ErrNotImplemented)
}

func (f *Function) newNode(op backends.OpType, shape shapes.Shape, exec execFn, inputs ...*node) *node {
	n := &node{id: len(f.nodes), op: op, shape: shape, inputs: inputs, fn: f, exec: exec, param: -1}
	f.nodes = append(f.nodes, n)
	return n
}

// errClosed is returned when ops are added after Return.
var errClosed = errors.New("function already returned")

// values converts GoMLX values to nodes of this function.
func (f *Function) values(op backends.OpType, vs ...backends.Value) ([]*node, error) {
	if f.returned {
		return nil, fmt.Errorf("backend %s: op %s: %w", Name, op, errClosed)
	}
	ns := make([]*node, len(vs))
	for i, v := range vs {
		n, ok := v.(*node)
		if !ok || n == nil {
			return nil, fmt.Errorf("backend %s: op %s: input #%d of type %T is not from this backend", Name, op, i, v)
		}
		if n.fn != f {
			return nil, fmt.Errorf("backend %s: op %s: input #%d is from another function", Name, op, i)
		}
		ns[i] = n
	}
	return ns, nil
}

func (f *Function) value(op backends.OpType, v backends.Value) (*node, error) {
	ns, err := f.values(op, v)
	if err != nil {
		return nil, err
	}
	return ns[0], nil
}

// Parameter implements backends.Function.
func (f *Function) Parameter(name string, shape shapes.Shape, sharding *backends.ShardingSpec) (backends.Value, error) {
	if f.returned {
		return nil, fmt.Errorf("backend %s: Parameter %q: %w", Name, name, errClosed)
	}
	if sharding != nil {
		return nil, fmt.Errorf("backend %s: Parameter %q: sharding: %w", Name, name, backends.ErrNotImplemented)
	}
	if err := checkShape(shape); err != nil {
		return nil, fmt.Errorf("parameter %q: %w", name, err)
	}
	n := f.newNode(backends.OpTypeParameter, shape, nil)
	n.param = len(f.params)
	n.data = name
	f.params = append(f.params, n)
	return n, nil
}

// Constant implements backends.Function (the data is copied).
func (f *Function) Constant(flat any, dims ...int) (backends.Value, error) {
	if f.returned {
		return nil, fmt.Errorf("backend %s: Constant: %w", Name, errClosed)
	}
	raw, dtype, err := rawOfFlat(flat)
	if err != nil {
		return nil, err
	}
	shape := shapes.Make(dtype, dims...)
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	if len(raw) != shape.Size()*dtype.Size() {
		return nil, fmt.Errorf("backend %s: Constant: %d bytes of %T do not fit shape %s", Name, len(raw), flat, shape)
	}
	buf := newBuffer(shape)
	buf.owned = false
	copy(buf.raw, raw)
	n := f.newNode(backends.OpTypeConstant, shape, nil)
	n.constant = buf
	return n, nil
}

// Return implements backends.Function.
func (f *Function) Return(outputs []backends.Value, shardings []*backends.ShardingSpec) error {
	if f.returned {
		return fmt.Errorf("backend %s: Return called twice", Name)
	}
	if len(shardings) > 0 {
		return fmt.Errorf("backend %s: Return with shardings: %w", Name, backends.ErrNotImplemented)
	}
	if len(outputs) == 0 {
		return fmt.Errorf("backend %s: Return needs at least one output", Name)
	}
	ns, err := f.values(backends.OpTypeInvalid, outputs...)
	if err != nil {
		return err
	}
	f.outputs = ns
	f.returned = true
	return nil
}

// Call implements backends.Function: not supported.
func (f *Function) Call(backends.Function, ...backends.Value) ([]backends.Value, error) {
	return nil, fmt.Errorf("backend %s: Call: %w", Name, backends.ErrNotImplemented)
}

// Identity implements backends.Function as a view (no copy).
func (f *Function) Identity(x backends.Value) (backends.Value, error) {
	n, err := f.value(backends.OpTypeIdentity, x)
	if err != nil {
		return nil, err
	}
	out := f.newNode(backends.OpTypeIdentity, n.shape, nil, n)
	out.alias = true
	return out, nil
}
