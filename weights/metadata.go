package weights

import (
	"fmt"
	"math"
)

// Get returns the value stored under key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Has reports whether key is present.
func (f *File) Has(key string) bool { _, ok := f.kvIndex[key]; return ok }

// Arch returns general.architecture ("" when absent).
func (f *File) Arch() string { return f.String("general.architecture", "") }

// ArchKey returns "<arch>.<suffix>", e.g. ArchKey("context_length").
func (f *File) ArchKey(suffix string) string { return f.Arch() + "." + suffix }

// String returns a string value or def when absent or not a string.
func (f *File) String(key, def string) string {
	if v, ok := f.Get(key); ok {
		if s, ok := v.V.(string); ok {
			return s
		}
	}
	return def
}

// Bool returns a bool value or def.
func (f *File) Bool(key string, def bool) bool {
	if v, ok := f.Get(key); ok {
		if b, ok := v.V.(bool); ok {
			return b
		}
	}
	return def
}

// Uint returns an unsigned integer value of any integer type, or def when the
// key is absent or holds a negative or non-integer value.
func (f *File) Uint(key string, def uint64) uint64 {
	if v, ok := f.Get(key); ok {
		if u, ok := v.asInt(); ok && u >= 0 {
			return uint64(u)
		}
		if u, ok := v.V.(uint64); ok {
			return u
		}
	}
	return def
}

// Int returns a signed integer value of any integer type, or def.
func (f *File) Int(key string, def int64) int64 {
	if v, ok := f.Get(key); ok {
		if i, ok := v.asInt(); ok {
			return i
		}
	}
	return def
}

// Float returns a float (or integer) value as float64, or def.
func (f *File) Float(key string, def float64) float64 {
	if v, ok := f.Get(key); ok {
		switch x := v.V.(type) {
		case float32:
			return float64(x)
		case float64:
			return x
		}
		if i, ok := v.asInt(); ok {
			return float64(i)
		}
	}
	return def
}

// Strings returns a string array, or nil.
func (f *File) Strings(key string) []string {
	if v, ok := f.Get(key); ok {
		if s, ok := v.V.([]string); ok {
			return s
		}
	}
	return nil
}

// Float32s returns a float32 array, or nil.
func (f *File) Float32s(key string) []float32 {
	if v, ok := f.Get(key); ok {
		if s, ok := v.V.([]float32); ok {
			return s
		}
	}
	return nil
}

// Int32s returns an integer array of any integer element type converted to
// int32 (values out of range make it return nil), or nil when absent.
func (f *File) Int32s(key string) []int32 {
	v, ok := f.Get(key)
	if !ok || v.Type != ValArray {
		return nil
	}
	if s, ok := v.V.([]int32); ok {
		return s
	}
	n := v.Len()
	out := make([]int32, n)
	for i := 0; i < n; i++ {
		e, ok := v.Index(i).asInt()
		if !ok || e < math.MinInt32 || e > math.MaxInt32 {
			return nil
		}
		out[i] = int32(e)
	}
	return out
}

// asInt converts any integer scalar to int64 (uint64 above MaxInt64 fails).
func (v Value) asInt() (int64, bool) {
	switch x := v.V.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// Len returns the length of an array value (0 for scalars).
func (v Value) Len() int {
	switch x := v.V.(type) {
	case []uint8:
		return len(x)
	case []int8:
		return len(x)
	case []uint16:
		return len(x)
	case []int16:
		return len(x)
	case []uint32:
		return len(x)
	case []int32:
		return len(x)
	case []float32:
		return len(x)
	case []bool:
		return len(x)
	case []string:
		return len(x)
	case []uint64:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	case []Value:
		return len(x)
	}
	return 0
}

// Index returns element i of an array value as a scalar Value.
func (v Value) Index(i int) Value {
	e := Value{Type: v.Elem}
	switch x := v.V.(type) {
	case []uint8:
		e.V = x[i]
	case []int8:
		e.V = x[i]
	case []uint16:
		e.V = x[i]
	case []int16:
		e.V = x[i]
	case []uint32:
		e.V = x[i]
	case []int32:
		e.V = x[i]
	case []float32:
		e.V = x[i]
	case []bool:
		e.V = x[i]
	case []string:
		e.V = x[i]
	case []uint64:
		e.V = x[i]
	case []int64:
		e.V = x[i]
	case []float64:
		e.V = x[i]
	case []Value:
		return x[i]
	}
	return e
}

// String renders the value for humans; long arrays are abbreviated.
func (v Value) String() string {
	if v.Type != ValArray {
		if s, ok := v.V.(string); ok {
			return fmt.Sprintf("%q", s)
		}
		return fmt.Sprint(v.V)
	}
	n := v.Len()
	s := fmt.Sprintf("[%s × %d]", v.Elem, n)
	if n <= 8 {
		s = "["
		for i := 0; i < n; i++ {
			if i > 0 {
				s += ", "
			}
			s += v.Index(i).String()
		}
		s += "]"
	}
	return s
}
