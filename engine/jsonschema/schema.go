// Package jsonschema constrains generation to JSON that is valid for a schema (Ollama's `format`: "json" or a
// schema; OpenAI's response_format json_object / json_schema), and validates documents against the same subset.
//
// A schema compiles to a byte-level pushdown automaton (Grammar); a State walks it one byte at a time, and a
// Masker turns a State into the set of vocabulary tokens that may come next by walking a trie of the
// vocabulary's byte strings, so shared prefixes are checked once. It never calls the model and never allocates
// per token once its buffers are warm.
//
// Supported: type (object, array, string, number, integer, boolean, null, or a list of them), properties,
// required, additionalProperties (false, true or a schema for objects without properties), enum, const, items,
// minItems, maxItems, minLength, maxLength, anyOf / oneOf whose branches start with different characters
// (e.g. a string or null), $ref into #/$defs or #/definitions, and the "any JSON" grammar (nil schema).
// Annotations (title, description, default, examples, format, $schema, $id) are ignored. minimum / maximum /
// exclusive* are checked by Validate but cannot be enforced while decoding. Anything else (pattern, allOf,
// not, if/then, prefixItems, …) is a compile error rather than a silently weaker grammar.
//
// Choices that keep the output well-formed with weak models (documented limits):
//   - An object with "properties" emits only those properties, in the schema's order; optional ones may be
//     skipped (like llama.cpp's json-schema-to-grammar). Extra keys are never generated.
//   - At most Options.MaxWhitespace (default 2) whitespace bytes in a row, and only where JSON allows them;
//     nothing after the top-level value, so a model cannot loop on spaces or newlines.
//   - Numbers: at most 15 integer digits, 15 fraction digits and 2 exponent digits (so every number fits a float64).
//   - "Any JSON" nests at most 32 levels.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Options tune a compiled grammar.
type Options struct {
	// MaxWhitespace is the most consecutive whitespace bytes allowed between tokens of the JSON text
	// (0 means the default, 2; negative means none at all).
	MaxWhitespace int
}

// Grammar is a compiled schema. It is immutable and safe for concurrent use.
type Grammar struct {
	root  *node
	maxWS int
}

type kind uint8

const (
	kAny kind = iota
	kObject
	kArray
	kString
	kNumber
	kInteger
	kLiteral // enum, const, true, false, null
	kUnion   // alternatives told apart by their first byte
)

type prop struct {
	name     string
	schema   *node
	required bool
}

type node struct {
	kind kind

	// object
	props       []prop
	keys        *trie // encoded keys without the opening quote, e.g. `name"`; terminal = prop index
	nextReq     []int // nextReq[i]: index of the first required prop at or after i (len(props) if none)
	lastReq     int   // index of the last required prop, -1 if none
	additional  *node // closed objects: nil; free-form objects: schema of every value
	freeKeys    bool
	keyStringFn *node

	// array
	items              *node
	minItems, maxItems int // maxItems -1: unbounded

	// string
	minLen, maxLen int // maxLen -1: unbounded

	// literal
	lit *trie

	// union: alternative chosen by the first byte of the value
	first [256]*node
}

const (
	maxIntDigits  = 15
	maxFracDigits = 15
	maxExpDigits  = 2
	maxAnyDepth   = 32
	maxProps      = 64
)

// Compile compiles a JSON schema; nil, empty, `"json"`, `{}` or `true` mean "any JSON value".
func Compile(schema []byte) (*Grammar, error) { return CompileWith(schema, Options{}) }

// CompileWith is Compile with options.
func CompileWith(schema []byte, opt Options) (*Grammar, error) {
	ws := opt.MaxWhitespace
	if ws == 0 {
		ws = 2
	} else if ws < 0 {
		ws = 0
	}
	s := bytes.TrimSpace(schema)
	if len(s) == 0 || string(s) == `"json"` || string(s) == "true" {
		return &Grammar{root: anyNode(), maxWS: ws}, nil
	}
	var doc any
	if err := decodeJSON(s, &doc); err != nil {
		return nil, fmt.Errorf("jsonschema: schema is not JSON: %w", err)
	}
	c := &compiler{rootDoc: doc, refs: map[string]*node{}}
	n, err := c.compile(doc, "#")
	if err != nil {
		return nil, err
	}
	return &Grammar{root: n, maxWS: ws}, nil
}

