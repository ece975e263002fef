package cuda

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"dayi/benchmarks/synth"
	"dayi/internal/testref"
	"dayi/weights"
)

// The decode driver on q4_K and q6_K matrices (tiny-llama-k quantized to
// q4_k_m, as llama.cpp's reference was made) matches llama.cpp's top-10
// first-position logits within 1e-4 and its greedy ids. The k-quant GEMVs
// read q8_K activations as ggml-cpu's do (ggml-cuda uses q8_1 there, which
// moved these logits by 0.049).
func TestLlamaDecodeKQuants(t *testing.T) {
	devs := map[string]Backend{}
	if !testing.Short() { // a 32000-row q6_K output: ~30 s in the emulator
		fake := newFake(t)
		emu, err := open(fake.api(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer emu.Close()
		devs["emulator"] = emu
	}
	if gpu, err := Open(0); err == nil {
		defer gpu.Close()
		devs["gpu"] = gpu
	}
	if len(devs) == 0 {
		t.Skip("-short and no GPU")
	}
	spec, err := synth.Preset("tiny-llama-k")
	if err != nil {
		t.Fatal(err)
	}
	vf, err := weights.Open(testref.File(t, "vocab", spec.VocabFile))
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	var f16 bytes.Buffer
	if err := synth.Write(&f16, spec, vf, 7, func(string, []int64) weights.Type { return weights.TypeF16 }, nil); err != nil {
		t.Fatal(err)
	}
	src, err := weights.Parse(f16.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := weights.FileTypeByName("q4_k_m")
	var q bytes.Buffer
	if _, err := weights.Quantize(context.Background(), &q, src, ft, weights.QuantizeOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Parse(q.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[weights.Type]int{}
	for _, ti := range f.Tensors {
		kinds[ti.Type]++
	}
	if kinds[weights.TypeQ4_K] == 0 || kinds[weights.TypeQ6_K] == 0 {
		t.Fatalf("tensor types %v: want q4_K and q6_K matrices", kinds)
	}
	data, err := os.ReadFile("testdata/tiny-llama-k-q4_k_m.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	for name, b := range devs {
		m, err := LoadLlama(b, f, 32)
		if err != nil {
			t.Fatal(err)
		}
		cases := ref.Cases
		if name == "emulator" {
			cases = cases[:1]
		}
		for _, c := range cases {
			worst, same := decodeCase(t, m, c, 2)
			t.Logf("%s %q: top-10 max |logit diff| %.3g, %d greedy ids agree", name, c.Prompt, worst, same)
			if worst > 1e-4 || math.IsNaN(worst) {
				t.Errorf("%s %q: top-10 logits differ by %g (tolerance 1e-4)", name, c.Prompt, worst)
			}
			if same < 2 {
				t.Errorf("%s %q: %d greedy ids agree with llama.cpp", name, c.Prompt, same)
			}
		}
	}
}
