package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"dayi/memory"
)

// memoryFlags choose the patient-memory store: the embedded file under
// $DAYI_HOME/memory, or PostgreSQL; always encrypted, with the key file
// --memory-key names or $DAYI_HOME/memory.key.
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
	cmd.Flags().StringVar(&mf.keyFile, "memory-key", os.Getenv("DAYI_MEMORY_KEY"), memoryKeyUsage)
	cmd.Flags().StringVar(&mf.keyFile, "key-file", os.Getenv("DAYI_MEMORY_KEY"), "same as --memory-key")
	_ = cmd.Flags().MarkDeprecated("key-file", "use --memory-key")
}

const memoryKeyUsage = "AES-256 key file encrypting patient memory (default $DAYI_MEMORY_KEY, else $DAYI_HOME/memory.key, created on first use)"

// defaultMemoryKey is the key file used when none is named.
func defaultMemoryKey() string { return filepath.Join(dayiHome(), "memory.key") }

// memoryKey reads the key file named, or the default one, creating the
// default on first use and saying so once on warn: the key is the only way
// into the memory, so it must be backed up.
func memoryKey(keyFile string, warn io.Writer) ([]byte, error) {
	if keyFile != "" {
		return memory.LoadKey(keyFile)
	}
	path := defaultMemoryKey()
	key, created, err := memory.LoadOrCreateKey(path)
	if created {
		fmt.Fprintf(warn, "dayi: created the patient-memory encryption key %s (mode 0600). Back it up apart from the memory: losing it loses the memory.\n", path)
	}
	return key, err
}

// openRawMemoryStore opens the store without its key (for migration).
func openRawMemoryStore(ctx context.Context, pg string) (memory.Store, error) {
	if pg != "" {
		return memory.OpenPG(ctx, pg, "")
	}
	return memory.OpenBolt(filepath.Join(dayiHome(), "memory", "memory.db"))
}

// openMemoryStore opens the store the flags (or a server's settings) name,
// encrypted; the key-creation note goes to stderr.
func openMemoryStore(ctx context.Context, pg, keyFile string) (memory.Store, error) {
	return openMemoryStoreTo(ctx, pg, keyFile, os.Stderr)
}

func openMemoryStoreTo(ctx context.Context, pg, keyFile string, warn io.Writer) (memory.Store, error) {
	key, err := memoryKey(keyFile, warn)
	if err != nil {
		return nil, err
	}
	s, err := openRawMemoryStore(ctx, pg)
	if err != nil {
		return nil, err
	}
	e, err := memory.OpenEncrypted(ctx, s, key)
	if err != nil {
		s.Close()
		if errors.Is(err, memory.ErrNotEncrypted) {
			return nil, fmt.Errorf("%w; run 'dayi memory encrypt' with the same --memory-key (and --pg) to encrypt it", err)
		}
		return nil, err
	}
	return e, nil
}

func (mf *memoryFlags) open(cmd *cobra.Command) (*memory.Memory, error) {
	s, err := openMemoryStoreTo(cmd.Context(), mf.pg, mf.keyFile, cmd.ErrOrStderr())
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
PostgreSQL with --pg.

Stored text is always encrypted (AES-256-GCM) with the key file --memory-key names, else
$DAYI_HOME/memory.key, created (mode 0600) on first use. Back that file up apart from the
memory: without it the memory cannot be read. Servers sharing one PostgreSQL store need the
same key file. A store written by an older dayi without encryption is refused until
'dayi memory encrypt' migrates it.`,
	}
	cmd.AddCommand(newMemoryShowCmd(), newMemoryExportCmd(), newMemoryForgetCmd(), newMemoryListCmd(), newMemoryKeygenCmd(),
		newMemoryEncryptCmd())
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

func newMemoryEncryptCmd() *cobra.Command {
	var mf memoryFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "encrypt [--memory-key FILE] [--pg DSN]",
		Short: "Encrypt a patient-memory store written without encryption",
		Long: `encrypt seals every unencrypted record of the store with the memory key (--memory-key, else
$DAYI_HOME/memory.key, created on first use), one patient per transaction, then marks the store
encrypted so that it refuses unencrypted records from then on, and compacts the embedded file so
the plaintext does not linger in its free pages (PostgreSQL drops it at the next VACUUM). If it is
interrupted, run it again: it carries on where it stopped. Stop 'dayi serve' first when the store
is the embedded file (one process holds it at a time).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			key, err := memoryKey(mf.keyFile, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			s, err := openRawMemoryStore(ctx, mf.pg)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := memory.Encrypt(ctx, s, key, nil)
			if err != nil {
				return fmt.Errorf("memory encrypt: %w (run it again to resume)", err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "memory encrypted: %d records of %d patients sealed now, %d were sealed already\n",
				st.Records, st.Patients, st.Sealed)
			return nil
		},
	}
	mf.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMemoryKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new random encryption key file (for --memory-key)",
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
