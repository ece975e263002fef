package backend

import (
	"fmt"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// storage says where a step's output lives.
type storage uint8

const (
	stSlot    storage = iota // a per-state buffer reused across runs (intermediates)
	stEscape                 // a fresh pool buffer per run (outputs)
	stView                   // a view of the first input's memory (Reshape, Identity)
	stInPlace                // the first input's buffer, written in place (DynamicUpdateSlice)
)

// step is one compiled op with everything precomputed.
type step struct {
	n    *node
	in   []int32 // value (node id) of each input
	kind storage
	slot int32 // slot index for stSlot, view index for stView
	// dusParam is the parameter index whose donated buffer a
	// DynamicUpdateSlice may update in place at run time, or -1.
	dusParam int32
}

// Executable implements backends.Executable.
type Executable struct {
	b          *Backend
	name       string
	steps      []step
	numVals    int
	params     []*node
	paramNames []string
	paramShape []shapes.Shape
	consts     []*node
	outputs    []int32
	outShapes  []shapes.Shape
	// slots are the intermediates' places in the per-state arena of
	// arenaBytes (arenaPlanner); step.slot indexes them.
	slots      []slotPlan
	arenaBytes int
	numViews   int
	maxIns     int

	mu     sync.Mutex
	states []*state
}

var _ backends.Executable = (*Executable)(nil)

// state is the per-run memory of an executable; states are pooled so that
// concurrent runs work and a sequential loop reuses one without allocating.
type state struct {
	e       *Executable
	vals    []*Buffer
	ins     []*Buffer
	slots   []*Buffer
	views   []*Buffer
	fresh   []*Buffer
	claimed []bool
	scratch [][]float32
	memo    []any // per-node cached data (e.g. attention key ranges)
	// arena holds the slots' bytes during a run, taken from the backend's
	// arenaPool by getState and returned by putState; bound is the arena
	// the slots' views were last made over (kept between runs, so taking
	// the same arena again needs no rebinding).
	arena []byte
	bound *byte
	run   uint64
	exec  uint64 // this run's number among all of the backend's runs (kernels.XKey)
}

func compile(bl *Builder) (*Executable, error) {
	f := bl.main
	nn := len(f.nodes)
	const never = int32(-1)
	const forever = int32(1 << 30)

	// Dead-code elimination: GoMLX builds decomposed fallbacks next to fused
	// ops (for autodiff); only what the outputs need is executed.
	live := make([]bool, nn)
	stack := append([]*node(nil), f.outputs...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if live[n.id] {
			continue
		}
		live[n.id] = true
		stack = append(stack, n.inputs...)
	}

	// Last consumer (step index = node id) of each node; outputs live forever.
	lastConsumer := make([]int32, nn)
	for i := range lastConsumer {
		lastConsumer[i] = never
	}
	for _, n := range f.nodes {
		if !live[n.id] {
			continue
		}
		for _, in := range n.inputs {
			lastConsumer[in.id] = max(lastConsumer[in.id], int32(n.id))
		}
	}
	isOutput := make([]bool, nn)
	for _, o := range f.outputs {
		lastConsumer[o.id] = forever
		isOutput[o.id] = true
	}

	// Storage groups: views and in-place updates share their root's memory.
	root := make([]int32, nn)
	groupLast := make([]int32, nn)
	inPlace := make([]bool, nn)
	dusParam := make([]int32, nn)
	for _, n := range f.nodes {
		root[n.id] = int32(n.id)
		dusParam[n.id] = -1
		if !live[n.id] {
			continue
		}
		groupLast[n.id] = lastConsumer[n.id]
		var r int32 = -1
		switch {
		case n.alias:
			r = root[n.inputs[0].id]
		case n.op == backends.OpTypeDynamicUpdateSlice:
			cand := root[n.inputs[0].id]
			ok := groupLast[cand] == int32(n.id)
			for _, in := range n.inputs[1:] {
				if root[in.id] == cand {
					ok = false
				}
			}
			if ok {
				rn := f.nodes[cand]
				switch {
				case rn.op == backends.OpTypeParameter:
					dusParam[n.id] = int32(rn.param)
				case rn.op == backends.OpTypeConstant:
				default:
					r = cand
					inPlace[n.id] = true
				}
			}
		}
		if r >= 0 {
			root[n.id] = r
			groupLast[r] = max(groupLast[r], lastConsumer[n.id])
		}
	}
	escape := make([]bool, nn)
	for _, o := range f.outputs {
		escape[root[o.id]] = true
	}

	e := &Executable{b: bl.b, name: bl.name, numVals: nn}
	for _, p := range f.params {
		e.params = append(e.params, p)
		e.paramNames = append(e.paramNames, p.data.(string))
		e.paramShape = append(e.paramShape, p.shape)
	}
	for _, o := range f.outputs {
		e.outputs = append(e.outputs, int32(o.id))
		e.outShapes = append(e.outShapes, o.shape)
	}

	// Slot assignment in execution order: each value's bytes are placed in
	// the arena when it is made and released when its group dies.
	var arena arenaPlanner
	slotOf := make([]int32, nn)
	hasSlot := make([]bool, nn)
	handedOn := make([]bool, nn)         // a slot taken over by an elementwise consumer
	releaseAt := make(map[int32][]int32) // step -> roots whose group dies there
	for _, n := range f.nodes {
		if !live[n.id] {
			continue
		}
		id := int32(n.id)
		switch {
		case n.op == backends.OpTypeParameter:
			continue
		case n.op == backends.OpTypeConstant:
			e.consts = append(e.consts, n)
			continue
		}
		s := step{n: n, kind: stSlot, dusParam: dusParam[id], slot: -1}
		for _, in := range n.inputs {
			s.in = append(s.in, int32(in.id))
		}
		e.maxIns = max(e.maxIns, len(s.in))
		switch {
		case n.alias:
			s.kind = stView
			s.slot = int32(e.numViews)
			e.numViews++
		case inPlace[id]:
			s.kind = stInPlace
		case escape[id]:
			s.kind = stEscape
		default:
			if in := inPlaceOperand(n, hasSlot, groupLast); in >= 0 {
				// Write over an operand that dies here: one buffer of the
				// step's largest activations (a 512-row FFN's are 16 MiB
				// on llama-1b) instead of two.
				s.slot = slotOf[in]
				handedOn[in] = true
			} else {
				size := alignedSize(int(n.shape.Memory()))
				s.slot = int32(len(e.slots))
				e.slots = append(e.slots, slotPlan{shape: n.shape, off: arena.alloc(size), size: size})
			}
			slotOf[id], hasSlot[id] = s.slot, true
			if gl := groupLast[id]; gl != forever {
				releaseAt[gl] = append(releaseAt[gl], id)
			}
		}
		e.steps = append(e.steps, s)
		for _, r := range releaseAt[id] {
			if handedOn[r] {
				continue
			}
			sp := e.slots[slotOf[r]]
			arena.release(sp.off, sp.size)
		}
	}
	e.arenaBytes = arena.end
	if e.b != nil {
		e.b.arenas.noteNeed(e.arenaBytes)
	}
	return e, nil
}

// slotPlan is one intermediate's place in the arena: shape, byte offset and
// aligned size.
type slotPlan struct {
	shape     shapes.Shape
	off, size int
}

// inPlaceOperand returns an operand of n whose slot n may write its output
// into, or -1: n must be an elementwise op that reads each operand element
// only for the output element at the same index (binary arithmetic through
// binRow, float unary ops), and the operand must hold a slot of its own
// (not a parameter, constant, view or escaping value), have n's exact shape
// (so its index is the output's: no broadcast) and have n as the last
// reader of its memory.
func inPlaceOperand(n *node, hasSlot []bool, groupLast []int32) int {
	switch d := n.data.(type) {
	case *binData:
		if d.op > bRem || n.shape.DType == dtypes.Bool {
			return -1
		}
	case *unData:
		if n.shape.DType != dtypes.Float32 && n.shape.DType != dtypes.Float64 {
			return -1
		}
	default:
		return -1
	}
	for _, in := range n.inputs {
		if hasSlot[in.id] && groupLast[in.id] == int32(n.id) && sameShape(in.shape, n.shape) {
			return in.id
		}
	}
	return -1
}

// Finalize implements backends.Executable.
func (e *Executable) Finalize() {
	e.mu.Lock()
	e.states = nil
	e.mu.Unlock()
}

// Inputs implements backends.Executable.
func (e *Executable) Inputs() ([]string, []shapes.Shape) { return e.paramNames, e.paramShape }

// Outputs implements backends.Executable.
func (e *Executable) Outputs() []shapes.Shape { return e.outShapes }

func (e *Executable) getState() *state {
	e.mu.Lock()
	if n := len(e.states); n > 0 {
		st := e.states[n-1]
		e.states = e.states[:n-1]
		e.mu.Unlock()
		st.bindArena()
		return st
	}
	e.mu.Unlock()
	st := &state{
		e:       e,
		vals:    make([]*Buffer, e.numVals),
		ins:     make([]*Buffer, e.maxIns),
		slots:   make([]*Buffer, len(e.slots)),
		views:   make([]*Buffer, e.numViews),
		scratch: make([][]float32, e.numVals),
		memo:    make([]any, e.numVals),
	}
	for i := range st.slots {
		st.slots[i] = &Buffer{valid: true}
	}
	for i := range st.views {
		st.views[i] = &Buffer{valid: true}
	}
	for _, c := range e.consts {
		st.vals[c.id] = c.constant
	}
	st.bindArena()
	return st
}

// bindArena takes an arena from the backend's pool for one run and, when it
// is not the one the slots were last bound to, points every slot into it.
func (st *state) bindArena() {
	e := st.e
	if e.arenaBytes == 0 {
		return
	}
	st.arena = e.b.arenas.get(e.arenaBytes, st.bound)
	p := unsafe.SliceData(st.arena)
	if p == st.bound {
		return
	}
	st.bound = p
	for i, sp := range e.slots {
		raw := st.arena[sp.off : sp.off+int(sp.shape.Memory()) : sp.off+sp.size]
		b := st.slots[i]
		b.shape, b.flat, b.raw = sp.shape, flatView(sp.shape.DType, raw), raw
	}
}

func (e *Executable) putState(st *state) {
	clear(st.fresh) // drop references so finalized inputs can be collected
	st.fresh = st.fresh[:0]
	st.claimed = st.claimed[:0]
	// Forget the run's parameter and intermediate values (constants stay):
	// a kept state must not pin the caller's buffers (KV caches) until the
	// next run.
	clear(st.vals)
	clear(st.ins)
	for _, c := range e.consts {
		st.vals[c.id] = c.constant
	}
	if st.arena != nil {
		e.b.arenas.put(st.arena)
		st.arena = nil
	}
	e.mu.Lock()
	e.states = append(e.states, st)
	e.mu.Unlock()
}

// f32Scratch returns a per-state float32 scratch of at least n elements for node id.
func (st *state) f32Scratch(id, n int) []float32 {
	if cap(st.scratch[id]) < n {
		st.scratch[id] = make([]float32, n)
	}
	return st.scratch[id][:n]
}

func sameShape(a, b shapes.Shape) bool {
	if a.DType != b.DType || len(a.Dimensions) != len(b.Dimensions) {
		return false
	}
	for i, d := range a.Dimensions {
		if b.Dimensions[i] != d {
			return false
		}
	}
	return true
}

func rawPtr(raw []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(raw)) }

