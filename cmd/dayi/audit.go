package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"dayi/audit"
	"dayi/webui"
)

// defaultAuditKey and defaultAuditLog are where dayi serve keeps its audit
// key and log unless told otherwise.
func defaultAuditKey() string { return filepath.Join(dayiHome(), "audit.key") }
func defaultAuditLog() string { return filepath.Join(dayiHome(), "audit", "audit.jsonl") }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with dayi serve's audit log",
		Long: `dayi serve writes an audit log (by default ` + "$DAYI_HOME/audit/audit.jsonl" + `) sealed with the
key in $DAYI_HOME/audit.key: every record carries an HMAC chained to the one before, and
FILE.head, signed with the same key, says how many records there are. Keep a copy of the
key somewhere safe: without it no log can be verified. Anyone who holds it can forge a log.`}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditFindPatientCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var (
		keyPath string
		asJSON  bool
		legacy  bool
		pgDSN   string
		pgTable string
	)
	cmd := &cobra.Command{
		Use:   "verify FILE | verify --pg DSN",
		Short: "Check an audit log against its key and head; report the first altered, missing, reordered or cut record",
		Long: `Check every record's HMAC, sequence number and link to the record before it, then that
FILE.head is signed with the key and seals a record the file holds. Reports the first problem:
altered (a record was edited), rebuilt (nothing from there on verifies: written without the key,
or the wrong --key), missing (records deleted), reordered, link (a record spliced from another
log), truncated or malformed lines, cut (the head names more records than the file has, or the
head is gone), head (the head is forged or seals another record). Exit status 1 on any problem.

A head one or more records behind the file is not a problem: the server stopped between writing
a record and its head; the extra records verify with the key. dayi serve seals them on start.

Logs written by dayi before the keyed format use an unkeyed SHA-256 chain; --legacy-unkeyed
checks such a log, which proves only that it is self-consistent: anyone could have rebuilt it.

--pg DSN verifies the log that replicas keep in PostgreSQL (dayi serve --audit-pg): the same
records in sequence-number order and the signed head row, with the same findings.`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			out := cmd.OutOrStdout()
			if (pgDSN != "") == (len(args) == 1) {
				return errors.New("give either FILE or --pg DSN")
			}
			if pgDSN != "" {
				args = []string{"postgres:" + pgTableName(pgTable)}
			}
			if legacy {
				return verifyLegacy(out, args[0], asJSON)
			}
			if keyPath == "" {
				keyPath = defaultAuditKey()
			}
			key, err := audit.LoadKey(keyPath, false)
			if err != nil {
				return err
			}
			var rep audit.Report
			if pgDSN != "" {
				rep, err = audit.VerifyPG(cmd.Context(), pgDSN, pgTable, key)
			} else {
				rep, err = audit.VerifyFile(args[0], key)
			}
			if err != nil && rep.Problem == nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if rep.OK {
				fmt.Fprintf(out, "%s: OK, %d records sealed by the key", args[0], rep.Records)
				if rep.HeadBehind > 0 {
					fmt.Fprintf(out, "; the head is %d record(s) behind (the server stopped between a record and its head update; those records verify)", rep.HeadBehind)
				}
				if rep.TornBytes > 0 {
					fmt.Fprintf(out, "; the last %d bytes are a record cut short by a crash, never sealed (dayi serve removes them)", rep.TornBytes)
				}
				fmt.Fprintln(out)
			}
			if rep.Problem != nil {
				return fmt.Errorf("%s: NOT VERIFIED: %v (%d records verify before it)", args[0], rep.Problem, rep.Records)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the audit key file (default $DAYI_HOME/audit.key)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&legacy, "legacy-unkeyed", false, "check a log from before the keyed format (unkeyed SHA-256 chain; proves little)")
	cmd.Flags().StringVar(&pgDSN, "pg", "", "verify the log dayi serve --audit-pg keeps in this PostgreSQL DSN instead of a FILE")
	cmd.Flags().StringVar(&pgTable, "pg-table", "", "its table (default "+audit.DefaultPGTable+")")
	return cmd
}

