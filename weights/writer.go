package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"dayi/internal/atomicfile"
)

// Writer writes a GGUF version 3 file the way llama.cpp's gguf_write_out does
// (ggml/src/gguf.cpp, llama.cpp v0.5.0): header, metadata in declaration order,
// tensor infos, zero padding up to the alignment, then each tensor's bytes
// followed by zero padding up to the alignment (the last one included). Tensor
// offsets are assigned in declaration order, each aligned.
//
// Use it in two phases so that a model never has to be held in memory: declare
// every key/value pair and tensor first (AddKV, SetKV, AddTensor), then stream
// the tensor bytes in declaration order with Write or WriteTensor, and Close.
// The header goes out on the first data write (or on Close).
type Writer struct {
	w       io.Writer
	kvs     []KV
	tensors []TensorInfo
	tIndex  map[string]int

	started bool  // header written: no more declarations
	closed  bool  // Close called
	cur     int   // tensor being streamed
	curDone int64 // bytes of tensor cur written so far
	n       int64 // bytes written to w
	err     error // sticky write error
}

// NewWriter returns a Writer that writes a GGUF file to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, tIndex: map[string]int{}}
}

// AddKV appends a metadata pair. Keys must be unique and values well-formed.
func (w *Writer) AddKV(key string, v Value) error {
	if err := w.declaring("metadata " + key); err != nil {
		return err
	}
	if w.kvIndex(key) >= 0 {
		return fmt.Errorf("gguf writer: duplicate metadata key %q", key)
	}
	if err := checkValue(key, v, 0); err != nil {
		return err
	}
	if key == "general.alignment" {
		a, ok := v.V.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf writer: general.alignment must be a u32 power of two, got %s %v", v.Type, v.V)
		}
	}
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
	return nil
}

// SetKV removes key if present and appends it with the new value, as
// llama.cpp's gguf_set_val_* does (so a replaced key moves to the end).
func (w *Writer) SetKV(key string, v Value) error {
	if err := w.declaring("metadata " + key); err != nil {
		return err
	}
	w.DeleteKV(key)
	return w.AddKV(key, v)
}

// DeleteKV removes key if present.
func (w *Writer) DeleteKV(key string) {
	if w.started {
		return
	}
	if i := w.kvIndex(key); i >= 0 {
		w.kvs = append(w.kvs[:i], w.kvs[i+1:]...)
	}
}

func (w *Writer) kvIndex(key string) int {
	for i := range w.kvs {
		if w.kvs[i].Key == key {
			return i
		}
	}
	return -1
}

// AddTensor declares the next tensor. dims are in ggml order (dims[0] is the
// row length) and are written as given.
func (w *Writer) AddTensor(name string, typ Type, dims []int64) error {
	if err := w.declaring("tensor " + name); err != nil {
		return err
	}
	if _, dup := w.tIndex[name]; dup {
		return fmt.Errorf("gguf writer: duplicate tensor name %q", name)
	}
	if !typ.Known() {
		return fmt.Errorf("gguf writer: tensor %q has unknown type %d", name, uint32(typ))
	}
	if len(dims) > MaxDims {
		return fmt.Errorf("gguf writer: tensor %q has %d dimensions (max %d)", name, len(dims), MaxDims)
	}
	elems := int64(1)
	for j, d := range dims {
		if d < 0 {
			return fmt.Errorf("gguf writer: tensor %q dim %d is negative (%d)", name, j, d)
		}
		if d != 0 && elems > math.MaxInt64/d {
			return fmt.Errorf("gguf writer: tensor %q: product of dimensions %v overflows", name, dims)
		}
		elems *= d
	}
	row := int64(1)
	if len(dims) > 0 {
		row = dims[0]
	}
	if _, err := typ.RowSize(row); err != nil {
		return fmt.Errorf("gguf writer: tensor %q: %w", name, err)
	}
	blocks := elems / int64(typ.BlockSize())
	if blocks > math.MaxInt64/int64(typ.TypeSize()) {
		return fmt.Errorf("gguf writer: tensor %q byte size overflows", name)
	}
	w.tIndex[name] = len(w.tensors)
	w.tensors = append(w.tensors, TensorInfo{
		Name: name, Dims: append([]int64(nil), dims...), Type: typ,
		Size: blocks * int64(typ.TypeSize()),
	})
	return nil
}

func (w *Writer) declaring(what string) error {
	if w.started {
		return fmt.Errorf("gguf writer: cannot declare %s after tensor data has started", what)
	}
	return nil
}

// alignment is general.alignment when declared, else the GGUF default.
func (w *Writer) alignment() int64 {
	if i := w.kvIndex("general.alignment"); i >= 0 {
		return int64(w.kvs[i].Value.V.(uint32)) // checked by AddKV
	}
	return DefaultAlignment
}

