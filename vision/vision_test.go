package vision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"testing"

	"github.com/gomlx/gomlx/backends"

	_ "dayi/engine/backend" // dayi's backend, "dayi"
	"dayi/vision"
	"dayi/weights"

	_ "github.com/gomlx/gomlx/backends/simplego" // "go"
)

// ref is llama.cpp's output for the tiny projector (testdata/README.md).
type ref struct {
	Chunks []struct {
		Type    string    `json:"type"`
		Tokens  []int32   `json:"tokens"`
		NTokens int       `json:"n_tokens"`
		NEmbd   int       `json:"n_embd"`
		Embd    []float32 `json:"embd"`
	} `json:"chunks"`
}

// loadRef returns the embeddings of every image chunk of a reference.
func loadRef(t *testing.T, name string) [][]float32 {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var r ref
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for _, c := range r.Chunks {
		if c.Type == "image" {
			if len(c.Embd) != c.NTokens*c.NEmbd || c.NTokens == 0 {
				t.Fatalf("%s: image chunk has %d values for %d×%d", name, len(c.Embd), c.NTokens, c.NEmbd)
			}
			out = append(out, c.Embd)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no image chunk", name)
	}
	return out
}

// tinyProjector rebuilds the reference projector in memory (the generator
// in testdata/gen writes the same bytes).
func tinyProjector(t *testing.T, typ weights.Type) *weights.File {
	t.Helper()
	spec, err := vision.SynthPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := vision.WriteSynth(&b, spec, 7, typ); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func gradient(t *testing.T) image.Image { return gradientB(t) }

func gradientB(t testing.TB) image.Image { return readPNG(t, "gradient-32x48.png") }

func readPNG(t testing.TB, name string) image.Image {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestEncoderMatchesLlamaCpp: the soft tokens of the 32×48 gradient through
// the tiny gemma3 projector (padded resize to 32, 8×8 patches of 4 pixels,
// two SigLIP layers, 2×2 average pool → 16 tokens, soft-emb norm,
// projection to 64) equal libmtmd's mtmd_encode_chunk output within 1e-3
// (f32 matrices: 2e-3, see below),
// with f32, f16 and q8_0 matrices on dayi's backend (its kernels quantize the
// activations as ggml does), and with f32 and f16 on GoMLX's portable backend too
// (f32 weights; q8_0 there skips ggml's q8_0 rounding of the activations, an
// approximation this test does not hold to 1e-3).
func TestEncoderMatchesLlamaCpp(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  weights.Type
		ref  string
		pngs []string // one per image chunk of ref
		tol  float64
	}{
		{"f16", weights.TypeF16, "tiny-f16.json", []string{"gradient-32x48.png"}, 1e-3},
		// the second image of the two-image prompt: 25×10 stripes, upscaled
		// and padded above and below.
		{"f16-two", weights.TypeF16, "tiny-f16-two.json", []string{"gradient-32x48.png", "stripes-25x10.png"}, 1e-3},
		{"q8_0", weights.TypeQ8_0, "tiny-q8_0.json", []string{"gradient-32x48.png"}, 1e-3},
		// f32 matrices: no f16/q8_0 rounding of the activations absorbs the
		// float32 summation-order differences of the matmuls (ggml's f32
		// path runs llamafile's sgemm), and the f16 GELU table turns an
		// input that lands across one of its rounding steps into a whole
		// f16 step; measured max 1.1e-3, median 1.4e-4 on both backends.
		{"f32", weights.TypeF32, "tiny-f32.json", []string{"gradient-32x48.png"}, 2e-3},
	} {
		want := loadRef(t, c.ref)
		if len(want) != len(c.pngs) {
			t.Fatalf("%s: %d image chunks, %d images", c.ref, len(want), len(c.pngs))
		}
		bes := []string{"dayi:threads=1", "go"}
		if c.typ == weights.TypeQ8_0 {
			bes = bes[:1]
		}
		for _, be := range bes {
			t.Run(c.name+"/"+be, func(t *testing.T) {
				b, err := backends.NewWithConfig(be)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := vision.New(tinyProjector(t, c.typ), b, nil)
				if err != nil {
					t.Fatal(err)
				}
				if enc.H.Tokens() != 16 || enc.H.TextDim != 64 {
					t.Fatalf("tokens %d, width %d; want 16, 64", enc.H.Tokens(), enc.H.TextDim)
				}
				for i, name := range c.pngs {
					got, err := enc.Encode(context.Background(), readPNG(t, name))
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want[i]) {
						t.Fatalf("%s: %d values, llama.cpp %d", name, len(got), len(want[i]))
					}
					worst := 0.0
					for j := range got {
						worst = math.Max(worst, math.Abs(float64(got[j]-want[i][j])))
					}
					t.Logf("%s: max |diff| against llama.cpp: %.3g", name, worst)
					if worst > c.tol {
						t.Errorf("%s: image embeddings differ from llama.cpp by %g (tolerance %g)", name, worst, c.tol)
					}
				}
			})
		}
	}
}
