package vision_test

import (
	"context"
	"os"
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
	for b.Loop() {
		if _, err := enc.Encode(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
}
