package kernels

import (
	"testing"

	"dayi/weights"
)

// TestScheme checks that ParseScheme inverts Scheme for every type and
// layout, and refuses GoMLX's own schemes, numbers between the two ranges
// and unknown type ids.
func TestScheme(t *testing.T) {
	for _, typ := range []weights.Type{weights.TypeF32, weights.TypeF16, weights.TypeQ4_0, weights.TypeQ8_0, weights.TypeQ4_K, weights.TypeQ6_K, weights.TypeBF16} {
		for _, l := range []Layout{LayoutGGUF, LayoutRows16} {
			s := Scheme(typ, l)
			got, gl, ok := ParseScheme(s)
			if !ok || got != typ || gl != l {
				t.Errorf("ParseScheme(Scheme(%s, %d) = %d) = %s, %d, %v", typ, l, s, got, gl, ok)
			}
		}
	}
	if Scheme(weights.TypeQ4_0, LayoutGGUF) != 1002 || Scheme(weights.TypeQ4_0, LayoutRows16) != 3002 {
		t.Errorf("q4_0 schemes %d, %d: the numbers are GGUFSchemeBase/Rows16SchemeBase + ggml type id (q4_0 = 2)",
			Scheme(weights.TypeQ4_0, LayoutGGUF), Scheme(weights.TypeQ4_0, LayoutRows16))
	}
	for _, s := range []int{0, 1, 999, 1000 + 1000, 3000 + 1000} {
		if typ, _, ok := ParseScheme(s); ok {
			t.Errorf("ParseScheme(%d) = %s, accepted", s, typ)
		}
	}
}
