package kern

import (
	"testing"

	"dayi/weights"
)

func newEmu(t *testing.T) *Emu {
	t.Helper()
	e, err := NewEmu()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		got, want Geometry
	}{
		{RowGeometry(1), Geometry{1, 128}},
		{RowGeometry(4), Geometry{1, 128}},
		{RowGeometry(5), Geometry{2, 128}},
		{RowGeometry(128256), Geometry{32064, 128}},
		{ElemGeometry(1), Geometry{1, 256}},
		{ElemGeometry(257), Geometry{2, 256}},
		{QuantGeometry(32), Geometry{1, 256}},
		{QuantGeometry(32 * 8), Geometry{1, 256}},
		{QuantGeometry(32 * 9), Geometry{2, 256}},
		{QuantGeometry(4096), Geometry{16, 256}},
		{RopeGeometry(32, 128), Geometry{8, 256}},
	} {
		if tc.got != tc.want {
			t.Errorf("got %+v, want %+v", tc.got, tc.want)
		}
	}
	// Every launch covers its work: rows × warps ≥ rows, no more than one
	// block of spare warps.
	for rows := 1; rows < 300; rows++ {
		g := RowGeometry(rows)
		if w := int(g.Grid) * int(g.Block) / 32; w < rows || w >= rows+RowWarps {
			t.Fatalf("rows %d: %d warps", rows, w)
		}
	}
}

func TestLaunchRejects(t *testing.T) {
	e := newEmu(t)
	if err := Gemv(e, weights.TypeQ2_K, 0, 0, 0, 1, 256); err == nil {
		t.Error("q2_K accepted")
	}
	if err := Gemv(e, weights.TypeQ8_0, 0, 0, 0, 1, 48); err == nil {
		t.Error("q8_0 row of 48 accepted")
	}
	if err := Attention(e, AttentionArgs{Heads: 8, KVHeads: 3, HeadDim: 64, N: 1}); err == nil {
		t.Error("8 heads over 3 KV heads accepted")
	}
	if err := Attention(e, AttentionArgs{Heads: 8, KVHeads: 8, HeadDim: 512, N: 1}); err == nil {
		t.Error("head size 512 accepted")
	}
	if err := e.Launch("rms_norm", 1, 32, 1, 2); err == nil {
		t.Error("wrong argument count accepted")
	}
	// A kernel reading past its buffer is an error in the emulator.
	x := e.Mem.Alloc(4 * 10)
	if err := Softmax(e, x, 1, 11); err == nil {
		t.Error("read past a buffer went unnoticed")
	}
}
