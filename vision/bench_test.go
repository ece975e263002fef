//go:build unix

package vision_test

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"dayi/vision"
	"dayi/weights"
)

// BenchmarkEncodeMedGemma4B times one image through MedGemma 4B's projector
// shape (SigLIP-So400m, 896 pixels → 4096 patches → 256 tokens of 2560) on
// dayi's backend with 2 threads. It reads $DAYI_MMPROJ, the real-shape file
// the llama.cpp comparison reads too (testdata/gen -medgemma writes it; not
// committed: 850 MB), and is skipped without it.
func BenchmarkEncodeMedGemma4B(b *testing.B) {
	path := os.Getenv("DAYI_MMPROJ")
	if path == "" {
		b.Skip("set DAYI_MMPROJ to a real-shape mmproj (go run ./vision/testdata/gen -medgemma)")
	}
	f, err := weights.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	be, err := backends.NewWithConfig("dayi:threads=2")
	if err != nil {
		b.Fatal(err)
	}
	enc, err := vision.New(f, be, nil)
	if err != nil {
		b.Fatal(err)
	}
	img := gradientB(b)
	ctx := context.Background()
	if _, err := enc.Encode(ctx, img); err != nil { // compiles the graph
		b.Fatal(err)
	}
	c0 := cpuSeconds()
	for b.Loop() {
		if _, err := enc.Encode(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	// On a machine shared with other work the wall time depends on the
	// load; the process's CPU time much less (mtmd_bench reports both too).
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)*1e-6
}
