package engine

import (
	"testing"

	"dayi/kernels"
	"dayi/weights"
)

// A token embedding that is also the output projection (gemma3) is copied
// privately, repacked where the CPU has Rows16 kernels, and its file pages
// given back; embed must then read the private copy and give exactly the
// file's rows.
func TestEmbedTiedPrivateCopy(t *testing.T) {
	for _, typ := range []weights.Type{weights.TypeQ8_0, weights.TypeQ4_0} {
		f := synthModelTyped(t, "tiny-gemma3", func(_ string, dims []int64) weights.Type {
			if len(dims) == 2 && dims[0]%int64(typ.BlockSize()) == 0 {
				return typ
			}
			return weights.TypeF32
		})
		m, err := Load(f, Options{Backend: "dayi", Buckets: []int{8}})
		if err != nil {
			t.Fatal(err)
		}
		if m.embdPriv == nil {
			t.Fatalf("%s: the tied embedding is not read from the private copy", typ)
		}
		rows, cols := m.embd.Rows()
		if kernels.CanRepack(typ, int(rows), int(cols)) != (m.embdR16 != nil) {
			t.Fatalf("%s: repacked %v, row reader %v", typ, kernels.CanRepack(typ, int(rows), int(cols)), m.embdR16 != nil)
		}
		tr, _ := typ.Traits()
		want, got := make([]float32, cols), make([]float32, cols)
		for _, id := range []int32{0, 1, 15, 16, 17, 1000, int32(rows) - 1} {
			src := f.TensorData(m.embd)[int64(id)*m.embdRow : int64(id+1)*m.embdRow]
			tr.Dequantize(want, src)
			if err := m.embed(id, got); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s id %d: element %d is %g, the file's row says %g", typ, id, i, got[i], want[i])
				}
			}
		}
	}
}
