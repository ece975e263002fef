package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"dayi/auth"
)

// defaultKeysFile is $DAYI_HOME/keys.json, what `dayi serve` reads.
func defaultKeysFile() string { return filepath.Join(dayiHome(), auth.FileName) }

func scopeHelp() string {
	return `Scopes:
  generate  generate, chat, completions, embeddings; list and show models
  kb:read   answers grounded in a knowledge base (the "knowledge" field)
  kb:write  changes to knowledge bases
  memory    any request naming a patient ("patient_id"), /api/memory*
  clinic    the /api/clinic/* workflows (a patient_id there also needs memory)
  admin     create/copy/delete/pull models, /api/ps, /metrics, keep_alive < 0`
}

func newKeysCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the API keys dayi serve accepts, each with its scopes",
		Long: `Manage the API keys of 'dayi serve'. Keys live in $DAYI_HOME/keys.json (mode 0600), which holds
each key's name, scopes, creation time and the SHA-256 of the key, never the key itself: 'dayi keys
add' prints a new key once. A running server sees additions and removals within seconds.
Clients send "Authorization: Bearer KEY". Keys start with "dayi_", so a leaked one is easy to find.

` + scopeHelp(),
	}
	cmd.PersistentFlags().StringVar(&file, "keys", "", "keys file (default $DAYI_HOME/keys.json)")
	path := func() string {
		if file != "" {
			return file
		}
		return defaultKeysFile()
	}

	var (
		name    string
		scopes  []string
		addJSON bool
	)
	add := &cobra.Command{
		Use:   "add --name NAME --scope S[,S...]",
		Short: "Make a new key and print it once",
		Long:  "Make a new random key with the given scopes, store its hash, and print the key once: it cannot be shown again.\n\n" + scopeHelp(),
		Example: `  dayi keys add --name ward7-nurses --scope generate,memory,clinic
  dayi keys add --name ops --scope admin --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return fmt.Errorf("--name is required")
			}
			sc, err := auth.ParseScopes(scopes)
			if err != nil {
				return fmt.Errorf("--scope: %w", err)
			}
			p := path()
			var key string
			err = auth.Update(p, func(kf *auth.File) error {
				var err error
				key, err = kf.Add(name, sc, time.Now())
				return err
			})
			if err != nil {
				return err
			}
			if addJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					Name   string       `json:"name"`
					Key    string       `json:"key"`
					Scopes []auth.Scope `json:"scopes"`
				}{name, key, sc})
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			fmt.Fprintf(cmd.ErrOrStderr(), "key %q (%s) added to %s; store it now, it is not shown again\n", name, joinScopes(sc), p)
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "name of the key (letters, digits, - _ . @); shown in the audit log")
	add.Flags().StringSliceVar(&scopes, "scope", nil, "scopes, comma-separated or repeated")
	add.Flags().BoolVar(&addJSON, "json", false, `print {"name","key","scopes"} as JSON`)

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys (names, scopes, creation times; never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kf, err := auth.LoadOrEmpty(path())
			if err != nil {
				return err
			}
			type row struct {
				Name    string       `json:"name"`
				Scopes  []auth.Scope `json:"scopes"`
				Created time.Time    `json:"created"`
			}
			rows := []row{}
			for _, k := range kf.Keys {
				rows = append(rows, row{k.Name, k.Scopes, k.Created})
			}
			if listJSON {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, joinScopes(r.Scopes), r.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove (revoke) a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := path()
			err := auth.Update(p, func(kf *auth.File) error {
				if err := kf.Remove(args[0]); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "key %q removed from %s\n", args[0], p)
			return nil
		},
	}
	cmd.AddCommand(add, list, rm)
	return cmd
}

func joinScopes(sc []auth.Scope) string {
	s := make([]string, len(sc))
	for i, x := range sc {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}
