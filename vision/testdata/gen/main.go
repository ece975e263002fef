// Command gen writes the inputs of dayi's vision references: the tiny
// random gemma3 language model (benchmarks/synth preset tiny-gemma3, f32,
// seed 7, as engine's synth tests build it), the tiny random gemma3
// projector (vision.SynthPreset "tiny", seed 7, f32, f16 and q8_0 matrices) and
// the 32×48 gradient PNG; mtmd_ref.cpp then runs them through llama.cpp.
// See ../README.md for the commands.
package main

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"dayi/benchmarks/synth"
	"dayi/vision"
	"dayi/weights"
)

func main() {
	out := flag.String("o", "/tmp/vision-ref", "output directory")
	vocab := flag.String("vocab", "testdata/vocab", "directory of llama.cpp's ggml-vocab-*.gguf")
	png := flag.String("png", "", "also write the gradient PNG here")
	wide := flag.String("png-wide", "", "also write the 25×10 stripes PNG here")
	real := flag.Bool("medgemma", false, "write the speed test's real-shape pair instead: MedGemma 4B's projector (f16) and a one-layer gemma3 of its width (2560) for libmtmd to pair it with")
	flag.Parse()
	if *real {
		writeReal(*out, *vocab)
		return
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	spec, err := synth.Preset("tiny-gemma3")
	if err != nil {
		log.Fatal(err)
	}
	vf, err := weights.Open(filepath.Join(*vocab, spec.VocabFile))
	if err != nil {
		log.Fatal(err)
	}
	var lm bytes.Buffer
	if err := synth.Write(&lm, spec, vf, 7, func(string, []int64) weights.Type { return weights.TypeF32 }, nil); err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(*out, "tiny-gemma3.gguf"), lm.Bytes())
	ps, err := vision.SynthPreset("tiny")
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range []struct {
		name string
		typ  weights.Type
	}{{"f32", weights.TypeF32}, {"f16", weights.TypeF16}, {"q8_0", weights.TypeQ8_0}} {
		var b bytes.Buffer
		if err := vision.WriteSynth(&b, ps, 7, t.typ); err != nil {
			log.Fatal(err)
		}
		write(filepath.Join(*out, "mmproj-tiny-"+t.name+".gguf"), b.Bytes())
	}
	if *png != "" {
		write(*png, gradient())
	}
	if *wide != "" {
		write(*wide, stripes())
	}
}

// gradient is a 32×48 RGB image: red across, green down, blue on the
// diagonal, and a bright square off centre so that the two halves differ.
func gradient() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 32; x++ {
			c := color.RGBA{uint8(x * 255 / 31), uint8(y * 255 / 47), uint8((x + y) * 255 / 78), 255}
			if x >= 6 && x < 14 && y >= 10 && y < 20 {
				c = color.RGBA{250, 240, 30, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// stripes is a 25×10 RGB image of coloured vertical stripes: wider than
// tall and upscaled (to 32×13, padded above and below), so the horizontal
// pass of the resize, upscaling and the vertical padding are exercised.
func stripes() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 25, 10))
	for y := 0; y < 10; y++ {
		for x := 0; x < 25; x++ {
			v := uint8((x / 3 % 2) * 200)
			img.SetRGBA(x, y, color.RGBA{v, uint8(255 - y*25), uint8(x * 10), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

// writeReal writes mmproj-medgemma-4b-f16.gguf (vision.SynthPreset
// "medgemma-4b", seed 7) and gemma3-2560.gguf: libmtmd only loads a
// projector next to a text model of its output width, so the speed test
// pairs it with a one-layer gemma3 that wide (llama-spm's 32k vocabulary
// keeps it small; the text model plays no part in the timing).
func writeReal(out, vocab string) {
	ps, err := vision.SynthPreset("medgemma-4b")
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(filepath.Join(out, "mmproj-medgemma-4b-f16.gguf"))
	if err != nil {
		log.Fatal(err)
	}
	if err := vision.WriteSynth(f, ps, 7, weights.TypeF16); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	spec := synth.Spec{Arch: "gemma3", Dim: 2560, Layers: 1, Heads: 8, KVHeads: 4, HeadDim: 256, FFN: 512,
		ContextLength: 1024, RopeBase: 1e6, SlidingWindow: 1024, TiedOutput: true, VocabFile: "ggml-vocab-llama-spm.gguf"}
	vf, err := weights.Open(filepath.Join(vocab, spec.VocabFile))
	if err != nil {
		log.Fatal(err)
	}
	var lm bytes.Buffer
	if err := synth.Write(&lm, spec, vf, 7, func(string, []int64) weights.Type { return weights.TypeF16 }, nil); err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(out, "gemma3-2560.gguf"), lm.Bytes())
}
