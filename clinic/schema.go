package clinic

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"dayi/engine/jsonschema"
)

// The JSON schemas of the clinic's documents. They are the contract with the hospital's systems: the EMR
// schema drives constrained decoding and every document is validated against its schema before it is returned.
//
//go:embed schemas/*.schema.json
var schemaFS embed.FS

// Schema returns a shipped schema by name: "emr_soap", "intake", "triage" or "followup".
func Schema(name string) ([]byte, error) {
	b, err := schemaFS.ReadFile("schemas/" + name + ".schema.json")
	if err != nil {
		return nil, fmt.Errorf("schema %q: %w", name, err)
	}
	return b, nil
}

func intOf(o *jsonschema.Object, key string, def int) int {
	n, ok := o.Get(key).(json.Number)
	if !ok {
		return def
	}
	i, err := strconv.Atoi(n.String())
	if err != nil {
		return def
	}
	return i
}

// Worst-case sizes used by maxBytes, from engine/jsonschema's grammar: at most maxWS whitespace bytes in
// each gap between JSON tokens, numbers of at most 15+15+2 digits, and a string character written as a
// \uXXXX escape (6 bytes) at worst. Every generated token carries at least one byte (the masker never allows
// empty tokens), so a byte bound is a token bound.
const (
	maxWS        = 2
	maxNumber    = 1 + 15 + 1 + 15 + 2 + 2
	escapedChar  = 6
	typicalChars = 1 // what attempt one assumes: about one token per character
)

// maxBytes bounds the length of any document the grammar can produce for schema node v, when string
// characters cost perChar bytes each. Nodes without a bound (a string without maxLength, an array without
// maxItems, free-form objects) return an error: the clinic's schemas must be bounded.
func maxBytes(v any, perChar int, path string) (int, error) {
	o, ok := v.(*jsonschema.Object)
	if !ok {
		return 0, fmt.Errorf("%s: schema is not an object", path)
	}
	if e, ok := o.Get("enum").([]any); ok {
		longest := 0
		for _, x := range e {
			var b bytes.Buffer
			jsonschema.EncodeOrdered(&b, x)
			longest = max(longest, b.Len())
		}
		return longest, nil
	}
	switch t, _ := o.Get("type").(string); t {
	case "string":
		n := intOf(o, "maxLength", -1)
		if n < 0 {
			return 0, fmt.Errorf("%s: string without maxLength", path)
		}
		return 2 + n*perChar, nil
	case "integer", "number":
		return maxNumber, nil
	case "boolean":
		return 5, nil
	case "null":
		return 4, nil
	case "array":
		n := intOf(o, "maxItems", -1)
		if n < 0 {
			return 0, fmt.Errorf("%s: array without maxItems", path)
		}
		item, err := maxBytes(o.Get("items"), perChar, path+".items")
		if err != nil {
			return 0, err
		}
		return 2 + maxWS + n*(item+1+2*maxWS), nil
	case "object":
		props, ok := o.Get("properties").(*jsonschema.Object)
		if !ok {
			return 0, fmt.Errorf("%s: object without properties", path)
		}
		total := 2 + maxWS
		for _, k := range props.Keys() {
			kb, _ := json.Marshal(k)
			vb, err := maxBytes(props.Get(k), perChar, path+"."+k)
			if err != nil {
				return 0, err
			}
			total += len(kb) + 2 + 4*maxWS + vb // key, colon and comma, four gaps, value
		}
		return total, nil
	}
	return 0, fmt.Errorf("%s: unsupported schema for a bound", path)
}

// scaleSchema multiplies every maxLength and maxItems by f (keeping them at least minLength/minItems and at
// least 1 for maxLength), in place.
func scaleSchema(v any, f float64) {
	switch v := v.(type) {
	case *jsonschema.Object:
		for _, pair := range [][2]string{{"maxLength", "minLength"}, {"maxItems", "minItems"}} {
			n := intOf(v, pair[0], -1)
			if n < 0 {
				continue
			}
			lo := intOf(v, pair[1], 0)
			if pair[0] == "maxLength" {
				lo = max(lo, 1)
			}
			s := max(int(math.Floor(float64(n)*f)), lo)
			v.Set(pair[0], json.Number(strconv.Itoa(min(s, n))))
		}
		for _, k := range v.Keys() {
			scaleSchema(v.Get(k), f)
		}
	case []any:
		for _, x := range v {
			scaleSchema(x, f)
		}
	}
}

// fitSchema returns schema with its string and array limits scaled down (never up) so that any document it
// allows, with string characters costing perChar bytes, fits in budget bytes (= tokens). It returns an error
// when even the smallest limits do not fit.
func fitSchema(schema []byte, budget, perChar int) ([]byte, error) {
	root, err := jsonschema.DecodeOrdered(schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	budget -= maxWS // white space before the document
	full, err := maxBytes(root, perChar, "$")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if full <= budget {
		jsonschema.EncodeOrdered(&b, root)
		return b.Bytes(), nil
	}
	// Binary search on the scale factor: maxBytes grows with it.
	fits := func(f float64) (any, bool) {
		r, _ := jsonschema.DecodeOrdered(schema)
		scaleSchema(r, f)
		n, err := maxBytes(r, perChar, "$")
		return r, err == nil && n <= budget
	}
	best, ok := fits(0)
	if !ok {
		return nil, fmt.Errorf("schema needs more than %d tokens even at its smallest limits", budget)
	}
	lo, hi := 0.0, 1.0
	for range 30 {
		mid := (lo + hi) / 2
		if r, ok := fits(mid); ok {
			best, lo = r, mid
		} else {
			hi = mid
		}
	}
	jsonschema.EncodeOrdered(&b, best)
	return b.Bytes(), nil
}