// Execute implements backends.Executable. Donated inputs may be reused for
// outputs (in particular a donated KV cache is updated in place by
// DynamicUpdateSlice); they are invalid after the call either way.
func (e *Executable) Execute(inputs []backends.Buffer, donate []bool, _ backends.DeviceNum) (outs []backends.Buffer, err error) {
	if len(inputs) != len(e.params) {
		return nil, fmt.Errorf("backend %s: executable %q takes %d inputs, got %d", Name, e.name, len(e.params), len(inputs))
	}
	if donate != nil && len(donate) != len(inputs) {
		return nil, fmt.Errorf("backend %s: executable %q: %d donate flags for %d inputs", Name, e.name, len(donate), len(inputs))
	}
	st := e.getState()
	st.run++
	st.exec = e.b.runs.Add(1)
	for i, in := range inputs {
		buf, ok := in.(*Buffer)
		if !ok || buf == nil || !buf.valid {
			e.putState(st)
			return nil, fmt.Errorf("backend %s: executable %q: input #%d (%s) is not a valid buffer of this backend",
				Name, e.name, i, e.paramNames[i])
		}
		if !sameShape(buf.shape, e.paramShape[i]) {
			e.putState(st)
			return nil, fmt.Errorf("backend %s: executable %q: input #%d (%s) has shape %s, want %s",
				Name, e.name, i, e.paramNames[i], buf.shape, e.paramShape[i])
		}
		st.vals[e.params[i].id] = buf
		if donate != nil && donate[i] && buf.owned && !buf.shared {
			st.fresh = append(st.fresh, buf)
			st.claimed = append(st.claimed, false)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("backend %s: executable %q: internal error: %v\n%s", Name, e.name, r, debug.Stack())
			outs = nil
		}
	}()
	if err := e.run(st, inputs, donate); err != nil {
		e.release(st)
		e.putState(st)
		return nil, err
	}
	outs = e.collect(st)
	return outs, nil
}