// ordered is a JSON object that remembers its key order (properties must keep the schema's order).
type ordered struct {
	keys []string
	m    map[string]any
}

// decodeJSON decodes with json.Number and ordered objects.
func decodeJSON(b []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	x, err := decodeValue(d)
	if err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the schema")
	}
	*v = x
	return nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &ordered{m: map[string]any{}}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				if _, dup := o.m[k]; !dup {
					o.keys = append(o.keys, k)
				}
				o.m[k] = v
			}
			_, err := d.Token()
			return o, err
		case '[':
			var a []any
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

// canonical encodes a decoded value compactly (no HTML escaping), as enum/const literals are emitted.
func canonical(v any) []byte {
	var b bytes.Buffer
	writeCanonical(&b, v)
	return b.Bytes()
}

func writeCanonical(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case *ordered:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeCanonical(b, v.m[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, x)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	}
}

func writeString(b *bytes.Buffer, s string) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

type compiler struct {
	rootDoc any
	refs    map[string]*node
}

var ignored = map[string]bool{"title": true, "description": true, "default": true, "examples": true,
	"format": true, "$schema": true, "$id": true, "$comment": true, "$defs": true, "definitions": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"readOnly": true, "writeOnly": true, "deprecated": true}

var handled = map[string]bool{"type": true, "properties": true, "required": true, "additionalProperties": true,
	"enum": true, "const": true, "items": true, "minItems": true, "maxItems": true, "minLength": true,
	"maxLength": true, "anyOf": true, "oneOf": true, "$ref": true}

func (c *compiler) compile(v any, path string) (*node, error) {
	switch v := v.(type) {
	case bool:
		if v {
			return anyNode(), nil
		}
		return nil, fmt.Errorf("jsonschema: %s: schema false accepts nothing", path)
	case *ordered:
		return c.compileObject(v, path)
	}
	return nil, fmt.Errorf("jsonschema: %s: a schema must be an object or a boolean", path)
}

func intField(o *ordered, key, path string, def int) (int, error) {
	v, ok := o.m[key]
	if !ok {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("jsonschema: %s: %s must be a number", path, key)
	}
	i, err := n.Int64()
	if err != nil || i < 0 {
		return 0, fmt.Errorf("jsonschema: %s: %s must be a non-negative integer", path, key)
	}
	return int(i), nil
}

func (c *compiler) compileObject(o *ordered, path string) (*node, error) {
	for _, k := range o.keys {
		if !handled[k] && !ignored[k] {
			return nil, fmt.Errorf("jsonschema: %s: keyword %q is not supported", path, k)
		}
	}
	if ref, ok := o.m["$ref"].(string); ok {
		return c.resolve(ref, path)
	}
	if v, ok := o.m["const"]; ok {
		return literalNode([][]byte{canonical(v)}), nil
	}
	if v, ok := o.m["enum"]; ok {
		vals, ok := v.([]any)
		if !ok || len(vals) == 0 {
			return nil, fmt.Errorf("jsonschema: %s: enum must be a non-empty array", path)
		}
		var lits [][]byte
		for _, x := range vals {
			lits = append(lits, canonical(x))
		}
		return literalNode(lits), nil
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if v, ok := o.m[key]; ok {
			alts, ok := v.([]any)
			if !ok || len(alts) == 0 {
				return nil, fmt.Errorf("jsonschema: %s: %s must be a non-empty array", path, key)
			}
			var nodes []*node
			for i, a := range alts {
				n, err := c.compile(a, fmt.Sprintf("%s/%s/%d", path, key, i))
				if err != nil {
					return nil, err
				}
				nodes = append(nodes, n)
			}
			return unionNode(nodes, path)
		}
	}
	var types []string
	switch t := o.m["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("jsonschema: %s: type list must hold strings", path)
			}
			types = append(types, s)
		}
	case nil:
		if _, ok := o.m["properties"]; ok {
			types = []string{"object"}
		} else if _, ok := o.m["items"]; ok {
			types = []string{"array"}
		} else {
			return anyNode(), nil
		}
	default:
		return nil, fmt.Errorf("jsonschema: %s: type must be a string or a list", path)
	}
	var nodes []*node
	for _, t := range types {
		n, err := c.typed(t, o, path)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return unionNode(nodes, path)
}

