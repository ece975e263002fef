package backend

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestKeyRanges checks that masks of the causal / sliding-window form map to
// kernels.Attention parameters (so a decode step at position 10 of a 4096
// cache touches 11 keys) and that other masks fall back to the exact loop.
func TestKeyRanges(t *testing.T) {
	const S = 4096
	mk := func(T int, attend func(t, s int) bool) *Buffer {
		b := newBuffer(shapes.Make(dtypes.Bool, T, S))
		m := b.flat.([]bool)
		for i := 0; i < T; i++ {
			for s := 0; s < S; s++ {
				m[i*S+s] = attend(i, s)
			}
		}
		return b
	}
	cases := []struct {
		name                string
		T                   int
		attend              func(t, s int) bool
		ok                  bool
		pos0, kvLen, window int
		lo0, hi0            int32
	}{
		{"decode@10", 1, func(t, s int) bool { return s <= 10 }, true, 10, 11, 0, 0, 11},
		{"prefill@5", 4, func(t, s int) bool { return s <= 5+t }, true, 5, 9, 0, 0, 6},
		{"window8@100", 2, func(t, s int) bool { return s <= 100+t && s > 100+t-8 }, true, 100, 102, 8, 93, 101},
		{"holes", 1, func(t, s int) bool { return s%2 == 0 && s < 20 }, false, 0, 0, 0, 0, 19},
	}
	for _, c := range cases {
		n := &node{id: 0}
		d := &sdpaData{T: c.T, S: S, mask: 1, maskBool: true}
		st := &state{memo: make([]any, 2), run: 1}
		kr := st.ranges(n, d, mk(c.T, c.attend))
		if kr.ok != c.ok || kr.lo[0] != c.lo0 || kr.hi[0] != c.hi0 {
			t.Errorf("%s: ok=%v lo0=%d hi0=%d, want ok=%v lo0=%d hi0=%d", c.name, kr.ok, kr.lo[0], kr.hi[0], c.ok, c.lo0, c.hi0)
		}
		if c.ok && (kr.pos0 != c.pos0 || kr.kvLen != c.kvLen || kr.window != c.window) {
			t.Errorf("%s: pos0=%d kvLen=%d window=%d, want %d %d %d", c.name, kr.pos0, kr.kvLen, kr.window, c.pos0, c.kvLen, c.window)
		}
		if !c.ok && !kr.exact {
			t.Errorf("%s: non-contiguous mask not marked exact", c.name)
		}
	}
}