// Tensors returns the declared tensors; their Offsets are final once the
// header has been written.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// WriteHeader writes the header, metadata and tensor infos now. Calling it is
// optional: the first data write does it.
func (w *Writer) WriteHeader() error {
	if w.started {
		return w.err
	}
	w.started = true
	align := w.alignment()
	off := int64(0)
	for i := range w.tensors {
		w.tensors[i].Offset = off
		off += padTo(w.tensors[i].Size, align)
	}
	b := make([]byte, 0, 4096)
	b = binary.LittleEndian.AppendUint32(b, Magic)
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(w.tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		b = appendString(b, kv.Key)
		b = binary.LittleEndian.AppendUint32(b, uint32(kv.Value.Type))
		b = appendValue(b, kv.Value)
	}
	for _, t := range w.tensors {
		b = appendString(b, t.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Type))
		b = binary.LittleEndian.AppendUint64(b, uint64(t.Offset))
	}
	for int64(len(b))%align != 0 {
		b = append(b, 0)
	}
	w.write(b)
	w.skipEmpty()
	return w.err
}

// Write streams tensor data: the bytes of the declared tensors, in order, back
// to back (without padding; the Writer pads). Writing more bytes than declared
// is an error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("gguf writer: write after Close")
	}
	if err := w.WriteHeader(); err != nil {
		return 0, err
	}
	done := 0
	for len(p) > 0 {
		if w.cur >= len(w.tensors) {
			return done, fmt.Errorf("gguf writer: %d bytes of tensor data beyond the %d declared tensors", len(p), len(w.tensors))
		}
		t := &w.tensors[w.cur]
		k := min(int64(len(p)), t.Size-w.curDone)
		w.write(p[:k])
		if w.err != nil {
			return done, w.err
		}
		done += int(k)
		p = p[k:]
		w.curDone += k
		w.finishTensors()
	}
	return done, w.err
}

// WriteTensor writes the whole data of the next tensor, which must be name.
func (w *Writer) WriteTensor(name string, data []byte) error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	if i, ok := w.tIndex[name]; ok && w.tensors[i].Size == 0 && len(data) == 0 {
		return nil // nothing to stream; skipped in order already
	}
	if w.cur >= len(w.tensors) || w.tensors[w.cur].Name != name || w.curDone != 0 {
		return fmt.Errorf("gguf writer: tensor %q written out of declaration order", name)
	}
	if int64(len(data)) != w.tensors[w.cur].Size {
		return fmt.Errorf("gguf writer: tensor %q has %d bytes, declared %d", name, len(data), w.tensors[w.cur].Size)
	}
	_, err := w.Write(data)
	return err
}

// finishTensors pads after the current tensor once its bytes are complete.
func (w *Writer) finishTensors() {
	if w.cur < len(w.tensors) && w.curDone == w.tensors[w.cur].Size {
		size := w.tensors[w.cur].Size
		if pad := padTo(size, w.alignment()) - size; pad > 0 {
			w.write(make([]byte, pad))
		}
		w.cur++
		w.curDone = 0
		w.skipEmpty()
	}
}

// skipEmpty advances past zero-sized tensors, which have no data to wait for.
func (w *Writer) skipEmpty() {
	for w.cur < len(w.tensors) && w.tensors[w.cur].Size == 0 {
		w.cur++
	}
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.n += int64(n)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("gguf writer: %w", err)
	}
}

// Close writes the header if nothing was written yet and checks that every
// declared tensor received all its bytes. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	w.closed = true
	if w.cur < len(w.tensors) {
		t := &w.tensors[w.cur]
		return fmt.Errorf("gguf writer: tensor %q incomplete: %d of %d bytes written", t.Name, w.curDone, t.Size)
	}
	return w.err
}

// CopyFile writes f to w as a GGUF v3 file: the same metadata, tensor infos and
// tensor bytes, laid out as llama.cpp lays them out. For a file llama.cpp
// wrote, the output is byte-identical to the input.
func CopyFile(w io.Writer, f *File) error {
	gw := NewWriter(w)
	for _, kv := range f.KV {
		if err := gw.AddKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if err := gw.AddTensor(t.Name, t.Type, t.Dims); err != nil {
			return err
		}
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if err := gw.WriteTensor(t.Name, f.TensorData(t)); err != nil {
			return err
		}
	}
	return gw.Close()
}

// WriteFileAtomic creates path (mode 0644) with what fn writes, through
// atomicfile: a failed or interrupted write never leaves a partial model
// behind and leaves an existing path untouched.
func WriteFileAtomic(path string, fn func(w io.Writer) error) error {
	return atomicfile.Write(path, 0o644, fn)
}

// ValueOf wraps a Go value as a metadata Value, inferring its GGUF type:
// the scalar types of Value (uint8 … float64, bool, string), their slices,
// and []Value for arrays of arrays.
func ValueOf(x any) (Value, error) {
	for t := ValUint8; t <= ValFloat64; t++ {
		if t == ValArray {
			continue
		}
		if scalarMatches(t, x) {
			return Value{Type: t, V: x}, nil
		}
		if sliceMatches(t, x) {
			return Value{Type: ValArray, Elem: t, V: x}, nil
		}
	}
	if _, ok := x.([]Value); ok {
		v := Value{Type: ValArray, Elem: ValArray, V: x}
		return v, checkValue("value", v, 0)
	}
	return Value{}, fmt.Errorf("gguf: no metadata type for Go type %T", x)
}