func (c *compiler) typed(t string, o *ordered, path string) (*node, error) {
	switch t {
	case "string":
		minL, err := intField(o, "minLength", path, 0)
		if err != nil {
			return nil, err
		}
		maxL, err := intField(o, "maxLength", path, -1)
		if err != nil {
			return nil, err
		}
		if maxL >= 0 && maxL < minL {
			return nil, fmt.Errorf("jsonschema: %s: maxLength < minLength", path)
		}
		return &node{kind: kString, minLen: minL, maxLen: maxL}, nil
	case "number":
		return &node{kind: kNumber}, nil
	case "integer":
		return &node{kind: kInteger}, nil
	case "boolean":
		return literalNode([][]byte{[]byte("true"), []byte("false")}), nil
	case "null":
		return literalNode([][]byte{[]byte("null")}), nil
	case "array":
		n := &node{kind: kArray, maxItems: -1}
		var err error
		if n.minItems, err = intField(o, "minItems", path, 0); err != nil {
			return nil, err
		}
		if n.maxItems, err = intField(o, "maxItems", path, -1); err != nil {
			return nil, err
		}
		if n.maxItems >= 0 && n.maxItems < n.minItems {
			return nil, fmt.Errorf("jsonschema: %s: maxItems < minItems", path)
		}
		if it, ok := o.m["items"]; ok {
			if n.items, err = c.compile(it, path+"/items"); err != nil {
				return nil, err
			}
		} else {
			n.items = anyNode()
		}
		return n, nil
	case "object":
		return c.object(o, path)
	}
	return nil, fmt.Errorf("jsonschema: %s: unknown type %q", path, t)
}

func (c *compiler) object(o *ordered, path string) (*node, error) {
	props, _ := o.m["properties"].(*ordered)
	if props == nil || len(props.keys) == 0 {
		n := &node{kind: kObject, freeKeys: true, additional: anyNode()}
		switch a := o.m["additionalProperties"].(type) {
		case bool:
			if !a {
				// no properties and no extra keys: only {}
				n.freeKeys = false
				n.additional = nil
				n.keys = newTrie()
				n.lastReq = -1
			}
		case *ordered:
			sub, err := c.compile(a, path+"/additionalProperties")
			if err != nil {
				return nil, err
			}
			n.additional = sub
		}
		n.keyStringFn = &node{kind: kString, maxLen: -1}
		return n, nil
	}
	if len(props.keys) > maxProps {
		return nil, fmt.Errorf("jsonschema: %s: %d properties (at most %d)", path, len(props.keys), maxProps)
	}
	req := map[string]bool{}
	if r, ok := o.m["required"].([]any); ok {
		for _, x := range r {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("jsonschema: %s: required must hold strings", path)
			}
			if _, ok := props.m[s]; !ok {
				return nil, fmt.Errorf("jsonschema: %s: required property %q is not in properties", path, s)
			}
			req[s] = true
		}
	}
	n := &node{kind: kObject, keys: newTrie(), lastReq: -1}
	for i, k := range props.keys {
		sub, err := c.compile(props.m[k], path+"/properties/"+k)
		if err != nil {
			return nil, err
		}
		n.props = append(n.props, prop{name: k, schema: sub, required: req[k]})
		var b bytes.Buffer
		writeString(&b, k)
		n.keys.insert(b.Bytes()[1:], i) // the opening quote is consumed before the key trie starts
		if req[k] {
			n.lastReq = i
		}
	}
	n.nextReq = make([]int, len(n.props)+1)
	n.nextReq[len(n.props)] = len(n.props)
	for i := len(n.props) - 1; i >= 0; i-- {
		n.nextReq[i] = n.nextReq[i+1]
		if n.props[i].required {
			n.nextReq[i] = i
		}
	}
	n.keys.finish()
	return n, nil
}

