package weights

import "testing"

// TestQuantizeModelTensors re-quantizes the F32 tensors of stories260K with
// our codecs and compares them with the tensors llama.cpp's llama-quantize
// wrote into its Q8_0 / Q4_0 / Q4_K_M files (real weights: Q8_0, Q4_0, Q5_0,
// F16), byte for byte. See testdata/models/README.md at the repository root.
func TestQuantizeModelTensors(t *testing.T) {
	src, err := Open(testModel(t, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	seen := map[Type]int{}
	for _, name := range []string{"stories260K-q8_0.gguf", "stories260K-q4_0.gguf", "stories260K-q4_k_m.gguf"} {
		q, err := Open(testModel(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for i := range q.Tensors {
			qt := &q.Tensors[i]
			if qt.Type == TypeF32 {
				continue
			}
			st, ok := src.Tensor(qt.Name)
			if !ok || st.Type != TypeF32 {
				t.Fatalf("%s: tensor %s has no F32 original", name, qt.Name)
			}
			x := f32sFromBytes(src.TensorData(st))
			want := q.TensorData(qt)
			got := make([]byte, len(want))
			if err := QuantizeRow(qt.Type, got, x); err != nil {
				t.Fatalf("%s %s: %v", name, qt.Name, err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s %s (%s): first differing byte %d: got %#02x, llama.cpp %#02x", name, qt.Name, qt.Type, i, got[i], want[i])
			}
			seen[qt.Type]++
		}
		q.Close()
	}
	for _, typ := range []Type{TypeQ8_0, TypeQ4_0, TypeQ5_0, TypeF16} {
		if seen[typ] == 0 {
			t.Errorf("no %s tensor was checked", typ)
		}
	}
	t.Logf("tensors checked per type: %v", seen)
}
