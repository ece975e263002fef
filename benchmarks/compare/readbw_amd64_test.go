package compare

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestSumAsm checks each assembly loop the CPU supports against sumGo
// (TestSumWords covers only the width sumWords picks). The prefetching
// ones read up to 2.5 KiB past p+n, which a prefetch may do.
func TestSumAsm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 16<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name string
		ok   bool
		step int
		f    func(*byte, int) uint64
	}{
		{"avx2", cpu.X86.HasAVX2, 256, sumAVX2},
		{"avx2pf", cpu.X86.HasAVX2, 256, sumAVX2PF},
		{"avx512", cpu.X86.HasAVX512F, 512, sumAVX512},
		{"avx512pf", cpu.X86.HasAVX512F, 512, sumAVX512PF},
	} {
		if !tc.ok {
			t.Logf("%s: not on this CPU", tc.name)
			continue
		}
		for n := tc.step; n <= len(buf); n += 3 * tc.step {
			if got, want := tc.f(&buf[0], n), sumGo(buf[:n]); got != want {
				t.Errorf("%s of %d bytes = %#x, sumGo %#x", tc.name, n, got, want)
			}
		}
	}
}
