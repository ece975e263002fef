package compare

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dayi/benchmarks/synth"
	"dayi/weights"
)

// SynthSeed is the seed of every benchmark model, so caches on different hosts
// hold the same bytes.
const SynthSeed = 1

// EnsureModel returns the cached benchmark model preset-typ.gguf under dir,
// making it when absent: the preset is synthesised in F16 (as llama.cpp's
// convert script writes a model) and then quantized by dayi's llama-quantize
// policy (weights.Quantize: output.weight to Q6_K for Q4_0, the Q4_K_M mix…),
// so both engines read a file laid out like a real quantized download.
func EnsureModel(ctx context.Context, dir, vocabDir, preset, typ string, log io.Writer) (string, error) {
	out := filepath.Join(dir, fmt.Sprintf("%s-%s.gguf", preset, typ))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	ft, ok := weights.FileTypeByName(typ)
	if !ok {
		return "", fmt.Errorf("model type %q: dayi cannot quantize to it", typ)
	}
	spec, err := synth.Preset(preset)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("model cache %s: %w", dir, err)
	}
	base := filepath.Join(dir, preset+"-f16.gguf")
	if _, err := os.Stat(base); err != nil {
		vf, err := weights.Open(filepath.Join(vocabDir, spec.VocabFile))
		if err != nil {
			return "", fmt.Errorf("vocabulary for %s: %w", preset, err)
		}
		defer vf.Close()
		fmt.Fprintf(log, "synthesising %s (f16, seed %d)\n", base, SynthSeed)
		f16 := func(string, []int64) weights.Type { return weights.TypeF16 }
		err = weights.WriteFileAtomic(base, func(w io.Writer) error {
			return synth.Write(w, spec, vf, SynthSeed, f16, nil)
		})
		if err != nil {
			return "", fmt.Errorf("synthesise %s: %w", base, err)
		}
	}
	if typ == "f16" {
		return base, nil
	}
	bf, err := weights.Open(base)
	if err != nil {
		return "", err
	}
	defer bf.Close()
	fmt.Fprintf(log, "quantizing %s to %s\n", base, typ)
	err = weights.WriteFileAtomic(out, func(w io.Writer) error {
		_, err := weights.Quantize(ctx, w, bf, ft, weights.QuantizeOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("quantize %s to %s: %w", base, typ, err)
	}
	return out, nil
}
