package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dayi/weights"
)

func newInfoCmd() *cobra.Command {
	var asJSON, tensors bool
	cmd := &cobra.Command{
		Use:   "info [MODEL]",
		Short: "Describe a GGUF model (default: the embedded model)",
		Long: `Print what a GGUF model is: architecture, size, quantization and hyperparameters.
With no MODEL, describes the embedded default model.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			f, err := openModelFile(path)
			if err != nil {
				return err
			}
			defer f.Close()
			m := weights.Summarize(f, tensors)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), m)
			}
			return printInfo(cmd.OutOrStdout(), m)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&tensors, "tensors", false, "list every tensor")
	return cmd
}

func printInfo(w io.Writer, m *weights.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k string, format string, a ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...)
	}
	line("model", "%s", m.Path)
	if m.Name != "" {
		line("name", "%s", m.Name)
	}
	line("architecture", "%s", m.Architecture)
	line("parameters", "%s (%d)", humanCount(m.Parameters), m.Parameters)
	guess := ""
	if m.FileTypeGuessed {
		guess = " (guessed)"
	}
	line("file type", "%s%s", m.FileType, guess)
	names := make([]string, 0, len(m.TensorTypes))
	for k := range m.TensorTypes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := m.TensorTypes[names[i]], m.TensorTypes[names[j]]
		return a > b || a == b && names[i] < names[j]
	})
	hist := ""
	for i, k := range names {
		if i > 0 {
			hist += ", "
		}
		hist += fmt.Sprintf("%s: %d", k, m.TensorTypes[k])
	}
	line("tensor types", "%s", hist)
	line("file size", "%s (%d bytes)", humanBytes(m.FileSize), m.FileSize)
	line("context length", "%d", m.ContextLength)
	if r := m.RopeScaling; r != nil {
		orig := ""
		if r.OriginalContextLength > 0 {
			orig = fmt.Sprintf(" from %d", r.OriginalContextLength)
		}
		line("rope scaling", "%s x%g%s", r.Type, r.Factor, orig)
	}
	line("embedding length", "%d", m.EmbeddingLength)
	line("feed forward", "%d", m.FeedForwardLength)
	line("layers", "%d", m.BlockCount)
	line("heads", "%d", m.HeadCount)
	line("kv heads", "%d", m.HeadCountKV)
	line("vocab size", "%d", m.VocabSize)
	line("tokenizer", "%s", m.Tokenizer)
	tmpl := "no"
	if m.ChatTemplate {
		tmpl = "yes"
	}
	line("chat template", "%s", tmpl)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Tensors) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "tensor\ttype\tdims\toffset\tbytes")
		for _, t := range m.Tensors {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\n", t.Name, t.Type, t.Dims, t.Offset, t.Size)
		}
		return tw.Flush()
	}
	return nil
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
