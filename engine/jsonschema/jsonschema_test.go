package jsonschema

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// toyVocab is a small vocabulary with single bytes, JSON-ish pieces, multi-byte UTF-8 (whole and split),
// escapes and one EOG token, so random walks exercise every path of the automaton.
type toyVocab struct{ toks [][]byte }

func (v *toyVocab) NumTokens() int      { return len(v.toks) + 1 }
func (v *toyVocab) IsEOG(id int32) bool { return int(id) == len(v.toks) }
func (v *toyVocab) TokenBytes(id int32) []byte {
	if int(id) >= len(v.toks) {
		return nil
	}
	return v.toks[id]
}

func newToyVocab() *toyVocab {
	v := &toyVocab{}
	for c := 0x20; c < 0x7f; c++ {
		v.toks = append(v.toks, []byte{byte(c)})
	}
	for _, s := range []string{"\n", "\t", "  ", " \n", "{\"", "\":", "\": ", "\", \"", "\",\"", "\"}", "\"]", "},",
		"true", "false", "null", "tr", "ue", "nu", "12", "0.5", "1e", "e+", "-3", "00", "[\"", "[{", "}]", "]}",
		"name", "age", "sex", "male", "female", "other", "\"name\":", "\"age\": ", "\"sex\":\"", "code", "severity",
		"hr", "bp", "vitals", "allergies", "pregnant", "temperature", "diagnoses", "confidence", "note", "urgent",
		"é", "头痛", "\xe5", "\xa4\xb4", "\xe7\x97", "\x9b", "🩺", "\\\"", "\\n", "\\u00e9", "\\u", "\\", "\x01",
		"\xff", "\xc0\x80", "ab", "\"a\"", "{\"x\":[1,2]}", "penicillin", "\"A\"", " \"", ", ", ": "} {
		v.toks = append(v.toks, []byte(s))
	}
	return v
}

var testSchemas = map[string]string{
	"any": ``,
	"patient": `{"type":"object","properties":{
		"name":{"type":"string","maxLength":20},
		"age":{"type":"integer"},
		"sex":{"enum":["male","female","other"]},
		"temperature":{"type":"number"},
		"allergies":{"type":"array","items":{"type":"string"},"maxItems":3},
		"pregnant":{"type":["boolean","null"]},
		"vitals":{"type":"object","properties":{"hr":{"type":"integer"},"bp":{"type":"string"}},"required":["hr"]}},
		"required":["name","age","sex"],"additionalProperties":false}`,
	"codes": `{"type":"array","items":{"type":"object","properties":{
		"code":{"type":"string","minLength":1,"maxLength":8},
		"severity":{"enum":[1,2,3,12]}},"required":["code","severity"]},"minItems":1,"maxItems":2}`,
	"refs": `{"$defs":{"dx":{"type":"object","properties":{"name":{"type":"string"},"confidence":{"type":"number"}},"required":["name"]}},
		"type":"object","properties":{"diagnoses":{"type":"array","items":{"$ref":"#/$defs/dx"}},
		"note":{"anyOf":[{"type":"string"},{"type":"null"}]},"urgent":{"const":true}},"required":["diagnoses","urgent"]}`,
	"map":  `{"type":"object","additionalProperties":{"type":"integer"}}`,
	"enum": `{"enum":["a", 1, null, {"x":[1,2]}, "ab", 12.5]}`,
	"nested": `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"array","items":
		{"type":"object","properties":{"c":{"type":"boolean"}},"required":["c"]},"maxItems":2}},"required":["b"]}},"required":["a"]}`,
}

// structural reports whether a token carries JSON structure; random walks prefer these so documents end.
func structural(b []byte) bool { return strings.ContainsAny(string(b), "\"]},:0123456789tfn") }

