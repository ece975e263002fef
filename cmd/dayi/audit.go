package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"dayi/audit"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with dayi serve's audit log"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check the audit log's hash chain and report the first tampered or missing record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := audit.Verify(f)
			var ve *audit.VerifyError
			if errors.As(err, &ve) {
				return fmt.Errorf("%s: TAMPERED at %v (%d records before it verify)", args[0], ve, st.Records)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK, %d records, chain head %s\n", args[0], st.Records, st.Last)
			return nil
		},
	})
	return cmd
}
