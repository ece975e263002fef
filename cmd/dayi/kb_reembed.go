package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/knowledge"
)

func newKBReembedCmd() *cobra.Command {
	var kf kbFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reembed --embed-model M [--kb] NAME",
		Short: "Embed every passage of a knowledge base again with another model",
		Long: `Embeds every chunk of the knowledge base with --embed-model and then switches the model the
knowledge base records, in one transaction. The new vectors are built aside: until the switch,
queries (and a running dayi serve) keep using the old model, and an interruption (Ctrl-C, a
crash, kill -9) leaves the knowledge base as it was. Running the command again with the same
model resumes from the vectors already set aside. Works on $DAYI_HOME/kb and, with --pg, on the
knowledge bases in PostgreSQL (other servers go on answering during the re-embed).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if kf.name != "" && kf.name != args[0] {
					return fmt.Errorf("kb reembed: two names, --kb %q and %q", kf.name, args[0])
				}
				kf.name = args[0]
			}
			if kf.name == "" {
				return fmt.Errorf("kb reembed: the knowledge base NAME is required")
			}
			if kf.embedModel == "" {
				return fmt.Errorf("kb reembed: --embed-model is required")
			}
			lib, done, err := kf.library(true)
			if err != nil {
				return err
			}
			defer done()
			ro, err := lib.OpenReadOnly(kf.name) // never create one
			if err != nil {
				return err
			}
			ro.Close()
			kb, err := lib.Open(kf.name)
			if err != nil {
				return err
			}
			defer kb.Close()
			var bar *progressbar.ProgressBar
			progress := func(n, total int) {}
			if term.IsTerminal(int(os.Stderr.Fd())) {
				progress = func(n, total int) {
					if bar == nil || bar.GetMax() != total {
						bar = progressbar.Default(int64(total), "embedding")
					}
					_ = bar.Set(n)
				}
			}
			rep, err := knowledge.Reembed(cmd.Context(), kb, lib.Options.Embedder, progress)
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			from := rep.From
			if from == "" {
				from = "(no embeddings)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d chunks re-embedded, %s → %s (%d embedded now, %d resumed)\n",
				kf.name, rep.Chunks, from, rep.To, rep.Embedded, rep.Resumed)
			return nil
		},
	}
	kf.register(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