func verifyLegacy(out io.Writer, path string, asJSON bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := audit.VerifyLegacy(f)
	var ve *audit.VerifyError
	if err != nil && !errors.As(err, &ve) {
		return fmt.Errorf("%s: %w", path, err)
	}
	if asJSON {
		rep := map[string]any{"file": path, "ok": err == nil, "records": st.Records, "last": st.Last, "unkeyed": true}
		if ve != nil {
			rep["problem"] = ve
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err == nil {
		fmt.Fprintf(out, "%s: self-consistent, %d records (UNKEYED: anyone could have cut or rebuilt this log)\n", path, st.Records)
	}
	if err != nil {
		return fmt.Errorf("%s: NOT VERIFIED: %v (%d records verify before it)", path, ve, st.Records)
	}
	return nil
}

func newAuditFindPatientCmd() *cobra.Command {
	var (
		keyPath string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "find-patient ID|- [FILE...]",
		Short: "Print the audit records about one patient",
		Long: `The audit log never holds a patient id, only its keyed hash (patient_hash: HMAC-SHA256
under a sub-key of the audit key). find-patient computes that hash for ID and prints the
records that carry it, from each FILE (default $DAYI_HOME/audit/audit.jsonl). Give - as ID
to read it from standard input, so it stays out of the shell history and the process list.
It does not verify the log: run 'dayi audit verify' for that.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			id := args[0]
			if id == "-" {
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
				if err != nil && err != io.EOF {
					return err
				}
				id = strings.TrimSpace(line)
			}
			if id == "" {
				return errors.New("empty patient id")
			}
			if keyPath == "" {
				keyPath = defaultAuditKey()
			}
			key, err := audit.LoadKey(keyPath, false)
			if err != nil {
				return err
			}
			files := args[1:]
			if len(files) == 0 {
				files = []string{defaultAuditLog()}
			}
			hash := key.PatientHash(id)
			needle := []byte(hash)
			var records []json.RawMessage
			out := cmd.OutOrStdout()
			for _, path := range files {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				sc := bufio.NewScanner(f)
				sc.Buffer(make([]byte, 64<<10), 16<<20)
				for sc.Scan() {
					// The hash may appear inside another field (a
					// request id is the client's choice): match the field.
					var rec struct {
						PatientHash string `json:"patient_hash"`
					}
					if !bytes.Contains(sc.Bytes(), needle) || json.Unmarshal(sc.Bytes(), &rec) != nil || rec.PatientHash != hash {
						continue
					}
					if asJSON {
						records = append(records, json.RawMessage(bytes.Clone(sc.Bytes())))
					} else {
						fmt.Fprintf(out, "%s\n", sc.Bytes())
					}
				}
				err = sc.Err()
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			if asJSON {
				if records == nil {
					records = []json.RawMessage{}
				}
				return json.NewEncoder(out).Encode(map[string]any{"patient_hash": hash, "records": records})
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the audit key file (default $DAYI_HOME/audit.key)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {patient_hash, records} as JSON")
	return cmd
}

// auditFlags are dayi serve's audit options.
type auditFlags struct {
	path     string
	keyPath  string
	off      bool
	content  bool
	failOpen bool
	pg       string // PostgreSQL DSN: the log several replicas share
	pgTable  string
}

// pgTableName is the audit table's name as reports show it.
func pgTableName(t string) string {
	if t == "" {
		return audit.DefaultPGTable
	}
	return t
}

func (a *auditFlags) register(f interface {
	BoolVar(*bool, string, bool, string)
	StringVar(*string, string, string, string)
}) {
	f.StringVar(&a.path, "audit", "", "the sealed audit log (default $DAYI_HOME/audit/audit.jsonl)")
	f.StringVar(&a.keyPath, "audit-key", "", "the key that seals the audit log (default $DAYI_HOME/audit.key, created on first use, mode 0600)")
	f.BoolVar(&a.off, "no-audit", false, "keep no audit log")
	f.BoolVar(&a.content, "audit-content", false, "also audit prompt and output text, with PHI redacted")
	f.BoolVar(&a.failOpen, "audit-fail-open", false, "when the audit log cannot be written, log it and serve anyway (default: answer 503)")
	f.StringVar(&a.pg, "audit-pg", os.Getenv("DAYI_AUDIT_PG"), "PostgreSQL DSN of an audit log that replicas share, instead of the file (default $DAYI_AUDIT_PG)")
	f.StringVar(&a.pgTable, "audit-pg-table", "", "table of the --audit-pg log (default "+audit.DefaultPGTable+")")
}

// open opens the audit log serve writes, or returns nil with --no-audit.
// The log's directory is created 0700; its key is created on first use.
func (a *auditFlags) open(log *slog.Logger) (*audit.Logger, error) {
	if a.off {
		if a.path != "" || a.content {
			return nil, errors.New("--no-audit contradicts --audit and --audit-content")
		}
		return nil, nil
	}
	if a.pg != "" {
		if a.path != "" {
			return nil, errors.New("--audit-pg contradicts --audit: the log is in PostgreSQL or in a file")
		}
		keyPath := a.keyPath
		if keyPath == "" {
			keyPath = defaultAuditKey()
		}
		key, err := audit.LoadKey(keyPath, true)
		if err != nil {
			return nil, err
		}
		return audit.OpenPG(context.Background(), a.pg, a.pgTable, key, a.content)
	}
	path, keyPath := a.path, a.keyPath
	if path == "" {
		path = defaultAuditLog()
	}
	if keyPath == "" {
		keyPath = defaultAuditKey()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	key, err := audit.LoadKey(keyPath, true)
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(path, key, a.content)
	if err != nil {
		return nil, err
	}
	if n := l.TornBytes(); n > 0 {
		log.Warn("audit log ended in a record cut short by a crash; removed it (it was never sealed)", "file", path, "bytes", n)
	}
	if n := l.HeadBehind(); n > 0 {
		log.Warn("audit log head was behind the file (the server stopped between a record and its head update); resealed", "file", path, "records", n)
	}
	return l, nil
}

// verifier checks the log these flags open, from its first record, as
// 'dayi audit verify' does: the web app's admin page shows the result.
func (a *auditFlags) verifier() webui.AuditVerifier {
	return func(ctx context.Context) (audit.Report, error) {
		keyPath := a.keyPath
		if keyPath == "" {
			keyPath = defaultAuditKey()
		}
		key, err := audit.LoadKey(keyPath, false)
		if err != nil {
			return audit.Report{}, err
		}
		if a.pg != "" {
			return audit.VerifyPG(ctx, a.pg, a.pgTable, key)
		}
		path := a.path
		if path == "" {
			path = defaultAuditLog()
		}
		return audit.VerifyFile(path, key)
	}
}