func (e *Executable) run(st *state, inputs []backends.Buffer, donate []bool) error {
	b := e.b
	for i := range e.steps {
		s := &e.steps[i]
		n := s.n
		ins := st.ins[:len(s.in)]
		for k, id := range s.in {
			ins[k] = st.vals[id]
		}
		var out *Buffer
		switch s.kind {
		case stView:
			v := st.views[s.slot]
			src := ins[0]
			v.shape = n.shape
			v.flat = src.flat
			v.raw = src.raw
			st.vals[n.id] = v
			continue
		case stInPlace:
			out = ins[0]
		case stEscape:
			if s.dusParam >= 0 && donate != nil && donate[s.dusParam] && e.donatedUsable(st, inputs[s.dusParam], ins[0]) {
				out = ins[0]
				break
			}
			out = b.getBuffer(n.shape)
			st.fresh = append(st.fresh, out)
			st.claimed = append(st.claimed, false)
		default:
			if s.dusParam >= 0 && donate != nil && donate[s.dusParam] && e.donatedUsable(st, inputs[s.dusParam], ins[0]) {
				out = ins[0]
				break
			}
			out = st.slots[s.slot]
			out.shape = n.shape
		}
		st.vals[n.id] = out
		if err := n.exec(st, n, ins, out); err != nil {
			return fmt.Errorf("backend %s: executable %q: op #%d %s %s: %w", Name, e.name, n.id, n.op, n.shape, err)
		}
	}
	return nil
}

