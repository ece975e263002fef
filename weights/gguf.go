// Package weights reads, validates and writes GGUF model files and holds dayi's
// single table of ggml quantization types with their codecs.
//
// Tensor data is never copied on read: a File maps the model read-only and hands
// out views into that mapping. The package knows nothing about model
// architectures, tokenizers or execution; it must never panic or allocate more
// than the file justifies on hostile input.
package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unsafe"
)

// GGUF format constants (ggml/include/gguf.h, llama.cpp v0.5.0).
const (
	Magic            = 0x46554747 // "GGUF" little-endian
	DefaultAlignment = 32
	MaxDims          = 4    // GGML_MAX_DIMS
	maxNesting       = 8    // nested metadata arrays deeper than this are rejected
	maxPrealloc      = 4096 // largest count used as a capacity hint before parsing the entries
)

// ErrFormat is wrapped by every error caused by malformed file contents.
var ErrFormat = errors.New("invalid gguf")

// ValueType is a GGUF metadata value type (enum gguf_type).
type ValueType uint32

// Metadata value types.
const (
	ValUint8   ValueType = 0
	ValInt8    ValueType = 1
	ValUint16  ValueType = 2
	ValInt16   ValueType = 3
	ValUint32  ValueType = 4
	ValInt32   ValueType = 5
	ValFloat32 ValueType = 6
	ValBool    ValueType = 7
	ValString  ValueType = 8
	ValArray   ValueType = 9
	ValUint64  ValueType = 10
	ValInt64   ValueType = 11
	ValFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("gguf_type(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar type, 0 for string/array/unknown.
func (t ValueType) fixedSize() int {
	switch t {
	case ValUint8, ValInt8, ValBool:
		return 1
	case ValUint16, ValInt16:
		return 2
	case ValUint32, ValInt32, ValFloat32:
		return 4
	case ValUint64, ValInt64, ValFloat64:
		return 8
	}
	return 0
}

// Value is one metadata value. Scalars hold the Go value of their type (uint8,
// int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64,
// float64). Arrays hold a typed slice of those ([]uint32, []string, …) or, for
// arrays of arrays, []Value.
type Value struct {
	Type ValueType // ValArray for arrays
	Elem ValueType // element type, for arrays only
	V    any
}

// KV is one metadata key/value pair, in file order.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name string
	// Dims in ggml order: Dims[0] is the contiguous (row) dimension.
	Dims   []int64
	Type   Type
	Offset int64 // relative to the start of the data section
	Size   int64 // bytes
}

// Elements returns the number of elements of the tensor.
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Rows returns the number of rows (product of all dims but the first) and the
// row length.
func (t *TensorInfo) Rows() (rows, cols int64) {
	if len(t.Dims) == 0 {
		return 1, 1
	}
	rows = 1
	for _, d := range t.Dims[1:] {
		rows *= d
	}
	return rows, t.Dims[0]
}

// File is a parsed GGUF file. Its tensor data views stay valid until Close.
type File struct {
	Path       string
	Version    uint32
	Alignment  int64
	KV         []KV
	Tensors    []TensorInfo
	DataOffset int64 // file offset of the data section
	Size       int64 // file size in bytes

	data    []byte // whole file (mmap or caller's memory)
	kvIndex map[string]int
	tIndex  map[string]int
	closer  func() error
	rel     *releaser // how Release gives pages back; nil: it does nothing
}

// Parse reads a GGUF image held in memory. The File keeps a reference to data
// and returns views into it; the caller must keep it unchanged.
func Parse(data []byte) (*File, error) {
	f := &File{data: data, Size: int64(len(data))}
	if err := f.parse(); err != nil {
		return nil, err
	}
	return f, nil
}

// Data returns the whole file image (read-only).
func (f *File) Data() []byte { return f.data }

// Close releases the mapping. Views handed out before must not be used after.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	f.data = nil
	return c()
}

// TensorData returns a zero-copy view of tensor t's bytes.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + t.Offset
	return f.data[start : start+t.Size : start+t.Size]
}

// Tensor finds a tensor by name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// reader is a bounds-checked little-endian cursor over the file image.
type reader struct {
	b   []byte
	off int64
}

func (r *reader) need(n int64, what string) error {
	if n < 0 || n > int64(len(r.b))-r.off {
		return fmt.Errorf("%w: truncated reading %s at offset %d (need %d bytes, file has %d)", ErrFormat, what, r.off, n, int64(len(r.b))-r.off)
	}
	return nil
}

func (r *reader) remaining() int64 { return int64(len(r.b)) - r.off }

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