func TestRandomWalksProduceValidJSON(t *testing.T) {
	v := newToyVocab()
	m, err := NewMasker(v)
	if err != nil {
		t.Fatal(err)
	}
	eog := int32(len(v.toks))
	for name, schema := range testSchemas {
		g, err := Compile([]byte(schema))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mask := make([]bool, v.NumTokens())
		for seed := uint64(0); seed < 250; seed++ {
			r := rand.New(rand.NewPCG(seed, 99))
			st := g.NewState()
			var out []byte
			for step := 0; ; step++ {
				if step > 3000 {
					t.Fatalf("%s seed %d: no end after 3000 tokens: %q", name, seed, out)
				}
				if err := m.Fill(st, mask); err != nil {
					t.Fatal(err)
				}
				var allowed, structured []int32
				for id, ok := range mask {
					if !ok {
						continue
					}
					if int32(id) != eog {
						allowed = append(allowed, int32(id))
						if structural(v.toks[id]) {
							structured = append(structured, int32(id))
						}
					}
					// the mask and Allowed must agree token by token
					if int32(id) != eog && !st.Allowed(v.toks[id]) {
						t.Fatalf("%s seed %d: mask allows %q but Allowed does not, after %q", name, seed, v.toks[id], out)
					}
				}
				if mask[eog] != st.Done() {
					t.Fatalf("%s seed %d: EOG %v but Done %v after %q", name, seed, mask[eog], st.Done(), out)
				}
				if st.Done() && (len(allowed) == 0 || r.IntN(3) == 0) {
					break
				}
				if len(allowed) == 0 {
					t.Fatalf("%s seed %d: dead end after %q", name, seed, out)
				}
				pick := allowed
				if len(structured) > 0 && r.IntN(2) == 0 {
					pick = structured
				}
				id := pick[r.IntN(len(pick))]
				if err := st.Advance(v.toks[id]); err != nil {
					t.Fatalf("%s seed %d: %v", name, seed, err)
				}
				out = append(out, v.toks[id]...)
			}
			if seed < 2 {
				t.Logf("%s seed %d: %s", name, seed, out)
			}
			var x any
			if err := json.Unmarshal(out, &x); err != nil {
				t.Fatalf("%s seed %d: output %q is not JSON: %v", name, seed, out, err)
			}
			if err := Validate([]byte(schema), out); err != nil {
				t.Fatalf("%s seed %d: output %q fails the schema: %v", name, seed, out, err)
			}
		}
	}
}

// The mask must also exclude what Allowed rejects (checked over every toy token in a few states).
func TestMaskExcludesRejected(t *testing.T) {
	v := newToyVocab()
	m, _ := NewMasker(v)
	g, _ := Compile([]byte(testSchemas["patient"]))
	mask := make([]bool, v.NumTokens())
	for _, prefix := range []string{"", "{", `{"name": "Jo`, `{"name":"x","age":1`, `{"name":"x","age":1,"sex":"fe`,
		`{"name":"x","age":1,"sex":"male","allergies":[`, `{"name":"\u00`, "{\"name\":\"\xe5"} {
		st := g.NewState()
		if err := st.Advance([]byte(prefix)); err != nil {
			t.Fatalf("%q: %v", prefix, err)
		}
		m.Fill(st, mask)
		for id, tok := range v.toks {
			if mask[id] != st.Allowed(tok) {
				t.Fatalf("after %q token %q: mask %v, Allowed %v", prefix, tok, mask[id], !mask[id])
			}
		}
	}
}

func feed(g *Grammar, doc string) (*State, int) {
	st := g.NewState()
	for i := 0; i < len(doc); i++ {
		if st.Advance([]byte{doc[i]}) != nil {
			return st, i
		}
	}
	return st, -1
}

