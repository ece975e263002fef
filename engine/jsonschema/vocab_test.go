package jsonschema

import (
	"strconv"
	"strings"
	"testing"

	"dayi/internal/testref"
	"dayi/weights"
)

// ggufVocab turns a GGUF vocabulary into token bytes the simple SPM way: ▁ is a space, <0xXX> byte tokens are
// their byte, control / unknown / unused tokens have no bytes. Enough to measure and cross-check the Masker on a
// real 32k vocabulary without depending on the tokenizer package.
type ggufVocab struct {
	bytes [][]byte
	eog   int32
}

func (v *ggufVocab) NumTokens() int             { return len(v.bytes) }
func (v *ggufVocab) TokenBytes(id int32) []byte { return v.bytes[id] }
func (v *ggufVocab) IsEOG(id int32) bool        { return id == v.eog }

// loadSPM reads llama.cpp's Llama 2 vocabulary (testdata/vocab at the
// repository root).
func loadSPM(tb testing.TB) *ggufVocab {
	tb.Helper()
	f, err := weights.Open(testref.File(tb, "vocab", "ggml-vocab-llama-spm.gguf"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	toks := f.Strings("tokenizer.ggml.tokens")
	types := f.Int32s("tokenizer.ggml.token_type")
	v := &ggufVocab{bytes: make([][]byte, len(toks)), eog: int32(f.Int("tokenizer.ggml.eos_token_id", 2))}
	for i, s := range toks {
		switch {
		case i < len(types) && types[i] == 6 && strings.HasPrefix(s, "<0x"):
			b, err := strconv.ParseUint(s[3:5], 16, 8)
			if err == nil {
				v.bytes[i] = []byte{byte(b)}
			}
		case i < len(types) && types[i] != 1:
			// control, unknown, unused: never in JSON text
		default:
			v.bytes[i] = []byte(strings.ReplaceAll(s, "▁", " "))
		}
	}
	return v
}

// On the real SPM vocabulary, the mask must equal Allowed for every token in several states.
func TestMaskMatchesAllowedSPM(t *testing.T) {
	v := loadSPM(t)
	m, err := NewMasker(v)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := Compile([]byte(testSchemas["patient"]))
	mask := make([]bool, v.NumTokens())
	for _, prefix := range []string{"", "{", `{"name": "Jo`, `{"name":"x","age":1`, `{"name":"x","age":1,"sex":"`,
		`{"name":"x","age":1,"sex":"male"`} {
		st := g.NewState()
		if err := st.Advance([]byte(prefix)); err != nil {
			t.Fatal(err)
		}
		m.Fill(st, mask)
		n := 0
		for id := range mask {
			want := len(v.bytes[id]) > 0 && st.Allowed(v.bytes[id]) || int32(id) == v.eog && st.Done()
			if mask[id] != want {
				t.Fatalf("after %q token %d %q: mask %v, want %v", prefix, id, v.bytes[id], mask[id], want)
			}
			if mask[id] {
				n++
			}
		}
		t.Logf("after %-32q %5d of %d tokens allowed", prefix, n, len(mask))
	}
}

func BenchmarkMask32k(b *testing.B) {
	v := loadSPM(b)
	m, err := NewMasker(v)
	if err != nil {
		b.Fatal(err)
	}
	mask := make([]bool, v.NumTokens())
	for _, c := range []struct{ name, schema, prefix string }{
		{"object-start", testSchemas["patient"], "{"},
		{"in-string", testSchemas["patient"], `{"name": "Jo`},
		{"in-maxlen-string", testSchemas["codes"], `[{"code":"A`},
		{"after-number", testSchemas["patient"], `{"name":"x","age":12`},
		{"enum", testSchemas["patient"], `{"name":"x","age":1,"sex":"`},
		{"any-start", "", ""},
		{"any-in-array", "", `[1, "a", {"b": [`},
	} {
		g, err := Compile([]byte(c.schema))
		if err != nil {
			b.Fatal(err)
		}
		st := g.NewState()
		if err := st.Advance([]byte(c.prefix)); err != nil {
			b.Fatal(err)
		}
		b.Run("llama-spm/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Fill(st, mask)
			}
		})
	}
}
