package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/engine"
	"dayi/knowledge"
	"dayi/tokenizer"
)

// kbFlags are shared by the kb subcommands.
type kbFlags struct {
	name        string
	embedModel  string
	rerankModel string // kb query --rerank-model
	tokModel    string
	chunk       int
	pg          string // PostgreSQL DSN of shared knowledge bases (--pg)
}

// library opens the knowledge-base library under $DAYI_HOME/kb, with the
// tokenizer and embedding model the flags name.
func (kf *kbFlags) library(withEmbed bool) (*knowledge.Library, func(), error) {
	lib := &knowledge.Library{Dir: filepath.Join(dayiHome(), "kb"), Options: knowledge.Options{ChunkTokens: kf.chunk}}
	closeAll := func() {}
	if kf.pg != "" {
		db, err := knowledge.OpenPG(context.Background(), kf.pg, "")
		if err != nil {
			return nil, nil, err
		}
		lib.PG = db
		closeAll = db.Close
	}
	if kf.tokModel != "" {
		f, err := openModelFile(kf.tokModel)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		tok, err := tokenizer.FromGGUF(f)
		if err != nil {
			f.Close()
			closeAll()
			return nil, nil, fmt.Errorf("%s: tokenizer: %w", kf.tokModel, err)
		}
		lib.Options.CountTokens = func(s string) int { return len(tok.Encode(s, false, false)) }
		lib.Options.CounterName = "tokenizer:" + modelName(kf.tokModel)
		closePG := closeAll
		closeAll = func() { f.Close(); closePG() }
	}
	if withEmbed {
		if err := useKBModels(&lib.Options, kf.embedModel, kf.rerankModel); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return lib, closeAll, nil
}

// useKBModels loads the embedding model and the reranker a knowledge base
// retrieves with (either may be empty) into opt.
func useKBModels(opt *knowledge.Options, embedModel, rerankModel string) error {
	if embedModel != "" {
		mf := modelFlags{model: embedModel, kvType: "f16"}
		lm, _, err := mf.load()
		if err != nil {
			return fmt.Errorf("embedding model: %w", err)
		}
		opt.Embedder = &lmEmbedder{lm: lm, name: modelName(embedModel)}
	}
	if rerankModel != "" {
		mf := modelFlags{model: rerankModel, kvType: "f16"}
		lm, _, err := mf.load()
		if err != nil {
			return fmt.Errorf("reranker: %w", err)
		}
		if !lm.IsReranker() {
			return fmt.Errorf("reranker: %s is not a reranker (no classifier head with rank pooling)", modelName(rerankModel))
		}
		opt.Reranker = lmReranker{lm}
	}
	return nil
}

func modelName(path string) string {
	if path == "" {
		return "dayi-tiny"
	}
	return filepath.Base(path)
}

// lmEmbedder adapts an engine.LM to knowledge.Embedder; texts longer than
// the model's context are cut to it.
type lmEmbedder struct {
	lm   *engine.LM
	name string
}

func (e *lmEmbedder) Name() string { return e.name }

// Embed goes through EmbedBatch, which runs encoders (bert, nomic-bert,
// XLM-R) as well as a chat model's mean hidden state.
func (e *lmEmbedder) Embed(ctx context.Context, text string) ([]float32, error) {
	v, _, err := e.lm.EmbedBatch(ctx, []string{text}, true)
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

// EmbedBatch embeds many texts in one step (knowledge.Reembed uses it).
func (e *lmEmbedder) EmbedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	v, _, err := e.lm.EmbedBatch(ctx, texts, true)
	return v, err
}

// lmReranker adapts a reranker engine.LM to knowledge.Reranker.
type lmReranker struct{ lm *engine.LM }

func (r lmReranker) Rank(ctx context.Context, query string, docs []string) ([]float32, error) {
	s, _, err := r.lm.RankBatch(ctx, query, docs)
	return s, err
}

func newKBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kb",
		Short: "Manage hospital knowledge bases used to ground answers (RAG)",
		Long: `Knowledge bases live under $DAYI_HOME/kb/NAME. Documents (.txt, .md, .html, .jsonl) are cut
into chunks at headings and sentence ends, indexed for BM25 (Chinese and English) and, with
--embed-model, for dense retrieval. Re-adding unchanged files costs nothing; changed files
replace their old chunks.`,
	}
	cmd.AddCommand(newKBAddCmd(), newKBQueryCmd(), newKBListCmd(), newKBRmCmd(), newKBReembedCmd(), newKBEvalCmd())
	return cmd
}

func (kf *kbFlags) register(cmd *cobra.Command, embed bool) {
	cmd.Flags().StringVar(&kf.name, "kb", "", "knowledge base name (required)")
	cmd.Flags().StringVar(&kf.pg, "pg", os.Getenv("DAYI_KB_PG"), "PostgreSQL DSN of the knowledge bases several servers share, as dayi serve --kb-pg (default $DAYI_KB_PG; none: $DAYI_HOME/kb)")
	if embed {
		cmd.Flags().StringVar(&kf.embedModel, "embed-model", "", "GGUF model for dense embeddings (must be the same for add and query)")
	}
}