// donatedUsable reports whether the donated input p may be written in place
// through operand (a view of it or itself).
func (e *Executable) donatedUsable(st *state, p backends.Buffer, operand *Buffer) bool {
	pb := p.(*Buffer)
	if !pb.owned || pb.shared || len(pb.raw) == 0 {
		return false
	}
	return rawPtr(pb.raw) == rawPtr(operand.raw) && len(pb.raw) == len(operand.raw)
}

// collect hands out the outputs: fresh buffers (and donated inputs) are given
// away once; anything else (parameters, constants, repeats) is copied.
func (e *Executable) collect(st *state) []backends.Buffer {
	outs := make([]backends.Buffer, len(e.outputs))
	for j, id := range e.outputs {
		v := st.vals[id]
		var give *Buffer
		if len(v.raw) > 0 {
			for k, f := range st.fresh {
				if !st.claimed[k] && rawPtr(f.raw) == rawPtr(v.raw) && len(f.raw) == len(v.raw) {
					st.claimed[k] = true
					if f == v {
						give = f
					} else {
						give = &Buffer{shape: v.shape, flat: flatView(v.shape.DType, f.raw), raw: f.raw, owned: f.owned, valid: true}
						f.valid = false
					}
					break
				}
			}
		}
		if give == nil {
			give = e.b.getBuffer(v.shape)
			copy(give.raw, v.raw)
		}
		give.valid = true
		outs[j] = give
	}
	e.release(st)
	e.putState(st)
	return outs
}

// release returns unclaimed fresh buffers and donated inputs to the pool and
// drops references to caller buffers.
func (e *Executable) release(st *state) {
	for k, f := range st.fresh {
		if !st.claimed[k] {
			e.b.putBuffer(f)
		}
		st.fresh[k] = nil
	}
	for _, p := range e.params {
		st.vals[p.id] = nil
	}
	for i := range e.steps {
		s := &e.steps[i]
		if s.kind == stEscape || s.kind == stInPlace {
			st.vals[s.n.id] = nil
		}
	}
	for _, v := range st.views {
		v.flat, v.raw = nil, nil
	}
}