// strName names a string in errors: pre, then idx when it is ≥ 0, then
// post. It is only formatted for an error: a vocabulary has 10^5 strings,
// and formatting one name each was most of what parsing a GGUF allocated.
type strName struct {
	pre  string
	idx  int
	post string
}

func (n strName) String() string {
	if n.idx < 0 {
		return n.pre + n.post
	}
	return n.pre + strconv.Itoa(n.idx) + n.post
}

// str reads a length-prefixed string.
func (r *reader) str(name strName) (string, error) {
	b, err := r.strBytes(name)
	return string(b), err
}

// strBytes is str without the copy: the bytes lie in the file image.
func (r *reader) strBytes(name strName) ([]byte, error) {
	if r.remaining() < 8 {
		return nil, r.need(8, name.String()+" length")
	}
	n := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	if n > uint64(r.remaining()) {
		return nil, fmt.Errorf("%w: %s length %d exceeds the %d bytes left in the file", ErrFormat, name, n, r.remaining())
	}
	b := r.b[r.off : r.off+int64(n)]
	r.off += int64(n)
	return b, nil
}

func (f *File) parse() error {
	r := &reader{b: f.data}
	magic, err := r.u32("magic")
	if err != nil {
		return err
	}
	if magic != Magic {
		return fmt.Errorf("%w: bad magic %#08x (not a GGUF file)", ErrFormat, magic)
	}
	if f.Version, err = r.u32("version"); err != nil {
		return err
	}
	if f.Version != 2 && f.Version != 3 {
		return fmt.Errorf("%w: unsupported GGUF version %d (dayi reads 2 and 3)", ErrFormat, f.Version)
	}
	nTensors, err := r.u64("tensor count")
	if err != nil {
		return err
	}
	nKV, err := r.u64("metadata count")
	if err != nil {
		return err
	}
	// Every KV takes at least 8 (key length) + 4 (type) + 1 bytes; every tensor
	// info at least 8 + 4 + 4 + 8. Counts beyond that cannot be honest.
	if nKV > uint64(r.remaining())/13 {
		return fmt.Errorf("%w: metadata count %d exceeds what the file can hold", ErrFormat, nKV)
	}
	if nTensors > uint64(r.remaining())/24 {
		return fmt.Errorf("%w: tensor count %d exceeds what the file can hold", ErrFormat, nTensors)
	}

	// Capacity hints are capped: a hostile count that the file size still
	// allows would otherwise make us allocate several times the file size
	// before the first entry fails to parse.
	f.KV = make([]KV, 0, min(nKV, maxPrealloc))
	f.kvIndex = make(map[string]int, min(nKV, maxPrealloc))
	for i := uint64(0); i < nKV; i++ {
		key, err := r.str(strName{"metadata key #", int(i), ""})
		if err != nil {
			return err
		}
		if _, dup := f.kvIndex[key]; dup {
			return fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
		}
		t, err := r.u32("type of " + key)
		if err != nil {
			return err
		}
		v, err := readValue(r, ValueType(t), key, 0)
		if err != nil {
			return err
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}

	f.Alignment = DefaultAlignment
	if v, ok := f.Get("general.alignment"); ok {
		a, ok := v.V.(uint32)
		if !ok {
			return fmt.Errorf("%w: general.alignment has type %s, want u32", ErrFormat, v.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("%w: general.alignment %d is not a power of two", ErrFormat, a)
		}
		f.Alignment = int64(a)
	}

	f.Tensors = make([]TensorInfo, 0, min(nTensors, maxPrealloc))
	f.tIndex = make(map[string]int, min(nTensors, maxPrealloc))
	for i := uint64(0); i < nTensors; i++ {
		t, err := readTensorInfo(r, i)
		if err != nil {
			return err
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return fmt.Errorf("%w: duplicate tensor name %q", ErrFormat, t.Name)
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// The data section starts at the next multiple of the alignment.
	f.DataOffset = (r.off + f.Alignment - 1) / f.Alignment * f.Alignment
	if len(f.Tensors) > 0 && f.DataOffset > f.Size {
		return fmt.Errorf("%w: truncated before the data section (offset %d, file size %d)", ErrFormat, f.DataOffset, f.Size)
	}
	return f.checkTensorLayout()
}

func readTensorInfo(r *reader, i uint64) (TensorInfo, error) {
	var t TensorInfo
	name, err := r.str(strName{"tensor #", int(i), " name"})
	if err != nil {
		return t, err
	}
	t.Name = name
	nd, err := r.u32("n_dims of tensor " + name)
	if err != nil {
		return t, err
	}
	if nd > MaxDims {
		return t, fmt.Errorf("%w: tensor %q has %d dimensions (max %d)", ErrFormat, name, nd, MaxDims)
	}
	t.Dims = make([]int64, nd)
	elems := int64(1)
	for j := range t.Dims {
		d, err := r.u64(fmt.Sprintf("dim %d of tensor %s", j, name))
		if err != nil {
			return t, err
		}
		if d > math.MaxInt64 {
			return t, fmt.Errorf("%w: tensor %q dim %d = %d overflows", ErrFormat, name, j, d)
		}
		t.Dims[j] = int64(d)
		if d != 0 && elems > math.MaxInt64/int64(d) {
			return t, fmt.Errorf("%w: tensor %q: product of dimensions %v overflows", ErrFormat, name, t.Dims[:j+1])
		}
		elems *= int64(d)
	}
	typ, err := r.u32("type of tensor " + name)
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if !t.Type.Known() {
		return t, fmt.Errorf("%w: tensor %q has unknown type %d", ErrFormat, name, typ)
	}
	off, err := r.u64("offset of tensor " + name)
	if err != nil {
		return t, err
	}
	if off > math.MaxInt64 {
		return t, fmt.Errorf("%w: tensor %q offset %d overflows", ErrFormat, name, off)
	}
	t.Offset = int64(off)
	row := int64(1)
	if nd > 0 {
		row = t.Dims[0]
	}
	if row%int64(t.Type.BlockSize()) != 0 {
		return t, fmt.Errorf("%w: tensor %q row length %d is not a multiple of the %s block size %d", ErrFormat, name, row, t.Type, t.Type.BlockSize())
	}
	blocks := elems / int64(t.Type.BlockSize())
	if blocks > math.MaxInt64/int64(t.Type.TypeSize()) {
		return t, fmt.Errorf("%w: tensor %q byte size overflows", ErrFormat, name)
	}
	t.Size = blocks * int64(t.Type.TypeSize())
	return t, nil
}

func (f *File) checkTensorLayout() error {
	dataLen := f.Size - f.DataOffset
	order := make([]int, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("%w: tensor %q offset %d is not aligned to %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return fmt.Errorf("%w: tensor %q [%d, %d) lies outside the data section (%d bytes; file truncated?)", ErrFormat, t.Name, t.Offset, t.Offset+t.Size, dataLen)
		}
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	for k := 1; k < len(order); k++ {
		p, c := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if p.Offset+p.Size > c.Offset && c.Size > 0 && p.Size > 0 {
			return fmt.Errorf("%w: tensors %q and %q overlap", ErrFormat, p.Name, c.Name)
		}
	}
	return nil
}

func readValue(r *reader, t ValueType, key string, depth int) (Value, error) {
	switch t {
	case ValString:
		s, err := r.str(strName{"value of " + key, -1, ""})
		return Value{Type: t, V: s}, err
	case ValArray:
		return readArray(r, key, depth)
	}
	n := t.fixedSize()
	if n == 0 {
		return Value{}, fmt.Errorf("%w: metadata %q has unknown value type %d", ErrFormat, key, uint32(t))
	}
	if err := r.need(int64(n), "value of "+key); err != nil {
		return Value{}, err
	}
	b := r.b[r.off : r.off+int64(n)]
	r.off += int64(n)
	var v any
	switch t {
	case ValUint8:
		v = b[0]
	case ValInt8:
		v = int8(b[0])
	case ValBool:
		if b[0] > 1 {
			return Value{}, fmt.Errorf("%w: metadata %q: bool byte %d", ErrFormat, key, b[0])
		}
		v = b[0] == 1
	case ValUint16:
		v = binary.LittleEndian.Uint16(b)
	case ValInt16:
		v = int16(binary.LittleEndian.Uint16(b))
	case ValUint32:
		v = binary.LittleEndian.Uint32(b)
	case ValInt32:
		v = int32(binary.LittleEndian.Uint32(b))
	case ValFloat32:
		v = math.Float32frombits(binary.LittleEndian.Uint32(b))
	case ValUint64:
		v = binary.LittleEndian.Uint64(b)
	case ValInt64:
		v = int64(binary.LittleEndian.Uint64(b))
	case ValFloat64:
		v = math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return Value{Type: t, V: v}, nil
}

func readArray(r *reader, key string, depth int) (Value, error) {
	if depth >= maxNesting {
		return Value{}, fmt.Errorf("%w: metadata %q: arrays nested deeper than %d", ErrFormat, key, maxNesting)
	}
	et, err := r.u32("array type of " + key)
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	cnt, err := r.u64("array length of " + key)
	if err != nil {
		return Value{}, err
	}
	minSize := uint64(elem.fixedSize())
	switch elem {
	case ValString:
		minSize = 8
	case ValArray:
		minSize = 12
	}
	if minSize == 0 {
		return Value{}, fmt.Errorf("%w: metadata %q: unknown array element type %d", ErrFormat, key, et)
	}
	if cnt > uint64(r.remaining())/minSize {
		return Value{}, fmt.Errorf("%w: metadata %q: array length %d exceeds the %d bytes left in the file", ErrFormat, key, cnt, r.remaining())
	}
	n := int(cnt)
	out := Value{Type: ValArray, Elem: elem}
	if fs := elem.fixedSize(); fs > 0 {
		b := r.b[r.off : r.off+int64(n*fs)]
		r.off += int64(n * fs)
		le := binary.LittleEndian
		switch elem {
		case ValUint8:
			out.V = append([]uint8(nil), b...)
		case ValInt8:
			out.V, err = decodeArray(b, 1, key, func(b []byte) (int8, error) { return int8(b[0]), nil })
		case ValBool:
			out.V, err = decodeArray(b, 1, key, func(b []byte) (bool, error) {
				if b[0] > 1 {
					return false, fmt.Errorf("bool byte %d", b[0])
				}
				return b[0] == 1, nil
			})
		case ValUint16:
			out.V, err = decodeArray(b, 2, key, func(b []byte) (uint16, error) { return le.Uint16(b), nil })
		case ValInt16:
			out.V, err = decodeArray(b, 2, key, func(b []byte) (int16, error) { return int16(le.Uint16(b)), nil })
		case ValUint32:
			out.V, err = decodeArray(b, 4, key, func(b []byte) (uint32, error) { return le.Uint32(b), nil })
		case ValInt32:
			out.V, err = decodeArray(b, 4, key, func(b []byte) (int32, error) { return int32(le.Uint32(b)), nil })
		case ValFloat32:
			out.V, err = decodeArray(b, 4, key, func(b []byte) (float32, error) { return math.Float32frombits(le.Uint32(b)), nil })
		case ValUint64:
			out.V, err = decodeArray(b, 8, key, func(b []byte) (uint64, error) { return le.Uint64(b), nil })
		case ValInt64:
			out.V, err = decodeArray(b, 8, key, func(b []byte) (int64, error) { return int64(le.Uint64(b)), nil })
		case ValFloat64:
			out.V, err = decodeArray(b, 8, key, func(b []byte) (float64, error) { return math.Float64frombits(le.Uint64(b)), nil })
		}
		if err != nil {
			return Value{}, err
		}
		return out, nil
	}
	if elem == ValString {
		// Two passes: the lengths are checked and summed first, then all
		// the strings are copied into one allocation (a vocabulary's 10^5
		// tokens as 10^5 small objects cost about twice the bytes and
		// the collector a pointer each).
		start, total := r.off, 0
		name := strName{key + "[", 0, "]"}
		for i := 0; i < n; i++ {
			name.idx = i
			b, err := r.strBytes(name)
			if err != nil {
				return Value{}, err
			}
			total += len(b)
		}
		r.off = start
		blob := make([]byte, 0, total)
		s := make([]string, n)
		for i := range s {
			name.idx = i
			b, _ := r.strBytes(name)
			at := len(blob)
			blob = append(blob, b...)
			s[i] = unsafe.String(unsafe.SliceData(blob[at:]), len(b))
		}
		out.V = s
		return out, nil
	}
	s := make([]Value, n)
	for i := range s {
		if s[i], err = readArray(r, fmt.Sprintf("%s[%d]", key, i), depth+1); err != nil {
			return Value{}, err
		}
	}
	out.V = s
	return out, nil
}

// decodeArray decodes the fixed-size elements of a metadata array: b holds
// len(b)/size little-endian elements, each decoded by at. The element types
// differ only in size and conversion, so one loop serves them all; an element
// at refuses (a bool byte other than 0 or 1) is reported with its index.
func decodeArray[T any](b []byte, size int, key string, at func([]byte) (T, error)) ([]T, error) {
	s := make([]T, len(b)/size)
	for i := range s {
		v, err := at(b[i*size:])
		if err != nil {
			return nil, fmt.Errorf("%w: metadata %q[%d]: %w", ErrFormat, key, i, err)
		}
		s[i] = v
	}
	return s, nil
}
