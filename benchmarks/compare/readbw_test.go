package compare

import (
	"math/rand/v2"
	"os"
	"testing"
)

// TestSumWords checks the assembly read loops against a plain word-by-word
// sum, over lengths that end inside and at the end of their unrolled
// steps.
func TestSumWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 8<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for _, n := range []int{0, 8, 248, 256, 504, 512, 520, 1024, 1536, 4096 - 8, 8 << 10} {
		var want uint64
		for i := 0; i < n; i += 8 {
			w := uint64(0)
			for j := 7; j >= 0; j-- {
				w = w<<8 | uint64(buf[i+j])
			}
			want += w
		}
		for _, pf := range []bool{false, true} {
			if got := sumWords(buf[:n], pf); got != want {
				t.Errorf("sumWords of %d bytes (prefetch %v) = %#x, want %#x", n, pf, got, want)
			}
		}
		if got := sumGo(buf[:n]); got != want {
			t.Errorf("sumGo of %d bytes = %#x, want %#x", n, got, want)
		}
	}
}

// TestReadBandwidthReport logs the measurement the bench report uses
// (DAYI_READBW=1; 1 GiB, so not by default).
//
//	DAYI_READBW=1 go test ./benchmarks/compare -run ReadBandwidthReport -v
func TestReadBandwidthReport(t *testing.T) {
	if os.Getenv("DAYI_READBW") == "" {
		t.Skip("set DAYI_READBW=1 to measure the host's read bandwidth")
	}
	for _, th := range []int{1, 2} {
		t.Logf("%d thread(s): %.2f GB/s", th, ReadBandwidth(th, 1<<30, 5)/1e9)
	}
}
