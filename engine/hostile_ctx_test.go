package engine

import (
	"bytes"
	"strings"
	"testing"

	"dayi/assets"
	"dayi/weights"
)

// withKV rewrites the embedded tiny model with some metadata values
// replaced (or added).
func withKV(t *testing.T, set map[string]any) *weights.File {
	t.Helper()
	src, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := weights.NewWriter(&buf)
	seen := map[string]bool{}
	for _, kv := range src.KV {
		v := kv.Value
		if nv, ok := set[kv.Key]; ok {
			if v, err = weights.ValueOf(nv); err != nil {
				t.Fatal(err)
			}
			seen[kv.Key] = true
		}
		if err := w.AddKV(kv.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, nv := range set {
		if !seen[k] {
			v, err := weights.ValueOf(nv)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddKV(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range src.Tensors {
		if err := w.AddTensor(ti.Name, ti.Type, ti.Dims); err != nil {
			t.Fatal(err)
		}
	}
	for i := range src.Tensors {
		if err := w.WriteTensor(src.Tensors[i].Name, src.TensorData(&src.Tensors[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A hostile context_length (negative, zero, past any memory) is a load
// error naming the key, never a panic or a terabyte allocation: dayi serve
// runs each model at its own context length unless --ctx caps it.
func TestHostileContextLength(t *testing.T) {
	arch := ""
	src, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	arch = src.String("general.architecture", "")
	for _, v := range []any{int64(-5), int32(0), uint64(1) << 40, uint64(1) << 62} {
		f := withKV(t, map[string]any{arch + ".context_length": v})
		m, err := Load(f, Options{})
		if err == nil {
			m.Close()
			t.Errorf("context_length %v: loaded with context %d", v, m.Ctx)
			continue
		}
		if !strings.Contains(err.Error(), "context_length") {
			t.Errorf("context_length %v: %v does not name the key", v, err)
		}
	}
}
