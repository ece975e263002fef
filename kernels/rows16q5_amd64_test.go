package kernels

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"dayi/weights"
)

// TestRows16Q5_0 checks the q5_0 tile layout: repacked groups decode (Go
// twin and assembly) to exactly decode16's slices of the same rows in GGUF
// layout, and the decode kernel equals gemm16Go on them bit for bit.
func TestRows16Q5_0(t *testing.T) {
	if !hasR16Q5 {
		t.Skip("no AVX-512 VNNI + BITALG")
	}
	rng := rand.New(rand.NewPCG(75, 76))
	for _, k := range []int{32, 64, 2048} {
		const n = 32
		nb := k / 32
		w, _, x40, _ := gemm16Case(rng, weights.TypeQ5_0, n, k, 1)
		rb := nb * q5_0Size
		rep := make([]byte, len(w))
		repackQ5_0(rep, w, n, k)
		for g := 0; g < n/r16Rows; g++ {
			want := make([]byte, nb*w16BlockSize)
			decode16(want, w[g*r16Rows*rb:], rb, nb, q5_0Size)
			grp := rep[g*r16Rows*rb : (g+1)*r16Rows*rb]
			for name, d := range map[string]func(w *byte, wstride, nb int, dst *byte){"go": decR16GoQ5_0, "kernel": decR16Q5_0} {
				got := make([]byte, nb*w16BlockSize)
				d(&grp[0], rb, nb, &got[0])
				if !bytes.Equal(got, want) {
					t.Fatalf("k=%d group %d: %s decode differs from decode16", k, g, name)
				}
			}
			ref := make([]float32, r16Rows)
			gemm16Go(want, x40, nb*x40BlockSize, nb, 1, ref, r16Rows)
			for name, f := range map[string]func(w, x []byte, nb int, out []float32){"go": gemvR16GoQ5_0, "kernel": gemvR16AsmQ5_0,
				"kernel without prefetch": func(w, x []byte, nb int, out []float32) { gemvR16Q5_0HW(&w[0], &x[0], nb, &out[0]) }} {
				got := make([]float32, r16Rows)
				f(grp, x40, nb, got)
				for r := range got {
					if math.Float32bits(got[r]) != math.Float32bits(ref[r]) {
						t.Fatalf("k=%d group %d row %d: %s gemv %g, gemm16Go %g", k, g, r, name, got[r], ref[r])
					}
				}
			}
		}
	}
}
