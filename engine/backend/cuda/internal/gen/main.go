// Command gen writes dayi's CUDA kernels as PTX text (kernels.ptx), the
// file the cuda package embeds. Run through `go generate ./engine/backend/cuda`;
// TestGeneratedPTX fails when the committed file differs from its output.
package main

import (
	"flag"
	"fmt"
	"os"

	"dayi/engine/backend/cuda/kern"
	"dayi/engine/backend/cuda/ptx"
)

func main() {
	out := flag.String("o", "kernels.ptx", "output file")
	flag.Parse()
	text := kern.Module().Text()
	if _, err := ptx.Check(text); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
