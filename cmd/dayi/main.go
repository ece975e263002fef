// Command dayi is an offline inference engine for quantized medical language
// models: one static binary, one GGUF file, no network.
//
// The commands are thin: they parse flags and call the packages (weights,
// tokenizer, engine, …); no model logic lives here.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "dayi",
		Short: "Offline inference engine for quantized medical language models",
		Long: `dayi runs quantized GGUF language models (llama, qwen2, qwen3, gemma3) on the CPU of an
air-gapped server. Nothing leaves the machine. State lives under $DAYI_HOME (default ~/.dayi).

dayi supports clinicians; it does not replace them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newRunCmd(),
		newChatCmd(),
		newInfoCmd(),
		newQuantizeCmd(),
		newTokenizeCmd(), newDetokenizeCmd(),
		newBenchCmd(),
		newServeCmd(), newAuditCmd(), newKeysCmd(),
		newKBCmd(), newMemoryCmd(),
		newListCmd(), newShowCmd(), newCpCmd(), newRmCmd(),
		newPackCmd(), newUnpackCmd(), newKeygenCmd(),
		newEvalCmd(),
		newEmbedCmd(), newRerankCmd(),
		newClinicCmd(),
	)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dayi:", err)
		os.Exit(1)
	}
}
