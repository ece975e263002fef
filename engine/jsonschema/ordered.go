package jsonschema

import "bytes"

// Object is a JSON object that keeps its key order, as DecodeOrdered
// returns it. Schemas need the order: properties are generated in it.
type Object = ordered

// Keys returns the object's keys in document order.
func (o *ordered) Keys() []string { return o.keys }

// Get returns the value under key (nil when absent).
func (o *ordered) Get(key string) any { return o.m[key] }

// Set replaces the value under key, appending the key when new.
func (o *ordered) Set(key string, v any) {
	if _, ok := o.m[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.m[key] = v
}

// DecodeOrdered decodes one JSON value with numbers as json.Number and
// objects as *Object, so a schema can be rewritten without losing its order.
func DecodeOrdered(b []byte) (any, error) {
	var v any
	err := decodeJSON(b, &v)
	return v, err
}

// EncodeOrdered writes a value of the kind DecodeOrdered returns as compact
// JSON, object keys in their order.
func EncodeOrdered(b *bytes.Buffer, v any) { writeCanonical(b, v) }