func (c *compiler) resolve(ref, path string) (*node, error) {
	if n, ok := c.refs[ref]; ok {
		return n, nil
	}
	if !strings.HasPrefix(ref, "#/") && ref != "#" {
		return nil, fmt.Errorf("jsonschema: %s: only local $ref (#/...) is supported, got %q", path, ref)
	}
	target := c.rootDoc
	if ref != "#" {
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			o, ok := target.(*ordered)
			if !ok {
				return nil, fmt.Errorf("jsonschema: %s: $ref %q does not resolve", path, ref)
			}
			if target, ok = o.m[part]; !ok {
				return nil, fmt.Errorf("jsonschema: %s: $ref %q does not resolve", path, ref)
			}
		}
	}
	// Placeholder first so recursive references point at the node being built.
	n := &node{}
	c.refs[ref] = n
	built, err := c.compile(target, ref)
	if err != nil {
		return nil, err
	}
	*n = *built
	return n, nil
}

func anyNode() *node { return &node{kind: kAny} }

func literalNode(lits [][]byte) *node {
	t := newTrie()
	for i, l := range lits {
		t.insert(l, i)
	}
	t.finish()
	return &node{kind: kLiteral, lit: t}
}

// firstBytes is the set of bytes a value of n may start with.
func firstBytes(n *node) []byte {
	switch n.kind {
	case kAny:
		return []byte(`{["-0123456789tfn`)
	case kObject:
		return []byte{'{'}
	case kArray:
		return []byte{'['}
	case kString:
		return []byte{'"'}
	case kNumber, kInteger:
		return []byte("-0123456789")
	case kLiteral:
		var out []byte
		for _, e := range n.lit.nodes[0].edges {
			out = append(out, e.b)
		}
		return out
	case kUnion:
		var out []byte
		for b := range 256 {
			if n.first[b] != nil {
				out = append(out, byte(b))
			}
		}
		return out
	}
	return nil
}

func unionNode(alts []*node, path string) (*node, error) {
	u := &node{kind: kUnion}
	for _, a := range alts {
		for _, b := range firstBytes(a) {
			if u.first[b] != nil && u.first[b] != a {
				return nil, fmt.Errorf("jsonschema: %s: anyOf/oneOf/type branches that can both start with %q are not supported",
					path, string(rune(b)))
			}
			u.first[b] = a
		}
	}
	return u, nil
}

// trie is a small byte trie for literals and object keys. A node's terminal is the literal/property index
// ending there (-1 if none); mask has bit i set when literal/property i ends at or below the node.
type trie struct{ nodes []trieNode }

type trieNode struct {
	edges    []edge
	terminal int
	mask     uint64
}

type edge struct {
	b  byte
	to int32
}

func newTrie() *trie { return &trie{nodes: []trieNode{{terminal: -1}}} }

func (t *trie) insert(s []byte, idx int) {
	cur := 0
	t.nodes[0].mask |= bit(idx)
	for _, b := range s {
		next := -1
		for _, e := range t.nodes[cur].edges {
			if e.b == b {
				next = int(e.to)
				break
			}
		}
		if next < 0 {
			next = len(t.nodes)
			t.nodes = append(t.nodes, trieNode{terminal: -1})
			t.nodes[cur].edges = append(t.nodes[cur].edges, edge{b, int32(next)})
		}
		cur = next
		t.nodes[cur].mask |= bit(idx)
	}
	if t.nodes[cur].terminal < 0 {
		t.nodes[cur].terminal = idx
	}
}

func bit(i int) uint64 {
	if i >= 64 {
		return 1 << 63 // literals beyond 64 share the top bit; only object keys (≤ 64) rely on exact masks
	}
	return 1 << uint(i)
}

func (t *trie) finish() {
	for i := range t.nodes {
		slices.SortFunc(t.nodes[i].edges, func(a, b edge) int { return int(a.b) - int(b.b) })
	}
}

func (t *trie) child(n int32, b byte) int32 {
	for _, e := range t.nodes[n].edges {
		if e.b == b {
			return e.to
		}
	}
	return -1
}
