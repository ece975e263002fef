package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"dayi/benchmarks/synth"
	"dayi/weights"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: synthetic models and side-by-side runs against llama.cpp",
	}
	cmd.AddCommand(newBenchSynthCmd())
	return cmd
}

func newBenchSynthCmd() *cobra.Command {
	var preset, typ, out, vocabDir string
	var seed uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "synth --preset NAME --type TYPE -o FILE",
		Short: "Write a seeded random-weight GGUF with real shapes and a real vocabulary",
		Long: "Presets: " + fmt.Sprint(synth.PresetNames()) + `
The vocabulary comes from llama.cpp's ggml-vocab-*.gguf files found in --vocab-dir.
Types: f32, f16, bf16 or any ggml type dayi can quantize to (q8_0, q4_0, q4_k…); 1-D tensors stay f32.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := synth.Preset(preset)
			if err != nil {
				return err
			}
			t, ok := weights.TypeByName(typ)
			if !ok {
				return fmt.Errorf("unknown type %q", typ)
			}
			if tr, _ := t.Traits(); tr.Quantize == nil && t != weights.TypeF32 {
				return fmt.Errorf("dayi cannot quantize to %s", t)
			}
			vf, err := weights.Open(filepath.Join(vocabDir, spec.VocabFile))
			if err != nil {
				return fmt.Errorf("vocabulary: %w", err)
			}
			defer vf.Close()
			typeFor := func(name string, dims []int64) weights.Type {
				if dims[0]%int64(t.BlockSize()) != 0 {
					return weights.TypeF16 // as llama.cpp's last-resort fallback
				}
				return t
			}
			err = weights.WriteFileAtomic(out, func(w io.Writer) error {
				return synth.Write(w, spec, vf, seed, typeFor, nil)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"preset": preset, "type": t.String(), "file": out, "seed": seed})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %s, seed %d)\n", out, preset, t, seed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&preset, "preset", "llama-1b", "model shape preset")
	f.StringVar(&typ, "type", "q4_0", "weight type")
	f.StringVarP(&out, "output", "o", "", "output GGUF file")
	f.StringVar(&vocabDir, "vocab-dir", "../shared/vocab", "folder with llama.cpp ggml-vocab-*.gguf files")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
