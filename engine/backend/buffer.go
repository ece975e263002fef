package backend

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/x448/float16"
)

// Buffer is a tensor in CPU memory. flat is the typed Go slice GoMLX expects
// (e.g. []float32, []float16.Float16); raw views the same memory as bytes so
// that data-movement ops work for every dtype.
type Buffer struct {
	shape shapes.Shape
	flat  any
	raw   []byte
	// owned buffers were allocated by the backend and may be recycled;
	// external ones wrap caller memory (mmap'd weights) and are never freed
	// or reused by us.
	owned bool
	// shared buffers were handed out by NewSharedBuffer: the caller holds a
	// slice into them, so they are never written in place nor pooled.
	shared bool
	valid  bool
}

// Shape is the buffer's shape.
func (b *Buffer) Shape() shapes.Shape { return b.shape }

// Bytes returns the buffer's memory as bytes (valid while the buffer is).
func (b *Buffer) Bytes() []byte { return b.raw }

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

func viewAs[T any](raw []byte) []T {
	var z T
	n := len(raw) / int(unsafe.Sizeof(z))
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), n)
}

func makeFlat[T any](n int) (any, []byte) {
	s := make([]T, n)
	return s, bytesOf(s)
}

// allocFlat allocates a zeroed typed slice of n elements of dtype.
func allocFlat(dtype dtypes.DType, n int) (any, []byte) {
	switch dtype {
	case dtypes.Bool:
		return makeFlat[bool](n)
	case dtypes.Int8:
		return makeFlat[int8](n)
	case dtypes.Int16:
		return makeFlat[int16](n)
	case dtypes.Int32:
		return makeFlat[int32](n)
	case dtypes.Int64:
		return makeFlat[int64](n)
	case dtypes.Uint8:
		return makeFlat[uint8](n)
	case dtypes.Uint16:
		return makeFlat[uint16](n)
	case dtypes.Uint32:
		return makeFlat[uint32](n)
	case dtypes.Uint64:
		return makeFlat[uint64](n)
	case dtypes.Float16:
		return makeFlat[float16.Float16](n)
	case dtypes.BFloat16:
		return makeFlat[bfloat16.BFloat16](n)
	case dtypes.Float32:
		return makeFlat[float32](n)
	case dtypes.Float64:
		return makeFlat[float64](n)
	}
	return nil, nil
}

// flatView reinterprets raw as the typed slice for dtype (raw must be aligned).
func flatView(dtype dtypes.DType, raw []byte) any {
	switch dtype {
	case dtypes.Bool:
		return viewAs[bool](raw)
	case dtypes.Int8:
		return viewAs[int8](raw)
	case dtypes.Int16:
		return viewAs[int16](raw)
	case dtypes.Int32:
		return viewAs[int32](raw)
	case dtypes.Int64:
		return viewAs[int64](raw)
	case dtypes.Uint8:
		return raw
	case dtypes.Uint16:
		return viewAs[uint16](raw)
	case dtypes.Uint32:
		return viewAs[uint32](raw)
	case dtypes.Uint64:
		return viewAs[uint64](raw)
	case dtypes.Float16:
		return viewAs[float16.Float16](raw)
	case dtypes.BFloat16:
		return viewAs[bfloat16.BFloat16](raw)
	case dtypes.Float32:
		return viewAs[float32](raw)
	case dtypes.Float64:
		return viewAs[float64](raw)
	}
	return nil
}

func newBuffer(s shapes.Shape) *Buffer {
	flat, raw := allocFlat(s.DType, s.Size())
	return &Buffer{shape: s, flat: flat, raw: raw, owned: true, valid: true}
}

func (b *Backend) asBuffer(buffer backends.Buffer) (*Buffer, error) {
	buf, ok := buffer.(*Buffer)
	if !ok || buf == nil {
		return nil, fmt.Errorf("backend %s: buffer of type %T is not from this backend", Name, buffer)
	}
	if !buf.valid {
		return nil, fmt.Errorf("backend %s: buffer %s used after it was finalized or donated", Name, buf.shape)
	}
	return buf, nil
}

// BufferFinalize implements backends.DataInterface. Owned memory returns to
// the pool; external (mmap'd) memory is only dropped, never freed.
func (b *Backend) BufferFinalize(buffer backends.Buffer) error {
	buf, ok := buffer.(*Buffer)
	if !ok || buf == nil {
		return fmt.Errorf("backend %s: BufferFinalize: buffer of type %T is not from this backend", Name, buffer)
	}
	if !buf.valid {
		return nil
	}
	b.putBuffer(buf)
	return nil
}

// BufferShape implements backends.DataInterface.
func (b *Backend) BufferShape(buffer backends.Buffer) (shapes.Shape, error) {
	buf, err := b.asBuffer(buffer)
	if err != nil {
		return shapes.Invalid(), err
	}
	return buf.shape, nil
}