func padTo(n, align int64) int64 { return (n + align - 1) / align * align }

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// checkValue verifies that v's Go value matches its declared type, so that
// what the Writer writes the reader reads back identically.
func checkValue(key string, v Value, depth int) error {
	if v.Type != ValArray {
		if !scalarMatches(v.Type, v.V) {
			return fmt.Errorf("gguf writer: metadata %q: value %T does not match type %s", key, v.V, v.Type)
		}
		return nil
	}
	if depth >= maxNesting {
		return fmt.Errorf("gguf writer: metadata %q: arrays nested deeper than %d", key, maxNesting)
	}
	if v.Elem == ValArray {
		s, ok := v.V.([]Value)
		if !ok {
			return fmt.Errorf("gguf writer: metadata %q: array of arrays holds %T, want []weights.Value", key, v.V)
		}
		for i, e := range s {
			if e.Type != ValArray {
				return fmt.Errorf("gguf writer: metadata %q: element of an array of arrays has type %s", fmt.Sprintf("%s[%d]", key, i), e.Type)
			}
			if err := checkValue(fmt.Sprintf("%s[%d]", key, i), e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if !sliceMatches(v.Elem, v.V) {
		return fmt.Errorf("gguf writer: metadata %q: array value %T does not match element type %s", key, v.V, v.Elem)
	}
	return nil
}

func scalarMatches(t ValueType, x any) bool {
	switch x.(type) {
	case uint8:
		return t == ValUint8
	case int8:
		return t == ValInt8
	case uint16:
		return t == ValUint16
	case int16:
		return t == ValInt16
	case uint32:
		return t == ValUint32
	case int32:
		return t == ValInt32
	case float32:
		return t == ValFloat32
	case bool:
		return t == ValBool
	case string:
		return t == ValString
	case uint64:
		return t == ValUint64
	case int64:
		return t == ValInt64
	case float64:
		return t == ValFloat64
	}
	return false
}

func sliceMatches(t ValueType, x any) bool {
	switch x.(type) {
	case []uint8:
		return t == ValUint8
	case []int8:
		return t == ValInt8
	case []uint16:
		return t == ValUint16
	case []int16:
		return t == ValInt16
	case []uint32:
		return t == ValUint32
	case []int32:
		return t == ValInt32
	case []float32:
		return t == ValFloat32
	case []bool:
		return t == ValBool
	case []string:
		return t == ValString
	case []uint64:
		return t == ValUint64
	case []int64:
		return t == ValInt64
	case []float64:
		return t == ValFloat64
	}
	return false
}

// appendValue encodes a checked value (without its type tag).
func appendValue(b []byte, v Value) []byte {
	le := binary.LittleEndian
	if v.Type == ValArray {
		b = le.AppendUint32(b, uint32(v.Elem))
		b = le.AppendUint64(b, uint64(v.Len()))
		switch x := v.V.(type) {
		case []uint8:
			return append(b, x...)
		case []int8:
			for _, e := range x {
				b = append(b, byte(e))
			}
		case []bool:
			for _, e := range x {
				b = append(b, boolByte(e))
			}
		case []uint16:
			for _, e := range x {
				b = le.AppendUint16(b, e)
			}
		case []int16:
			for _, e := range x {
				b = le.AppendUint16(b, uint16(e))
			}
		case []uint32:
			for _, e := range x {
				b = le.AppendUint32(b, e)
			}
		case []int32:
			for _, e := range x {
				b = le.AppendUint32(b, uint32(e))
			}
		case []float32:
			for _, e := range x {
				b = le.AppendUint32(b, math.Float32bits(e))
			}
		case []uint64:
			for _, e := range x {
				b = le.AppendUint64(b, e)
			}
		case []int64:
			for _, e := range x {
				b = le.AppendUint64(b, uint64(e))
			}
		case []float64:
			for _, e := range x {
				b = le.AppendUint64(b, math.Float64bits(e))
			}
		case []string:
			for _, e := range x {
				b = appendString(b, e)
			}
		case []Value:
			for _, e := range x {
				b = appendValue(b, e)
			}
		}
		return b
	}
	switch x := v.V.(type) {
	case uint8:
		b = append(b, x)
	case int8:
		b = append(b, byte(x))
	case bool:
		b = append(b, boolByte(x))
	case uint16:
		b = le.AppendUint16(b, x)
	case int16:
		b = le.AppendUint16(b, uint16(x))
	case uint32:
		b = le.AppendUint32(b, x)
	case int32:
		b = le.AppendUint32(b, uint32(x))
	case float32:
		b = le.AppendUint32(b, math.Float32bits(x))
	case uint64:
		b = le.AppendUint64(b, x)
	case int64:
		b = le.AppendUint64(b, uint64(x))
	case float64:
		b = le.AppendUint64(b, math.Float64bits(x))
	case string:
		b = appendString(b, x)
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
