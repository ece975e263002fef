package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Validate checks a JSON document against a schema of the subset Compile accepts, with JSON Schema's meaning
// (unlike the grammar, it accepts properties in any order and, unless additionalProperties is false, extra
// properties). It also checks minimum / maximum / exclusiveMinimum / exclusiveMaximum, which decoding cannot
// enforce. It is meant for checking model output before it is stored (e.g. the clinic's EMR records). A nil
// schema accepts any JSON document.
func Validate(schema, doc []byte) error {
	var d any
	if err := decodeJSON(bytes.TrimSpace(doc), &d); err != nil {
		return fmt.Errorf("jsonschema: document is not JSON: %w", err)
	}
	if !utf8.Valid(doc) {
		return fmt.Errorf("jsonschema: document is not valid UTF-8")
	}
	s := bytes.TrimSpace(schema)
	if len(s) == 0 || string(s) == `"json"` || string(s) == "true" {
		return nil
	}
	var sc any
	if err := decodeJSON(s, &sc); err != nil {
		return fmt.Errorf("jsonschema: schema is not JSON: %w", err)
	}
	v := validator{root: sc}
	return v.check(sc, d, "$", 0)
}

type validator struct{ root any }

func typeOf(x any) string {
	switch x := x.(type) {
	case *ordered:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		if isInteger(x) {
			return "integer"
		}
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "unknown"
}

func isInteger(n json.Number) bool {
	r, ok := new(big.Rat).SetString(n.String())
	return ok && r.IsInt()
}

func typeMatches(want, got string) bool {
	return want == got || want == "number" && got == "integer"
}

func (v *validator) check(schema, doc any, at string, depth int) error {
	if depth > 200 {
		return fmt.Errorf("jsonschema: %s: schema recursion too deep", at)
	}
	switch s := schema.(type) {
	case bool:
		if !s {
			return fmt.Errorf("jsonschema: %s: schema false", at)
		}
		return nil
	case *ordered:
		return v.checkObject(s, doc, at, depth)
	}
	return fmt.Errorf("jsonschema: %s: invalid schema", at)
}

func (v *validator) checkObject(s *ordered, doc any, at string, depth int) error {
	if ref, ok := s.m["$ref"].(string); ok {
		target := v.root
		if ref != "#" {
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				o, ok := target.(*ordered)
				if !ok {
					return fmt.Errorf("jsonschema: %s: $ref %q does not resolve", at, ref)
				}
				target = o.m[part]
			}
		}
		return v.check(target, doc, at, depth+1)
	}
	if c, ok := s.m["const"]; ok && !bytes.Equal(canonicalSorted(c), canonicalSorted(doc)) {
		return fmt.Errorf("jsonschema: %s: value is not the const %s", at, canonical(c))
	}
	if e, ok := s.m["enum"].([]any); ok {
		found := false
		for _, x := range e {
			if bytes.Equal(canonicalSorted(x), canonicalSorted(doc)) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("jsonschema: %s: %s is not one of the enum values", at, canonical(doc))
		}
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := s.m[key].([]any); ok {
			var first error
			matched := 0
			for _, a := range alts {
				if err := v.check(a, doc, at, depth+1); err == nil {
					matched++
				} else if first == nil {
					first = err
				}
			}
			if matched == 0 {
				return fmt.Errorf("jsonschema: %s: matches no %s branch (first: %v)", at, key, first)
			}
			if key == "oneOf" && matched > 1 {
				return fmt.Errorf("jsonschema: %s: matches %d oneOf branches", at, matched)
			}
		}
	}
	got := typeOf(doc)
	if t, ok := s.m["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				if xs, ok := x.(string); ok {
					types = append(types, xs)
				}
			}
		}
		ok := false
		for _, w := range types {
			ok = ok || typeMatches(w, got)
		}
		if !ok {
			return fmt.Errorf("jsonschema: %s: %s, want %s", at, got, strings.Join(types, " or "))
		}
	}
	switch d := doc.(type) {
	case string:
		n := utf8.RuneCountInString(d)
		if m, err := intField(s, "minLength", at, 0); err != nil || n < m {
			return fmt.Errorf("jsonschema: %s: string of %d characters, minLength %d", at, n, m)
		}
		if m, err := intField(s, "maxLength", at, -1); err != nil || m >= 0 && n > m {
			return fmt.Errorf("jsonschema: %s: string of %d characters, maxLength %d", at, n, m)
		}
	case json.Number:
		x, _ := new(big.Rat).SetString(d.String())
		for key, cmpOK := range map[string]func(int) bool{
			"minimum": func(c int) bool { return c >= 0 }, "maximum": func(c int) bool { return c <= 0 },
			"exclusiveMinimum": func(c int) bool { return c > 0 }, "exclusiveMaximum": func(c int) bool { return c < 0 },
		} {
			if lim, ok := s.m[key].(json.Number); ok {
				l, _ := new(big.Rat).SetString(lim.String())
				if x != nil && l != nil && !cmpOK(x.Cmp(l)) {
					return fmt.Errorf("jsonschema: %s: %s violates %s %s", at, d, key, lim)
				}
			}
		}
	case []any:
		if m, _ := intField(s, "minItems", at, 0); len(d) < m {
			return fmt.Errorf("jsonschema: %s: %d items, minItems %d", at, len(d), m)
		}
		if m, _ := intField(s, "maxItems", at, -1); m >= 0 && len(d) > m {
			return fmt.Errorf("jsonschema: %s: %d items, maxItems %d", at, len(d), m)
		}
		if it, ok := s.m["items"]; ok {
			for i, x := range d {
				if err := v.check(it, x, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil {
					return err
				}
			}
		}
	case *ordered:
		props, _ := s.m["properties"].(*ordered)
		if req, ok := s.m["required"].([]any); ok {
			for _, r := range req {
				if name, _ := r.(string); name != "" {
					if _, ok := d.m[name]; !ok {
						return fmt.Errorf("jsonschema: %s: required property %q missing", at, name)
					}
				}
			}
		}
		for _, k := range d.keys {
			if props != nil {
				if ps, ok := props.m[k]; ok {
					if err := v.check(ps, d.m[k], at+"."+k, depth+1); err != nil {
						return err
					}
					continue
				}
			}
			switch a := s.m["additionalProperties"].(type) {
			case bool:
				if !a {
					return fmt.Errorf("jsonschema: %s: property %q not allowed", at, k)
				}
			case *ordered:
				if err := v.check(a, d.m[k], at+"."+k, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// canonicalSorted encodes a value with object keys sorted, so enum/const comparison ignores key order, and
// numbers compared by value (1.0 == 1).
func canonicalSorted(x any) []byte {
	b, _ := json.Marshal(normalize(x))
	return b
}

func normalize(x any) any {
	switch x := x.(type) {
	case *ordered:
		m := map[string]any{}
		for k, v := range x.m {
			m[k] = normalize(v)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = normalize(v)
		}
		return out
	case json.Number:
		if r, ok := new(big.Rat).SetString(x.String()); ok {
			return "\x00number:" + r.RatString() // never equal to a JSON string in practice
		}
	}
	return x
}
