package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Data-movement ops work on raw memory by element size, so they serve every dtype.

func rowStrides(dims []int) []int {
	st := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= dims[i]
	}
	return st
}

// strided describes out[k] = in[offset + Σ idx_i*inStr_i] over out dims, after
// collapsing axes that are contiguous in both.
type strided struct {
	dims   []int
	inStr  []int
	offset int
}

func makeStrided(outDims, inStr []int, offset int) *strided {
	var dims, st []int
	for i, d := range outDims {
		if d == 1 {
			continue
		}
		dims = append(dims, d)
		st = append(st, inStr[i])
	}
	for i := len(dims) - 2; i >= 0; i-- {
		if st[i] == st[i+1]*dims[i+1] {
			dims[i] *= dims[i+1]
			st[i] = st[i+1]
			dims = slices.Delete(dims, i+1, i+2)
			st = slices.Delete(st, i+1, i+2)
		}
	}
	return &strided{dims: dims, inStr: st, offset: offset}
}

func copyStrided[T any](s *strided, offset int, in, out []T) {
	copyStridedDims(s.dims, s.inStr, offset, in, out)
}

// copyStridedDims is copyStrided over explicit (collapsed) dims and input
// strides, so that a parallel chunk can pass a slab of the outermost axis.
func copyStridedDims[T any](dims, inStr []int, offset int, in, out []T) {
	if len(dims) == 0 {
		if len(out) > 0 {
			out[0] = in[offset]
		}
		return
	}
	last := len(dims) - 1
	inner, is := dims[last], inStr[last]
	if len(dims) == 1 {
		if is == 1 {
			copy(out, in[offset:offset+inner])
			return
		}
		for i := range out {
			out[i] = in[offset]
			offset += is
		}
		return
	}
	var idx [16]int
	io := 0
	ii := offset
	for {
		row := out[io : io+inner]
		if is == 1 {
			copy(row, in[ii:ii+inner])
		} else {
			p := ii
			for j := range row {
				row[j] = in[p]
				p += is
			}
		}
		io += inner
		k := last - 1
		for ; k >= 0; k-- {
			idx[k]++
			ii += inStr[k]
			if idx[k] < dims[k] {
				break
			}
			ii -= inStr[k] * idx[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// copyStridedRaw dispatches copyStrided on the element size.
func copyStridedRaw(s *strided, offset int, es int, in, out []byte) {
	copyStridedDimsRaw(s.dims, s.inStr, offset, es, in, out)
}

func copyStridedDimsRaw(dims, inStr []int, offset int, es int, in, out []byte) {
	switch es {
	case 1:
		copyStridedDims(dims, inStr, offset, in, out)
	case 2:
		copyStridedDims(dims, inStr, offset, viewAs[uint16](in), viewAs[uint16](out))
	case 4:
		copyStridedDims(dims, inStr, offset, viewAs[uint32](in), viewAs[uint32](out))
	case 8:
		copyStridedDims(dims, inStr, offset, viewAs[uint64](in), viewAs[uint64](out))
	}
}

// execStrided runs Slice, Transpose and BroadcastInDim; large ones (RoPE's
// slices of a prefill's Q/K) are split over the outermost collapsed axis.
func execStrided(st *state, n *node, ins []*Buffer, out *Buffer) error {
	s := n.data.(*strided)
	if len(out.raw) == 0 {
		return nil
	}
	if len(s.dims) == 0 {
		copyStridedRaw(s, s.offset, n.shape.DType.Size(), ins[0].raw, out.raw)
		return nil
	}
	inner := n.shape.Size() / s.dims[0] // elements per outermost step
	parallel(st, n, ins, out, s.dims[0], max(1, parMinCheap/inner), max(1, parBlock/inner), stridedChunk)
	return nil
}

// stridedChunk copies the outermost steps [lo, hi) of a strided op.
func stridedChunk(n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	s := n.data.(*strided)
	if lo >= hi {
		return
	}
	es := n.shape.DType.Size()
	inner := n.shape.Size() / s.dims[0]
	var dims [16]int
	copy(dims[:], s.dims)
	dims[0] = hi - lo
	copyStridedDimsRaw(dims[:len(s.dims)], s.inStr, s.offset+lo*s.inStr[0], es, ins[0].raw,
		out.raw[lo*inner*es:hi*inner*es])
}

func (f *Function) stridedNode(op backends.OpType, x *node, shape shapes.Shape, inStr []int, offset int) (*node, error) {
	if len(shape.Dimensions) > 16 {
		return nil, fmt.Errorf("backend %s: op %s of rank %d: %w", Name, op, shape.Rank(), backends.ErrNotImplemented)
	}
	out := f.newNode(op, shape, execStrided, x)
	out.data = makeStrided(shape.Dimensions, inStr, offset)
	return out, nil
}

// Reshape implements backends.Function as a view (no copy).
func (f *Function) Reshape(x backends.Value, dimensions ...int) (backends.Value, error) {
	n, err := f.value(backends.OpTypeReshape, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ReshapeOp(n.shape, dimensions)
	if err != nil {
		return nil, err
	}
	out := f.newNode(backends.OpTypeReshape, shape, nil, n)
	out.alias = true
	return out, nil
}

// Transpose implements backends.Function.
func (f *Function) Transpose(x backends.Value, permutation ...int) (backends.Value, error) {
	n, err := f.value(backends.OpTypeTranspose, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.TransposeOp(n.shape, permutation)
	if err != nil {
		return nil, err
	}
	st := rowStrides(n.shape.Dimensions)
	inStr := make([]int, len(permutation))
	for i, p := range permutation {
		inStr[i] = st[p]
	}
	return f.stridedNode(backends.OpTypeTranspose, n, shape, inStr, 0)
}

// BroadcastInDim implements backends.Function.
func (f *Function) BroadcastInDim(x backends.Value, outputShape shapes.Shape, broadcastAxes []int) (backends.Value, error) {
	n, err := f.value(backends.OpTypeBroadcastInDim, x)
	if err != nil {
		return nil, err
	}
	if err := shapeinference.BroadcastInDimOp(n.shape, outputShape, broadcastAxes); err != nil {
		return nil, err
	}
	shape := outputShape.Clone()
	shape.DType = n.shape.DType
	st := rowStrides(n.shape.Dimensions)
	inStr := make([]int, shape.Rank())
	for i, a := range broadcastAxes {
		if n.shape.Dimensions[i] != 1 {
			inStr[a] = st[i]
		}
	}
	return f.stridedNode(backends.OpTypeBroadcastInDim, n, shape, inStr, 0)
}

// Slice implements backends.Function.
func (f *Function) Slice(x backends.Value, starts, limits, strides []int) (backends.Value, error) {
	n, err := f.value(backends.OpTypeSlice, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.SliceOp(n.shape, starts, limits, strides)
	if err != nil {
		return nil, err
	}
	st := rowStrides(n.shape.Dimensions)
	inStr := make([]int, len(st))
	offset := 0
	for i := range st {
		step := 1
		if len(strides) > 0 {
			step = strides[i]
		}
		inStr[i] = st[i] * step
		offset += starts[i] * st[i]
	}
	return f.stridedNode(backends.OpTypeSlice, n, shape, inStr, offset)
}

// ---- Concatenate ----

type concatData struct {
	outer int   // product of dims before the axis
	chunk []int // bytes per outer step, per operand
	total int   // bytes per outer step of the output
}

func execConcat(st *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*concatData)
	if d.total == 0 {
		return nil
	}
	// Split over outer steps; the threshold counts bytes as 4-byte elements.
	minRows := max(1, parMinCheap*4/d.total)
	parallel(st, n, ins, out, d.outer, minRows, max(1, parBlock*4/d.total), concatChunk)
	return nil
}

// concatChunk writes the outer steps [lo, hi) of a Concatenate. Operands of
// one 4-byte element per step (Stack of RoPE pairs) are interleaved with a
// typed loop instead of a copy call per element (total and the offsets are
// then multiples of 4).
func concatChunk(n *node, ins []*Buffer, out *Buffer, lo, hi int) {
	d := n.data.(*concatData)
	total := d.total
	o := 0
	for k, in := range ins {
		c := d.chunk[k]
		if c == 0 {
			continue
		}
		src := in.raw
		if c == 4 && n.shape.DType.Size() == 4 {
			s32, o32 := viewAs[uint32](src), viewAs[uint32](out.raw)
			t4, j := total/4, o/4
			for i := lo; i < hi; i++ {
				o32[i*t4+j] = s32[i]
			}
		} else {
			for i := lo; i < hi; i++ {
				copy(out.raw[i*total+o:i*total+o+c], src[i*c:(i+1)*c])
			}
		}
		o += c
	}
}

// Concatenate implements backends.Function.
func (f *Function) Concatenate(axis int, operands ...backends.Value) (backends.Value, error) {
	ns, err := f.values(backends.OpTypeConcatenate, operands...)
	if err != nil {
		return nil, err
	}
	shs := make([]shapes.Shape, len(ns))
	for i, n := range ns {
		shs[i] = n.shape
	}
	shape, err := shapeinference.ConcatenateOp(shs, axis)
	if err != nil {
		return nil, err
	}
	d := &concatData{outer: 1}
	for i := 0; i < axis; i++ {
		d.outer *= shape.Dimensions[i]
	}
	for _, n := range ns {
		c := n.shape.DType.Size()
		for i := axis; i < n.shape.Rank(); i++ {
			c *= n.shape.Dimensions[i]
		}
		d.chunk = append(d.chunk, c)
		d.total += c
	}
	out := f.newNode(backends.OpTypeConcatenate, shape, execConcat, ns...)
	out.data = d
	return out, nil
}

// ---- index helpers ----

// readIndex reads element i of an integer buffer as int.
func readIndex(b *Buffer, i int) int {
	switch s := b.flat.(type) {
	case []int32:
		return int(s[i])
	case []int64:
		return int(s[i])
	case []int16:
		return int(s[i])
	case []int8:
		return int(s[i])
	case []uint8:
		return int(s[i])
	case []uint16:
		return int(s[i])
	case []uint32:
		return int(s[i])
	case []uint64:
		if s[i] > 1<<62 {
			return 1 << 62
		}
		return int(s[i])
	}
	return 0
}

func isIndexDType(d dtypes.DType) bool {
	return d.IsInt()
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// ---- DynamicSlice ----

type dynSliceData struct {
	s       *strided
	inStr   []int
	inDims  []int
	outDims []int
}

func execDynamicSlice(_ *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*dynSliceData)
	offset := 0
	for i := range d.inDims {
		start := clampInt(readIndex(ins[1+i], 0), 0, d.inDims[i]-d.outDims[i])
		offset += start * d.inStr[i]
	}
	if len(out.raw) == 0 {
		return nil
	}
	copyStridedRaw(d.s, offset, n.shape.DType.Size(), ins[0].raw, out.raw)
	return nil
}

func (f *Function) scalarIndices(op backends.OpType, rank int, startIndices []backends.Value) ([]*node, error) {
	if len(startIndices) != rank {
		return nil, fmt.Errorf("backend %s: op %s: %d start indices for rank %d", Name, op, len(startIndices), rank)
	}
	idx, err := f.values(op, startIndices...)
	if err != nil {
		return nil, err
	}
	for i, s := range idx {
		if !s.shape.IsScalar() || !isIndexDType(s.shape.DType) {
			return nil, fmt.Errorf("backend %s: op %s: start index #%d must be an integer scalar, got %s", Name, op, i, s.shape)
		}
	}
	return idx, nil
}

// DynamicSlice implements backends.Function.
func (f *Function) DynamicSlice(operand backends.Value, startIndices []backends.Value, sliceDims []int) (backends.Value, error) {
	n, err := f.value(backends.OpTypeDynamicSlice, operand)
	if err != nil {
		return nil, err
	}
	idx, err := f.scalarIndices(backends.OpTypeDynamicSlice, n.shape.Rank(), startIndices)
	if err != nil {
		return nil, err
	}
	if len(sliceDims) != n.shape.Rank() {
		return nil, fmt.Errorf("backend %s: DynamicSlice: %d slice dims for rank %d", Name, len(sliceDims), n.shape.Rank())
	}
	for i, d := range sliceDims {
		if d < 0 || d > n.shape.Dimensions[i] {
			return nil, fmt.Errorf("backend %s: DynamicSlice: slice dim %d of axis %d out of [0,%d]", Name, d, i, n.shape.Dimensions[i])
		}
	}
	if n.shape.Rank() > 16 {
		return nil, fmt.Errorf("backend %s: DynamicSlice of rank %d: %w", Name, n.shape.Rank(), backends.ErrNotImplemented)
	}
	shape := shapes.Make(n.shape.DType, sliceDims...)
	st := rowStrides(n.shape.Dimensions)
	out := f.newNode(backends.OpTypeDynamicSlice, shape, execDynamicSlice, append([]*node{n}, idx...)...)
	out.data = &dynSliceData{s: makeStrided(sliceDims, st, 0), inStr: st, inDims: n.shape.Dimensions, outDims: sliceDims}
	return out, nil
}

// ---- DynamicUpdateSlice ----

type dusData struct {
	opDims  []int
	opStr   []int
	updDims []int
}

// execDUS copies the operand unless the executor gave us its memory to update
// in place (donated KV cache), then writes the update rows.
func execDUS(_ *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*dusData)
	op, upd := ins[0], ins[1]
	if len(out.raw) > 0 && rawPtr(out.raw) != rawPtr(op.raw) {
		copy(out.raw, op.raw)
	}
	if len(upd.raw) == 0 {
		return nil
	}
	es := n.shape.DType.Size()
	r := len(d.opDims)
	if r == 0 {
		copy(out.raw, upd.raw)
		return nil
	}
	var start [16]int
	base := 0
	for i := 0; i < r; i++ {
		start[i] = clampInt(readIndex(ins[2+i], 0), 0, d.opDims[i]-d.updDims[i])
		base += start[i] * d.opStr[i]
	}
	inner := d.updDims[r-1] * es
	rows := len(upd.raw) / inner
	var idx [16]int
	for row := 0; row < rows; row++ {
		off := base
		for k := 0; k < r-1; k++ {
			off += idx[k] * d.opStr[k]
		}
		copy(out.raw[off*es:off*es+inner], upd.raw[row*inner:(row+1)*inner])
		for k := r - 2; k >= 0; k-- {
			idx[k]++
			if idx[k] < d.updDims[k] {
				break
			}
			idx[k] = 0
		}
	}
	return nil
}

// DynamicUpdateSlice implements backends.Function. When the operand is a
// donated parameter (or an intermediate nobody else reads) the update is done
// in place: a KV-cache row update costs the row, not the cache.
func (f *Function) DynamicUpdateSlice(operand, update backends.Value, startIndices []backends.Value) (backends.Value, error) {
	ns, err := f.values(backends.OpTypeDynamicUpdateSlice, operand, update)
	if err != nil {
		return nil, err
	}
	n, u := ns[0], ns[1]
	idx, err := f.scalarIndices(backends.OpTypeDynamicUpdateSlice, n.shape.Rank(), startIndices)
	if err != nil {
		return nil, err
	}
	if u.shape.DType != n.shape.DType || u.shape.Rank() != n.shape.Rank() || n.shape.Rank() > 16 {
		return nil, fmt.Errorf("backend %s: DynamicUpdateSlice: update %s does not fit operand %s", Name, u.shape, n.shape)
	}
	for i, d := range u.shape.Dimensions {
		if d > n.shape.Dimensions[i] {
			return nil, fmt.Errorf("backend %s: DynamicUpdateSlice: update %s larger than operand %s", Name, u.shape, n.shape)
		}
	}
	out := f.newNode(backends.OpTypeDynamicUpdateSlice, n.shape, execDUS, append([]*node{n, u}, idx...)...)
	out.data = &dusData{opDims: n.shape.Dimensions, opStr: rowStrides(n.shape.Dimensions), updDims: u.shape.Dimensions}
	return out, nil
}

// ---- Gather ----

type gatherData struct {
	batchDims     []int // dims of the batch axes of startIndices (in order)
	batchIdxStr   []int // element strides of those axes in startIndices
	batchOutStr   []int // output strides of those axes
	vecStr        int   // stride of the index vector axis in startIndices (0 if implicit)
	startIndexMap []int
	opDims        []int
	opStr         []int
	sliceSizes    []int
	sliceOutStr   []int // output stride per operand axis (0 when collapsed)
}

func execGather(_ *state, n *node, ins []*Buffer, out *Buffer) error {
	d := n.data.(*gatherData)
	op, indices := ins[0], ins[1]
	if len(out.raw) == 0 {
		return nil
	}
	es := n.shape.DType.Size()
	r := len(d.opDims)
	nb := 1
	for _, x := range d.batchDims {
		nb *= x
	}
	var bidx [16]int
	var start [16]int
	var sidx [16]int
	for b := 0; b < nb; b++ {
		iBase, oBase := 0, 0
		for k := range d.batchDims {
			iBase += bidx[k] * d.batchIdxStr[k]
			oBase += bidx[k] * d.batchOutStr[k]
		}
		for a := 0; a < r; a++ {
			start[a] = 0
		}
		for k, a := range d.startIndexMap {
			v := readIndex(indices, iBase+k*d.vecStr)
			start[a] = clampInt(v, 0, d.opDims[a]-d.sliceSizes[a])
		}
		// Copy the slice: inner runs along the last operand axis when it is
		// contiguous in the output.
		last := r - 1
		run := d.sliceSizes[last]
		contiguous := d.sliceOutStr[last] == 1
		for a := 0; a < r; a++ {
			sidx[a] = 0
		}
		for {
			inOff, outOff := 0, oBase
			for a := 0; a < r; a++ {
				inOff += (start[a] + sidx[a]) * d.opStr[a]
				outOff += sidx[a] * d.sliceOutStr[a]
			}
			if contiguous {
				copy(out.raw[outOff*es:(outOff+run)*es], op.raw[inOff*es:(inOff+run)*es])
			} else {
				for j := 0; j < run; j++ {
					o := outOff + j*d.sliceOutStr[last]
					i := inOff + j*d.opStr[last]
					copy(out.raw[o*es:(o+1)*es], op.raw[i*es:(i+1)*es])
				}
			}
			k := last - 1
			for ; k >= 0; k-- {
				sidx[k]++
				if sidx[k] < d.sliceSizes[k] {
					break
				}
				sidx[k] = 0
			}
			if k < 0 {
				break
			}
		}
		for k := len(d.batchDims) - 1; k >= 0; k-- {
			bidx[k]++
			if bidx[k] < d.batchDims[k] {
				break
			}
			bidx[k] = 0
		}
	}
	return nil
}

// Gather implements backends.Function (XLA gather semantics, no batching axes).
func (f *Function) Gather(operand, startIndices backends.Value, indexVectorAxis int,
	offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes []int, indicesAreSorted bool) (backends.Value, error) {
	ns, err := f.values(backends.OpTypeGather, operand, startIndices)
	if err != nil {
		return nil, err
	}
	op, ind := ns[0], ns[1]
	if !isIndexDType(ind.shape.DType) {
		return nil, fmt.Errorf("backend %s: Gather: indices must be integers, got %s", Name, ind.shape)
	}
	shape, err := shapeinference.Gather(op.shape, ind.shape, indexVectorAxis, offsetOutputAxes, collapsedSliceAxes,
		startIndexMap, sliceSizes, indicesAreSorted)
	if err != nil {
		return nil, err
	}
	if op.shape.Rank() == 0 || op.shape.Rank() > 16 || ind.shape.Rank() > 16 {
		return nil, fmt.Errorf("backend %s: Gather of ranks %d/%d: %w", Name, op.shape.Rank(), ind.shape.Rank(), backends.ErrNotImplemented)
	}
	outStr := rowStrides(shape.Dimensions)
	indStr := rowStrides(ind.shape.Dimensions)
	d := &gatherData{startIndexMap: startIndexMap, opDims: op.shape.Dimensions, opStr: rowStrides(op.shape.Dimensions),
		sliceSizes: sliceSizes}
	if indexVectorAxis < ind.shape.Rank() {
		d.vecStr = indStr[indexVectorAxis]
	}
	// Output axes that are not offset axes are the batch axes, in order.
	isOffset := make([]bool, shape.Rank())
	for _, a := range offsetOutputAxes {
		isOffset[a] = true
	}
	var batchOutAxes []int
	for a := 0; a < shape.Rank(); a++ {
		if !isOffset[a] {
			batchOutAxes = append(batchOutAxes, a)
		}
	}
	k := 0
	for a := 0; a < ind.shape.Rank(); a++ {
		if a == indexVectorAxis {
			continue
		}
		d.batchDims = append(d.batchDims, ind.shape.Dimensions[a])
		d.batchIdxStr = append(d.batchIdxStr, indStr[a])
		d.batchOutStr = append(d.batchOutStr, outStr[batchOutAxes[k]])
		k++
	}
	collapsed := make([]bool, op.shape.Rank())
	for _, a := range collapsedSliceAxes {
		collapsed[a] = true
	}
	d.sliceOutStr = make([]int, op.shape.Rank())
	j := 0
	for a := 0; a < op.shape.Rank(); a++ {
		if collapsed[a] {
			continue
		}
		d.sliceOutStr[a] = outStr[offsetOutputAxes[j]]
		j++
	}
	exec := execGather
	if op.shape.Rank() == 1 && len(offsetOutputAxes) == 0 && ind.shape.Size() == shape.Size() {
		exec = execGatherTable // a lookup table: one index per output element
	}
	out := f.newNode(backends.OpTypeGather, shape, exec, op, ind)
	out.data = d
	return out, nil
}

// execGatherTable is Gather from a 1-D operand with one index per output
// element, out[i] = op[clamp(idx[i])]: a table lookup such as gemma3's
// GELU table (engine/arch), which the general loop runs ~10x slower.
func execGatherTable(_ *state, n *node, ins []*Buffer, out *Buffer) error {
	op, idx := ins[0], ins[1]
	es := n.shape.DType.Size()
	size := len(op.raw) / es
	if size == 0 {
		return nil
	}
	if t, ok := op.flat.([]float32); ok {
		if ix, ok := idx.flat.([]int32); ok {
			o := out.flat.([]float32)
			for i, v := range ix {
				o[i] = t[clampInt(int(v), 0, size-1)]
			}
			return nil
		}
	}
	for i := 0; i*es < len(out.raw); i++ {
		v := clampInt(readIndex(idx, i), 0, size-1)
		copy(out.raw[i*es:(i+1)*es], op.raw[v*es:(v+1)*es])
	}
	return nil
}
