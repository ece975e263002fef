package main

import (
	"github.com/spf13/cobra"

	"dayi/engine"
)

// kvFlags are the prefix cache and context shift flags of run and serve
// (issue 17).
type kvFlags struct {
	prefixMB int
	noShift  bool
	keep     int
}

func (k *kvFlags) registerCache(cmd *cobra.Command) {
	cmd.Flags().IntVar(&k.prefixMB, "prefix-cache-mb", -1,
		"MiB per loaded model for the KV of recent prompts, which later requests starting with the same tokens reuse instead of recomputing (-1 = two contexts' KV, at most 1024; 0 = off); counted in the model's memory")
}

func (k *kvFlags) registerShift(cmd *cobra.Command, keep bool) {
	cmd.Flags().BoolVar(&k.noShift, "no-ctx-shift", false,
		`stop a generation that fills the context (done_reason "length") instead of dropping the oldest half of it after the first kept tokens and going on`)
	if keep {
		cmd.Flags().IntVar(&k.keep, "keep", engine.DefaultNumKeep, "tokens at the start of the context that a context shift keeps (Ollama's num_keep)")
	}
}

// prefixBytes maps --prefix-cache-mb to engine.Options.PrefixCacheBytes.
func (k *kvFlags) prefixBytes() int64 {
	switch {
	case k.prefixMB < 0:
		return 0 // the engine's default
	case k.prefixMB == 0:
		return -1 // off
	}
	return int64(k.prefixMB) << 20
}
