//go:build unix

package vision_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
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
	benchEncodeFile(b, path)
}

// benchEncodeFile times Encode of one image through the projector at path
// on dayi's backend with 2 threads, after one untimed run (the compile).
func benchEncodeFile(b *testing.B, path string) {
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

// BenchmarkEncodeSo400mLayers times the real SigLIP-So400m widths and
// 4096 patches with few layers ($DAYI_VISION_LAYERS, default 1), f16
// matrices, so a profile of the per-layer work (attention over 4096 rows,
// the f16 GEMMs, GELU, LayerNorm) takes seconds, not minutes. The file is
// written to a temporary folder (~60 MB for one layer).
func BenchmarkEncodeSo400mLayers(b *testing.B) {
	spec, err := vision.SynthPreset("medgemma-4b")
	if err != nil {
		b.Fatal(err)
	}
	spec.Layers = 1
	if s := os.Getenv("DAYI_VISION_LAYERS"); s != "" {
		if spec.Layers, err = strconv.Atoi(s); err != nil || spec.Layers < 1 {
			b.Fatalf("DAYI_VISION_LAYERS=%q", s)
		}
	}
	path := filepath.Join(b.TempDir(), "mmproj.gguf")
	w, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := vision.WriteSynth(w, spec, 7, weights.TypeF16); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	benchEncodeFile(b, path)
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)*1e-6
}
