package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"dayi/memory"
)

// memoryFlags choose the patient-memory store: the embedded file under
// $DAYI_HOME/memory, or PostgreSQL; optionally encrypted with a key file.
type memoryFlags struct {
	patient string
	pg      string
	keyFile string
}

func (mf *memoryFlags) register(cmd *cobra.Command, patient bool) {
	if patient {
		cmd.Flags().StringVar(&mf.patient, "patient", "", "patient id (required)")
	}
	cmd.Flags().StringVar(&mf.pg, "pg", os.Getenv("DAYI_MEMORY_PG"), "PostgreSQL DSN of a shared memory store (default $DAYI_MEMORY_PG; empty: the embedded store)")
	cmd.Flags().StringVar(&mf.keyFile, "key-file", os.Getenv("DAYI_MEMORY_KEY"), "AES-256 key file encrypting stored text (default $DAYI_MEMORY_KEY)")
}

// openMemoryStore opens the store the flags (or a server's settings) name.
func openMemoryStore(ctx context.Context, pg, keyFile string) (memory.Store, error) {
	var s memory.Store
	var err error
	if pg != "" {
		s, err = memory.OpenPG(ctx, pg, "")
	} else {
		s, err = memory.OpenBolt(filepath.Join(dayiHome(), "memory", "memory.db"))
	}
	if err != nil {
		return nil, err
	}
	if keyFile == "" {
		return s, nil
	}
	key, err := memory.LoadKey(keyFile)
	if err == nil {
		var e *memory.Encrypted
		if e, err = memory.NewEncrypted(s, key); err == nil {
			return e, nil
		}
	}
	s.Close()
	return nil, err
}

func (mf *memoryFlags) open(cmd *cobra.Command) (*memory.Memory, error) {
	s, err := openMemoryStore(cmd.Context(), mf.pg, mf.keyFile)
	if err != nil {
		return nil, err
	}
	return memory.New(s, memory.Options{}), nil
}

func newMemoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "Inspect, export or delete long-term patient memory",
		Long: `Patient memory keeps every turn of requests that carry a patient id, with the facts
(allergies, diagnoses, medications, dated results) found in them, and recalls them into
later prompts within a token budget. It lives in $DAYI_HOME/memory/memory.db, or in
PostgreSQL with --pg.`,
	}
	cmd.AddCommand(newMemoryShowCmd(), newMemoryExportCmd(), newMemoryForgetCmd(), newMemoryListCmd(), newMemoryKeygenCmd())
	return cmd
}

func newMemoryShowCmd() *cobra.Command {
	var mf memoryFlags
	var query string
	var budget int
	cmd := &cobra.Command{
		Use:   "show --patient ID",
		Short: "Show a patient's facts and turns (or, with --query, what a request would recall)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if mf.patient == "" {
				return fmt.Errorf("memory show: --patient ID is required")
			}
			m, err := mf.open(cmd)
			if err != nil {
				return err
			}
			defer m.Store().Close()
			w := cmd.OutOrStdout()
			if query != "" {
				s, err := m.Recall(cmd.Context(), mf.patient, query, budget)
				if err != nil {
					return err
				}
				fmt.Fprintln(w, s)
				return nil
			}
			h, err := m.History(cmd.Context(), mf.patient)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "patient %s: %d turns, %d facts\n", h.Patient, len(h.Turns), len(h.Facts))
			if h.Summary != "" {
				fmt.Fprintf(w, "summary: %s\n", h.Summary)
			}
			for _, f := range h.Facts {
				fmt.Fprintf(w, "  [%s] %s: %s — %s\n", f.Date, f.Kind, f.Subject, f.Text)
			}
			for _, t := range h.Turns {
				fmt.Fprintf(w, "%s\n  user: %s\n", t.Time.Local().Format("2006-01-02 15:04"), strings.TrimSpace(t.User))
				if t.Assistant != "" {
					fmt.Fprintf(w, "  assistant: %s\n", strings.TrimSpace(t.Assistant))
				}
			}
			return nil
		},
	}
	mf.register(cmd, true)
	cmd.Flags().StringVar(&query, "query", "", "show what this request text would recall")
	cmd.Flags().IntVar(&budget, "tokens", memory.DefaultRecallTokens, "recall budget in tokens (with --query)")
	return cmd
}

func newMemoryExportCmd() *cobra.Command {
	var mf memoryFlags
	cmd := &cobra.Command{
		Use:   "export --patient ID",
		Short: "Print everything stored for a patient as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if mf.patient == "" {
				return fmt.Errorf("memory export: --patient ID is required")
			}
			m, err := mf.open(cmd)
			if err != nil {
				return err
			}
			defer m.Store().Close()
			h, err := m.History(cmd.Context(), mf.patient)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), h)
		},
	}
	mf.register(cmd, true)
	return cmd
}

func newMemoryForgetCmd() *cobra.Command {
	var mf memoryFlags
	cmd := &cobra.Command{
		Use:   "forget --patient ID",
		Short: "Delete everything stored for a patient",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if mf.patient == "" {
				return fmt.Errorf("memory forget: --patient ID is required")
			}
			m, err := mf.open(cmd)
			if err != nil {
				return err
			}
			defer m.Store().Close()
			if err := m.Forget(cmd.Context(), mf.patient); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "forgot patient %s\n", mf.patient)
			return nil
		},
	}
	mf.register(cmd, true)
	return cmd
}

func newMemoryListCmd() *cobra.Command {
	var mf memoryFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the patient ids with stored memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := mf.open(cmd)
			if err != nil {
				return err
			}
			defer m.Store().Close()
			ps, err := m.Store().Patients(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range ps {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	mf.register(cmd, false)
	return cmd
}

func newMemoryKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new random encryption key file (for --key-file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := memory.NewKeyFile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s; keep it apart from the data, losing it loses the memory\n", args[0])
			return nil
		},
	}
}
