package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/assets"
	"dayi/store"
	"dayi/weights"
)

// modelStore is the store the environment describes; $DAYI_HOME is read
// through dayiHome so both agree.
func modelStore() *store.Store {
	cfg := store.DefaultConfig()
	cfg.Dir = filepath.Join(dayiHome(), "models")
	return store.New(cfg)
}

// resolveModel turns a --model value into a path for openModelFile: "" and
// the embedded model's name stay as they are, anything else goes through the
// store (which passes file paths through).
func resolveModel(name string) (string, error) {
	if name == "" || name == assets.DefaultModelName || name == assets.DefaultModelName+":latest" {
		return assets.DefaultModelName, nil
	}
	return modelStore().Resolve(name)
}

// progressFor returns a byte progress callback drawing a bar on a terminal
// stderr (nil otherwise) and a function that clears it.
func progressFor(cmd *cobra.Command, desc string, total int64, off bool) (func(done int64), func()) {
	errOut, ok := cmd.ErrOrStderr().(*os.File)
	if off || !ok || !term.IsTerminal(int(errOut.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(errOut),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return func(n int64) { bar.Set64(n) }, func() { bar.Finish() }
}

// listEntry is a `dayi list --json` element.
type listEntry struct {
	store.Model
	Shadowed bool `json:"shadowed,omitempty"` // an earlier source has the same NAME:TAG
}

func newListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List models: $DAYI_HOME/models, $DAYI_MODELS_PATH directories and Ollama's store",
		Long: `List every model dayi can run by name, in the order names are resolved: dayi's own store
($DAYI_HOME/models, writable), the read-only directories in $DAYI_MODELS_PATH, then Ollama's
store ($OLLAMA_MODELS or ~/.ollama/models). A model hidden by an earlier one of the same name
is marked "shadowed".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := modelStore().List()
			if err != nil {
				return err
			}
			entries := []listEntry{{Model: store.Model{Name: assets.DefaultModelName, Tag: store.DefaultTag,
				Path: assets.DefaultModelName, Size: int64(len(assets.DefaultModel)), Source: "embedded"}}}
			seen := map[string]bool{entries[0].FullName(): true}
			for _, m := range ms {
				entries = append(entries, listEntry{Model: m, Shadowed: seen[m.FullName()]})
				seen[m.FullName()] = true
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tSOURCE\tMODIFIED\tDIGEST")
			for _, e := range entries {
				name := e.FullName()
				if e.Shadowed {
					name += " (shadowed)"
				}
				mod := ""
				if !e.Modified.IsZero() {
					mod = e.Modified.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, humanBytes(e.Size), e.Source, mod, shortDigest(e.Digest))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// showOutput is `dayi show --json`.
type showOutput struct {
	Model   store.Model      `json:"model"`
	License string           `json:"license,omitempty"`
	Info    *weights.Summary `json:"info"`
}

// findModel locates a model by name, path or the embedded name.
func findModel(name string) (*store.Model, error) {
	if name == assets.DefaultModelName || name == assets.DefaultModelName+":latest" {
		return &store.Model{Name: assets.DefaultModelName, Tag: store.DefaultTag, Path: assets.DefaultModelName,
			Size: int64(len(assets.DefaultModel)), Source: "embedded", License: assets.DefaultModelLicense}, nil
	}
	if store.LooksLikePath(name) {
		st, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
		m := &store.Model{Name: base, Tag: store.DefaultTag, Path: name, Size: st.Size(), Modified: st.ModTime(), Source: "file"}
		if sc, err := store.ReadSidecar(name); err == nil && sc.Size == st.Size() && sc.Modified.Equal(st.ModTime()) {
			m.Digest, m.License = sc.Digest, sc.License
		}
		return m, nil
	}
	return modelStore().Find(name)
}

// licenseOf is the licence text recorded for m, else what its GGUF says.
func licenseOf(m *store.Model, f *weights.File) string {
	if m.License != "" {
		return m.License
	}
	var parts []string
	for _, k := range []string{"general.license", "general.license.name", "general.license.link"} {
		if v := f.String(k, ""); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, "\n")
}

func newShowCmd() *cobra.Command {
	var asJSON, digest, license bool
	cmd := &cobra.Command{
		Use:   "show MODEL",
		Short: "Show where a model is, what it is, and its licence",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := findModel(args[0])
			if err != nil {
				return err
			}
			switch {
			case m.Source == "embedded":
				m.Digest = sha256Digest(assets.DefaultModel)
			case digest && m.Digest == "":
				prog, done := progressFor(cmd, "hashing", m.Size, false)
				m.Digest, err = store.FileDigest(m.Path, prog)
				done()
				if err != nil {
					return err
				}
			}
			f, err := openModelFile(m.Path)
			if err != nil {
				return err
			}
			defer f.Close()
			out := showOutput{Model: *m, License: licenseOf(m, f), Info: weights.Summarize(f, false)}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s\n  path      %s\n  source    %s\n  size      %s\n", m.FullName(), m.Path, m.Source, humanBytes(m.Size))
			if out.Model.Digest != "" {
				fmt.Fprintf(w, "  digest    %s\n", out.Model.Digest)
			}
			if m.Origin != "" {
				fmt.Fprintf(w, "  origin    %s\n", m.Origin)
			}
			i := out.Info
			fmt.Fprintf(w, "  arch      %s\n  params    %d\n  type      %s\n  context   %d\n  template  %v\n",
				i.Architecture, i.Parameters, i.FileType, i.ContextLength, i.ChatTemplate)
			switch {
			case out.License == "":
				fmt.Fprintln(w, "  licence   (none recorded)")
			case license || !strings.Contains(out.License, "\n"):
				fmt.Fprintf(w, "  licence\n%s\n", indent(out.License, "    "))
			default:
				first, _, _ := strings.Cut(strings.TrimSpace(out.License), "\n")
				fmt.Fprintf(w, "  licence   %s … (--license for all of it)\n", first)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&digest, "digest", false, "compute the sha256 when the store does not know it")
	cmd.Flags().BoolVar(&license, "license", false, "print the whole licence text")
	return cmd
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n")
}

// openSource opens a model's bytes for copying or packing.
func openSource(m *store.Model) (io.ReadCloser, error) {
	if m.Source == "embedded" {
		return io.NopCloser(bytes.NewReader(assets.DefaultModel)), nil
	}
	return os.Open(m.Path)
}

// cpResult is `dayi cp --json`.
type cpResult struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	Digest string `json:"digest"`
}

func newCpCmd() *cobra.Command {
	var asJSON, force, noProgress bool
	cmd := &cobra.Command{
		Use:   "cp SOURCE DEST",
		Short: "Copy a model into dayi's store, or out of it to a file",
		Long: `SOURCE is a model name (from any source), a GGUF file or dayi-tiny. DEST is a NAME[:TAG] in
$DAYI_HOME/models, or a file path (ending in .gguf or containing a '/') to export to, e.g. a USB disk.
The copy is written under a temporary name, checked to be a GGUF model and renamed at the end;
copying into the store records its sha256 and licence for later packs.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := findModel(args[0])
			if err != nil {
				return err
			}
			r, err := openSource(src)
			if err != nil {
				return err
			}
			defer r.Close()
			prog, done := progressFor(cmd, "copying", src.Size, noProgress)
			res := cpResult{From: src.FullName(), To: args[1], Bytes: src.Size}
			license := src.License
			if license == "" {
				if f, err := openModelFile(src.Path); err == nil {
					license = licenseOf(src, f)
					f.Close()
				}
			}
			if store.LooksLikePath(args[1]) {
				if _, err := os.Stat(args[1]); err == nil && !force {
					done()
					return fmt.Errorf("%s exists; use --force to replace it", args[1])
				}
				var digest string
				err = weights.WriteFileAtomic(args[1], func(w io.Writer) error {
					h := newHashWriter(w, prog)
					if _, err := io.Copy(h, r); err != nil {
						return err
					}
					digest = h.digest()
					return nil
				})
				done()
				if err != nil {
					return err
				}
				if err := store.CheckGGUF(args[1]); err != nil {
					os.Remove(args[1])
					return err
				}
				res.Path, res.Digest = args[1], digest
			} else {
				m, err := modelStore().Add(args[1], r, store.AddOptions{Force: force, License: license, Origin: "copied from " + src.FullName() + " (" + src.Path + ")", Progress: prog})
				done()
				if err != nil {
					return err
				}
				res.To, res.Path, res.Digest = m.FullName(), m.Path, m.Digest
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %s → %s (%s, %s)\n", res.From, res.Path, humanBytes(res.Bytes), res.Digest)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace an existing destination")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	return cmd
}

func newRmCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rm MODEL...",
		Short: "Remove models from dayi's store ($DAYI_HOME/models; other sources are read-only)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := modelStore()
			var removed []store.Model
			for _, name := range args {
				m, err := s.Remove(name)
				if err != nil {
					if asJSON && len(removed) > 0 {
						printJSON(cmd.OutOrStdout(), removed)
					}
					return err
				}
				removed = append(removed, *m)
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (%s)\n", m.FullName(), m.Path)
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), removed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func sha256Digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// hashWriter passes writes on while hashing them and reporting progress.
type hashWriter struct {
	w    io.Writer
	h    hash.Hash
	n    int64
	prog func(int64)
}

func newHashWriter(w io.Writer, prog func(int64)) *hashWriter {
	return &hashWriter{w: w, h: sha256.New(), prog: prog}
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if h.prog != nil {
		h.prog(h.n)
	}
	return n, err
}

func (h *hashWriter) digest() string { return "sha256:" + hex.EncodeToString(h.h.Sum(nil)) }