// BufferDeviceNum implements backends.DataInterface.
func (b *Backend) BufferDeviceNum(buffer backends.Buffer) (backends.DeviceNum, error) {
	if _, err := b.asBuffer(buffer); err != nil {
		return 0, err
	}
	return 0, nil
}

// rawOfFlat returns the bytes of a typed flat slice and its dtype.
func rawOfFlat(flat any) ([]byte, dtypes.DType, error) {
	v := reflect.ValueOf(flat)
	if v.Kind() != reflect.Slice {
		return nil, dtypes.InvalidDType, fmt.Errorf("backend %s: flat data must be a slice, got %T", Name, flat)
	}
	dtype := dtypes.FromGoType(v.Type().Elem())
	if !dtypeSupported(dtype) {
		return nil, dtype, fmt.Errorf("backend %s: flat data of type %T: %w", Name, flat, backends.ErrNotImplemented)
	}
	n := v.Len()
	if n == 0 {
		return nil, dtype, nil
	}
	size := n * dtype.Size()
	return unsafe.Slice((*byte)(v.UnsafePointer()), size), dtype, nil
}

// BufferToFlatData implements backends.DataInterface.
func (b *Backend) BufferToFlatData(buffer backends.Buffer, flat any) error {
	buf, err := b.asBuffer(buffer)
	if err != nil {
		return err
	}
	raw, dtype, err := rawOfFlat(flat)
	if err != nil {
		return err
	}
	if dtype != buf.shape.DType || len(raw) != len(buf.raw) {
		return fmt.Errorf("backend %s: BufferToFlatData: buffer %s does not fit flat %T of %d bytes",
			Name, buf.shape, flat, len(raw))
	}
	copy(raw, buf.raw)
	return nil
}

// BufferFromFlatData implements backends.DataInterface (it copies).
func (b *Backend) BufferFromFlatData(_ backends.DeviceNum, flat any, shape shapes.Shape) (backends.Buffer, error) {
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	raw, dtype, err := rawOfFlat(flat)
	if err != nil {
		return nil, err
	}
	if dtype != shape.DType || len(raw) != shape.Size()*dtype.Size() {
		return nil, fmt.Errorf("backend %s: BufferFromFlatData: flat %T of %d bytes does not fit shape %s",
			Name, flat, len(raw), shape)
	}
	buf := b.getBuffer(shape)
	copy(buf.raw, raw)
	return buf, nil
}

// HasSharedBuffers implements backends.DataInterface: CPU memory is shared.
func (b *Backend) HasSharedBuffers() bool { return true }

// NewSharedBuffer implements backends.DataInterface.
func (b *Backend) NewSharedBuffer(_ backends.DeviceNum, shape shapes.Shape) (backends.Buffer, any, error) {
	if err := checkShape(shape); err != nil {
		return nil, nil, err
	}
	buf := newBuffer(shape)
	buf.shared = true
	return buf, buf.flat, nil
}

// BufferData implements backends.DataInterface.
func (b *Backend) BufferData(buffer backends.Buffer) (any, error) {
	buf, err := b.asBuffer(buffer)
	if err != nil {
		return nil, err
	}
	return buf.flat, nil
}

// BufferCopyToDevice implements backends.DataInterface: there is one device.
func (b *Backend) BufferCopyToDevice(_ backends.Buffer, deviceNum backends.DeviceNum) (backends.Buffer, error) {
	return nil, fmt.Errorf("backend %s: BufferCopyToDevice(%d): only one device: %w", Name, deviceNum, backends.ErrNotImplemented)
}

// BufferFromBytes wraps data (e.g. an mmap'd GGUF tensor) as a buffer of the
// given shape without copying. shape.DType may be Uint8 (any data), or any
// other dtype when data is aligned to its element size and has exactly
// shape.Size() elements. The buffer never frees nor recycles data, and the
// executor never writes into it (it is never treated as donated); keep data
// alive (mapped) while the buffer is in use. Use it with
// tensors.FromBuffer(backend, buf).
func (b *Backend) BufferFromBytes(data []byte, shape shapes.Shape) (backends.Buffer, error) {
	if err := checkShape(shape); err != nil {
		return nil, err
	}
	want := shape.Size() * shape.DType.Size()
	if len(data) != want {
		return nil, fmt.Errorf("backend %s: BufferFromBytes: %d bytes do not fit shape %s (%d bytes)",
			Name, len(data), shape, want)
	}
	if len(data) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(data)))%uintptr(shape.DType.Size()) != 0 {
		return nil, fmt.Errorf("backend %s: BufferFromBytes: data for %s is not aligned to %d bytes",
			Name, shape, shape.DType.Size())
	}
	return &Buffer{shape: shape, flat: flatView(shape.DType, data), raw: data, shared: true, valid: true}, nil
}