func newKBAddCmd() *cobra.Command {
	var kf kbFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add --kb NAME PATH...",
		Short: "Add files or directories to a knowledge base",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kf.name == "" {
				return fmt.Errorf("kb add: --kb NAME is required")
			}
			lib, done, err := kf.library(true)
			if err != nil {
				return err
			}
			defer done()
			var bar *progressbar.ProgressBar
			if term.IsTerminal(int(os.Stderr.Fd())) {
				lib.Options.Progress = func(n, total int64, path string) {
					if bar == nil {
						bar = progressbar.DefaultBytes(total, "indexing")
					}
					_ = bar.Set64(n)
				}
			}
			k, err := lib.Open(kf.name)
			if err != nil {
				return err
			}
			defer k.Close()
			rep, err := k.Add(cmd.Context(), args)
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if asJSON {
				if perr := printJSON(cmd.OutOrStdout(), rep); perr != nil {
					return perr
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "%s: %d added, %d updated, %d unchanged, %d chunks written, %d skipped\n",
					kf.name, len(rep.Added), len(rep.Updated), len(rep.Unchanged), rep.Chunks, len(rep.Skipped))
				for _, s := range rep.Skipped {
					fmt.Fprintf(w, "  skipped %s: %s\n", s.Path, s.Reason)
				}
			}
			return err
		},
	}
	kf.register(cmd, true)
	cmd.Flags().IntVar(&kf.chunk, "chunk-tokens", 256, "maximum chunk size in tokens")
	cmd.Flags().StringVar(&kf.tokModel, "tokenizer", "", "GGUF model whose tokenizer sizes chunks (default: an estimate, 1 token per Chinese character)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// kbHit is one query result as printed.
type kbHit struct {
	ID       int     `json:"id"`
	Source   string  `json:"source"`
	Title    string  `json:"title"`
	Location string  `json:"location"`
	Score    float64 `json:"score"`
	Text     string  `json:"text"`
}

func newKBQueryCmd() *cobra.Command {
	var kf kbFlags
	var asJSON bool
	var k int
	cmd := &cobra.Command{
		Use:   "query --kb NAME [--json] [-k N] QUERY",
		Short: "Show the chunks a question retrieves",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kf.name == "" {
				return fmt.Errorf("kb query: --kb NAME is required")
			}
			lib, done, err := kf.library(true)
			if err != nil {
				return err
			}
			defer done()
			kb, err := lib.OpenReadOnly(kf.name)
			if err != nil {
				return err
			}
			defer kb.Close()
			q := strings.Join(args, " ")
			depth := k
			if lib.Options.Reranker != nil {
				depth = max(k, knowledge.RerankDepth)
			}
			hits, err := kb.Query(cmd.Context(), q, depth)
			if err != nil {
				return err
			}
			if r := lib.Options.Reranker; r != nil {
				if hits, err = knowledge.Rerank(cmd.Context(), r, q, hits, k); err != nil {
					return err
				}
			}
			out := make([]kbHit, len(hits))
			for i, h := range hits {
				out[i] = kbHit{ID: h.ID, Source: h.Source, Title: h.Title, Location: h.Location, Score: h.Score, Text: h.Text}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			for i, h := range out {
				where := h.Source + " — " + h.Title
				if h.Location != "" {
					where += " (" + h.Location + ")"
				}
				fmt.Fprintf(w, "[%d] %.4f  %s\n    %s\n", i+1, h.Score, where, h.Text)
			}
			if len(out) == 0 {
				fmt.Fprintln(w, "no match")
			}
			return nil
		},
	}
	kf.register(cmd, true)
	cmd.Flags().StringVar(&kf.rerankModel, "rerank-model", "", "reranker GGUF (e.g. bge-reranker-v2-m3) that reorders the top 50 by its scores; the score printed is then the reranker's")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results as JSON (source, title, location, score, text)")
	cmd.Flags().IntVarP(&k, "k", "k", 5, "number of results")
	return cmd
}

func newKBListCmd() *cobra.Command {
	var kf kbFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--kb NAME]",
		Short: "List knowledge bases, or the files of one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, done, err := kf.library(false)
			if err != nil {
				return err
			}
			defer done()
			w := cmd.OutOrStdout()
			if kf.name != "" {
				kb, err := lib.OpenReadOnly(kf.name)
				if err != nil {
					return err
				}
				defer kb.Close()
				files, err := kb.Files()
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(w, files)
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SOURCE\tCHUNKS\tBYTES\tADDED")
				for _, f := range files {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", f.Source, f.Chunks, f.Size, f.Added.Local().Format("2006-01-02 15:04"))
				}
				return tw.Flush()
			}
			names, err := lib.List()
			if err != nil {
				return err
			}
			type row struct {
				Name string `json:"name"`
				knowledge.Stats
			}
			var rows []row
			for _, n := range names {
				kb, err := lib.OpenReadOnly(n)
				if err != nil {
					return err
				}
				st, err := kb.Stats()
				kb.Close()
				if err != nil {
					return fmt.Errorf("knowledge base %s: %w", n, err)
				}
				rows = append(rows, row{n, st})
			}
			if asJSON {
				return printJSON(w, rows)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFILES\tCHUNKS\tSIZE\tEMBEDDINGS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f MB\t%s\n", r.Name, r.Files, r.Chunks, float64(r.Bytes)/1e6, r.EmbedModel)
			}
			return tw.Flush()
		},
	}
	kf.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newKBRmCmd() *cobra.Command {
	var kf kbFlags
	cmd := &cobra.Command{
		Use:   "rm --kb NAME [PATH...]",
		Short: "Remove files from a knowledge base, or the whole knowledge base",
		RunE: func(cmd *cobra.Command, args []string) error {
			if kf.name == "" {
				return fmt.Errorf("kb rm: --kb NAME is required")
			}
			lib, done, err := kf.library(false)
			if err != nil {
				return err
			}
			defer done()
			if len(args) == 0 {
				if err := lib.Remove(kf.name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed knowledge base %s\n", kf.name)
				return nil
			}
			kb, err := lib.Open(kf.name)
			if err != nil {
				return err
			}
			defer kb.Close()
			n, err := kb.Remove(args)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d files from %s\n", n, kf.name)
			return nil
		},
	}
	kf.register(cmd, false)
	return cmd
}