func TestKnownDocuments(t *testing.T) {
	g, err := Compile([]byte(testSchemas["patient"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{
		`{"name": "Ann", "age": 34, "sex": "female", "allergies": ["penicillin"], "vitals": {"hr": 72}}`,
		`{"name":"\u00e9\"x","age":-0,"sex":"other","temperature":-1.5e+3,"pregnant":null}`,
		"{\n \"name\":\"头痛 🩺\",\"age\":120,\"sex\":\"male\",\"pregnant\":false}",
		`{"name":"","age":0,"sex":"male","allergies":[]}`,
	} {
		st, bad := feed(g, doc)
		if bad >= 0 {
			t.Errorf("%q rejected at byte %d (%q)", doc, bad, doc[:bad+1])
		} else if !st.Done() {
			t.Errorf("%q accepted but not Done", doc)
		}
		if err := Validate([]byte(testSchemas["patient"]), []byte(doc)); err != nil {
			t.Errorf("Validate(%q): %v", doc, err)
		}
	}
	for _, c := range []struct {
		doc string
		at  int // index of the first rejected byte
	}{
		{`{"age"`, 2},                                // name is required and comes first
		{`{"name": 5`, 9},                            // wrong type
		{`{"name":"x","age":1.5`, 19},                // integer
		{`{"name":"x","age":01`, 19},                 // leading zero
		{`{"name":"x","age":1,"sex":"unknown"`, 27},  // not in enum
		{`{"name":"x","age":1,"sex":"male","x"`, 34}, // closed object
		{`{"name":"x","age":1,"sex":"male"} `, 33},   // nothing after the value
		{`   {`, 2},                             // at most 2 whitespace bytes
		{`{"name":"x",  ` + "\n", 14},           // idem inside
		{`{"name":"123456789012345678901"`, 29}, // maxLength 20
		{"{\"name\":\"a\x01", 10},               // control byte in a string
		{"{\"name\":\"\xff", 9},                 // invalid UTF-8
		{"{\"name\":\"\xc0\x80", 9},             // overlong encoding
		{"{\"name\":\"\xed\xa0\x80", 10},        // UTF-16 surrogate in UTF-8
		{`{"name":"\x`, 10},                     // bad escape
		{`{"name":"x","age":1,"sex":"male","pregnant":tru}`, 47},
		{`{"name":"x","age":1}`, 19}, // required sex missing
	} {
		_, bad := feed(g, c.doc)
		if bad != c.at {
			t.Errorf("%q: rejected at %d, want %d", c.doc, bad, c.at)
		}
	}
	// not Done while incomplete; Done for a bare top-level number
	if st, _ := feed(g, `{"name":"x","age":1,"sex":"male"`); st.Done() {
		t.Error("incomplete object reported Done")
	}
	ga, _ := Compile(nil)
	if st, bad := feed(ga, `-12.5e3`); bad >= 0 || !st.Done() {
		t.Errorf("top-level number: bad %d done %v", bad, st.Done())
	}
	if st, bad := feed(ga, `-`); bad >= 0 || st.Done() {
		t.Errorf("lone minus: bad %d done %v", bad, st.Done())
	}
	ge, _ := Compile([]byte(testSchemas["enum"]))
	for _, d := range []string{`1`, `12.5`, `"ab"`, `{"x":[1,2]}`, `null`} {
		if st, bad := feed(ge, d); bad >= 0 || !st.Done() {
			t.Errorf("enum %s: bad %d done %v", d, bad, st.Done())
		}
	}
	if _, bad := feed(ge, `2`); bad != 0 {
		t.Errorf("enum 2 accepted")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, s := range []string{
		`{"type":"string","pattern":"^a"}`,
		`{"anyOf":[{"type":"object"},{"type":"object","properties":{"a":{}}}]}`,
		`{"$ref":"http://example.com/x"}`,
		`{"$ref":"#/$defs/missing"}`,
		`{"type":"string","maxLength":1,"minLength":2}`,
		`{"type":"object","properties":{"a":{}},"required":["b"]}`,
		`{"type":"frog"}`,
		`{"enum":[]}`,
		`{`,
		`false`,
	} {
		if _, err := Compile([]byte(s)); err == nil {
			t.Errorf("Compile(%s) succeeded", s)
		}
	}
	for _, s := range []string{``, `"json"`, `{}`, `true`, `{"type":"object"}`, `{"description":"x","type":"integer"}`} {
		if _, err := Compile([]byte(s)); err != nil {
			t.Errorf("Compile(%s): %v", s, err)
		}
	}
}

func TestValidate(t *testing.T) {
	s := []byte(`{"type":"object","properties":{"age":{"type":"integer","minimum":0,"maximum":130},
		"tags":{"type":"array","items":{"type":"string","maxLength":3},"maxItems":2}},"required":["age"],
		"additionalProperties":false}`)
	for doc, ok := range map[string]bool{
		`{"age":3}`:                      true,
		`{"tags":["ab"],"age":3.0}`:      true,
		`{"age":131}`:                    false,
		`{"age":-1}`:                     false,
		`{"age":1.5}`:                    false,
		`{}`:                             false,
		`{"age":1,"x":1}`:                false,
		`{"age":1,"tags":["abcd"]}`:      false,
		`{"age":1,"tags":["a","b","c"]}`: false,
		`{"age":1`:                       false,
	} {
		if err := Validate(s, []byte(doc)); (err == nil) != ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", doc, err, ok)
		}
	}
}

func TestWhitespaceOption(t *testing.T) {
	g, _ := CompileWith(nil, Options{MaxWhitespace: -1})
	if _, bad := feed(g, `[1, 2]`); bad != 3 {
		t.Errorf("no-whitespace grammar accepted a space (bad=%d)", bad)
	}
	g, _ = CompileWith(nil, Options{MaxWhitespace: 4})
	if _, bad := feed(g, "[1,\n   2]"); bad != -1 {
		t.Errorf("4-whitespace grammar rejected at %d", bad)
	}
}

func TestMaskNoAlloc(t *testing.T) {
	v := newToyVocab()
	m, _ := NewMasker(v)
	g, _ := Compile([]byte(testSchemas["patient"]))
	st := g.NewState()
	st.Advance([]byte(`{"name":"Jo`))
	mask := make([]bool, v.NumTokens())
	m.Fill(st, mask)
	if a := testing.AllocsPerRun(20, func() { m.Fill(st, mask) }); a != 0 {
		t.Errorf("%v allocations per Fill", a)
	}
}
