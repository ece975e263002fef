package cuda

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dayi/benchmarks/synth"
	"dayi/internal/testref"
	"dayi/weights"
)

// TestGPUDecodeSpeed times a 128-token prompt (Prefill, 32 tokens a step)
// and 128 greedy decode steps on benchmark shapes: the
// llama-1b preset in q4_0 and q8_0 and gemma3-1b in q4_0 (MedGemma's
// family: sliding-window layers, heads of 256, a 262k-row tied output), and
// with DAYI_GPU_BENCH_8B=1 Llama-3-8B's shape in q4_0 and gemma3-4b
// (MedGemma-4B's shape) in q4_K, whose synthesis takes minutes. It runs
// only on a GPU with DAYI_GPU_BENCH=1 (scripts/gpu-check.sh), and prints one
// line a model.
func TestGPUDecodeSpeed(t *testing.T) {
	if os.Getenv("DAYI_GPU_BENCH") == "" {
		t.Skip("set DAYI_GPU_BENCH=1 on a GPU machine (scripts/gpu-check.sh run)")
	}
	d, err := Open(0)
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	defer d.Close()
	type cfg struct {
		name string
		spec synth.Spec
		typ  weights.Type
	}
	preset := func(name string) synth.Spec {
		s, err := synth.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	l1b, g1b := preset("llama-1b"), preset("gemma3-1b")
	cfgs := []cfg{{"llama-1b", l1b, weights.TypeQ4_0}, {"llama-1b", l1b, weights.TypeQ8_0}, {"gemma3-1b", g1b, weights.TypeQ4_0}}
	if os.Getenv("DAYI_GPU_BENCH_8B") == "1" {
		// Llama-3-8B's block shapes with the 32k SPM vocabulary (the output
		// projection is a quarter of the real 128k one).
		l8b := synth.Spec{Arch: "llama", Dim: 4096, Layers: 32, Heads: 32, KVHeads: 8, FFN: 14336, ContextLength: 8192,
			RopeBase: 500000, VocabFile: "ggml-vocab-llama-spm.gguf"}
		cfgs = append(cfgs, cfg{"llama-8b", l8b, weights.TypeQ4_0}, cfg{"gemma3-4b", preset("gemma3-4b"), weights.TypeQ4_K})
	}
	const prompt, gen = 128, 128
	for _, c := range cfgs {
		vf, err := weights.Open(testref.File(t, "vocab", c.spec.VocabFile))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), c.name+".gguf")
		t0 := time.Now()
		typeFor := func(name string, dims []int64) weights.Type { return c.typ }
		err = weights.WriteFileAtomic(path, func(w io.Writer) error { return synth.Write(w, c.spec, vf, 1, typeFor, nil) })
		vf.Close()
		if err != nil {
			t.Fatal(err)
		}
		synthDur := time.Since(t0)
		f, err := weights.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		m, err := LoadLlama(d, f, prompt+gen)
		if err != nil {
			t.Fatal(err)
		}
		loadDur := time.Since(t1)
		ids := make([]int, prompt)
		for i := range ids {
			ids[i] = 1 + i%(m.Vocab()-1)
		}
		t2 := time.Now()
		logits, err := m.Prefill(ids)
		if err != nil {
			t.Fatal(err)
		}
		promptTPS := float64(prompt) / time.Since(t2).Seconds()
		steps := make([]time.Duration, gen)
		for i := range steps {
			next := argmaxF32(logits)
			s := time.Now()
			if logits, err = m.Step(next); err != nil {
				t.Fatal(err)
			}
			steps[i] = time.Since(s)
		}
		var total time.Duration
		for _, s := range steps {
			total += s
		}
		slices.Sort(steps)
		var wbytes int64 // a tied token_embd is the output projection, read whole
		_, untied := f.Tensor("output.weight")
		for _, ti := range f.Tensors {
			if ti.Name != "token_embd.weight" || !untied {
				wbytes += ti.Size
			}
		}
		tps := float64(gen) / total.Seconds()
		t.Logf("GPU decode %s %s on %s: %.1f tok/s (median step %.3f ms) at positions %d-%d; %.2f GB of weights read a token = %.0f GB/s; prompt %d tokens %.1f tok/s; load %.1f s, synth %.0f s",
			c.name, strings.ToLower(c.typ.String()), d.Info().Name, tps, float64(steps[gen/2].Microseconds())/1000,
			prompt, prompt+gen, float64(wbytes)/1e9, float64(wbytes)/1e9*tps, prompt, promptTPS, loadDur.Seconds(), synthDur.Seconds())
		f.Close()
		if err := m.Free(); err != nil {
			t.Fatal(err)
		}
	}
}

func argmaxF32(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
