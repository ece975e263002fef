package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/weights"
)

// quantizeSummary is the --json output of `dayi quantize`.
type quantizeSummary struct {
	Input       string            `json:"input"`
	Output      string            `json:"output"`
	FileType    string            `json:"file_type"`
	FileTypeID  uint32            `json:"file_type_id"`
	InputBytes  int64             `json:"input_tensor_bytes"`
	TensorBytes int64             `json:"output_tensor_bytes"`
	OutputBytes int64             `json:"output_bytes"`
	TensorTypes map[string]int    `json:"tensor_types"`
	Fallbacks   int               `json:"fallbacks"`
	Seconds     float64           `json:"seconds"`
	Tensors     []quantizedTensor `json:"tensors"`
}

type quantizedTensor struct {
	Name         string  `json:"name"`
	Dims         []int64 `json:"dims"`
	From         string  `json:"from"`
	To           string  `json:"to"`
	FallbackFrom string  `json:"fallback_from,omitempty"`
	Bytes        int64   `json:"bytes"`
}

func newQuantizeCmd() *cobra.Command {
	var (
		typeName   string
		asJSON     bool
		threads    int
		requant    bool
		noProgress bool
	)
	cmd := &cobra.Command{
		Use:   "quantize --type TYPE IN.gguf OUT.gguf",
		Short: "Quantize a GGUF model as llama-quantize does",
		Long: `Write a quantized copy of a GGUF model. Tensor types follow llama.cpp's llama-quantize mixes
(norms stay F32, output and token embeddings get more bits, the _M mixes give some attn_v and
ffn_down layers more bits, rows that do not fit a type's blocks fall back to a smaller block type),
so the output equals llama-quantize's without an importance matrix.

TYPE: ` + strings.Join(weights.QuantizeFileTypes(), ", ") + `

OUT is written to a temporary file next to it and renamed at the end; an interrupted run leaves
nothing behind.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ft, ok := weights.FileTypeByName(typeName)
			if !ok {
				return fmt.Errorf("unknown --type %q (supported: %s)", typeName, strings.Join(weights.QuantizeFileTypes(), ", "))
			}
			in, out := args[0], args[1]
			f, err := openModelFile(in)
			if err != nil {
				return err
			}
			defer f.Close()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			opt := weights.QuantizeOptions{Threads: threads, AllowRequantize: requant}
			var bar *progressbar.ProgressBar
			if errOut, ok := cmd.ErrOrStderr().(*os.File); ok && !noProgress && term.IsTerminal(int(errOut.Fd())) {
				bar = progressbar.NewOptions64(f.Size,
					progressbar.OptionSetWriter(errOut),
					progressbar.OptionSetDescription("quantizing to "+ft.CLIName()),
					progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish(),
				)
				opt.Progress = func(done, total int64) {
					bar.ChangeMax64(total)
					bar.Set64(done)
				}
			}
			start := time.Now()
			var plan *weights.QuantPlan
			err = weights.WriteFileAtomic(out, func(w io.Writer) error {
				var err error
				plan, err = weights.Quantize(ctx, w, f, ft, opt)
				return err
			})
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			s := summarize(in, out, plan, st.Size(), time.Since(start))
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			return printQuantizeSummary(cmd.OutOrStdout(), s)
		},
	}
	cmd.Flags().StringVar(&typeName, "type", "", "target file type ("+strings.Join(weights.QuantizeFileTypes(), ", ")+")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	cmd.Flags().IntVar(&threads, "threads", 0, "quantization threads (0 = all CPUs)")
	cmd.Flags().BoolVar(&requant, "allow-requantize", false, "allow re-quantizing tensors that are already quantized (loses quality)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	cmd.MarkFlagRequired("type")
	return cmd
}

func summarize(in, out string, plan *weights.QuantPlan, outSize int64, d time.Duration) *quantizeSummary {
	s := &quantizeSummary{
		Input: in, Output: out, FileType: plan.FileType.String(), FileTypeID: uint32(plan.FileType),
		OutputBytes: outSize, TensorTypes: map[string]int{}, Fallbacks: plan.Fallbacks, Seconds: d.Seconds(),
	}
	for _, pt := range plan.Tensors {
		s.InputBytes += pt.InBytes
		s.TensorBytes += pt.OutBytes
		s.TensorTypes[pt.To.String()]++
		qt := quantizedTensor{Name: pt.Name, Dims: pt.Dims, From: pt.From.String(), To: pt.To.String(), Bytes: pt.OutBytes}
		if pt.Fallback {
			qt.FallbackFrom = pt.FallbackFrom.String()
		}
		s.Tensors = append(s.Tensors, qt)
	}
	return s
}

func printQuantizeSummary(w io.Writer, s *quantizeSummary) error {
	names := make([]string, 0, len(s.TensorTypes))
	for k := range s.TensorTypes {
		names = append(names, k)
	}
	sort.Strings(names)
	var hist []string
	for _, k := range names {
		hist = append(hist, fmt.Sprintf("%s: %d", k, s.TensorTypes[k]))
	}
	_, err := fmt.Fprintf(w, "wrote %s (%s): tensor data %s -> %s, file %s, %.1fs\ntensor types: %s\n",
		s.Output, s.FileType, humanBytes(s.InputBytes), humanBytes(s.TensorBytes), humanBytes(s.OutputBytes), s.Seconds,
		strings.Join(hist, ", "))
	if err == nil && s.Fallbacks > 0 {
		_, err = fmt.Fprintf(w, "%d of %d tensors needed a fallback type (rows not a multiple of the block size)\n", s.Fallbacks, len(s.Tensors))
	}
	return err
}
