package main

import (
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dayi/eval"
	"dayi/knowledge"
)

// kbEvalNote is printed under every kb eval table (and in its JSON): the
// numbers of a dense or rerank row are the model's, and a random-weight
// model's are noise.
const kbEvalNote = "BM25 rows depend only on the set. Dense and rerank rows measure the models given: with a random-weight " +
	"model (dayi's synthetic tiny-* test fixtures, or `dayi bench synth` files) they only show that the pipeline runs, not retrieval quality."

func newKBEvalCmd() *cobra.Command {
	var kf kbFlags
	var asJSON bool
	var setDir string
	cmd := &cobra.Command{
		Use:   "eval --set DIR [--embed-model M] [--rerank-model R] [--json]",
		Short: "Measure retrieval (recall@1, recall@5, MRR@10) on a set of queries with known answers",
		Long: `Indexes the passages of a retrieval set (DIR/passages.jsonl, DIR/queries.jsonl; dayi's own zh/en
medical set is eval/retrieval) into a temporary knowledge base, as kb add does, and runs every query
as kb query does: BM25 alone; with --embed-model, BM25 and the embeddings fused by reciprocal rank;
with --rerank-model, the reranker over the top 50 of the previous pipeline. It reports recall@1,
recall@5 and MRR@10 for each, overall and by query→passage language.

` + kbEvalNote,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if setDir == "" {
				return fmt.Errorf("kb eval: --set DIR is required")
			}
			set, err := eval.LoadRetrievalSet(setDir)
			if err != nil {
				return err
			}
			var opt knowledge.Options
			if err := useKBModels(&opt, kf.embedModel, kf.rerankModel); err != nil {
				return err
			}
			ropt := eval.RetrievalOptions{Embedder: opt.Embedder, Reranker: opt.Reranker}
			if kf.rerankModel != "" {
				ropt.RerankName = modelName(kf.rerankModel)
			}
			rep, err := eval.EvalRetrieval(cmd.Context(), set, ropt)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					*eval.RetrievalReport
					Note string `json:"note"`
				}{rep, kbEvalNote})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d passages, %d queries", rep.Passages, rep.Queries)
			if rep.EmbedModel != "" {
				fmt.Fprintf(w, ", embeddings %s", rep.EmbedModel)
			}
			if rep.RerankModel != "" {
				fmt.Fprintf(w, ", reranker %s", rep.RerankModel)
			}
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tQUERIES\tRECALL@1\tRECALL@5\tMRR@10")
			for _, r := range rep.Runs {
				fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\n", r.Pipeline, r.Queries, r.RecallAt1, r.RecallAt5, r.MRRAt10)
				groups := make([]string, 0, len(r.ByGroup))
				for g := range r.ByGroup {
					groups = append(groups, g)
				}
				slices.Sort(groups)
				for _, g := range groups {
					m := r.ByGroup[g]
					fmt.Fprintf(tw, "  %s\t%d\t%.3f\t%.3f\t%.3f\n", g, m.Queries, m.RecallAt1, m.RecallAt5, m.MRRAt10)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, "note:", kbEvalNote)
			return nil
		},
	}
	cmd.Flags().StringVar(&setDir, "set", "", "retrieval set directory (passages.jsonl, queries.jsonl), e.g. eval/retrieval")
	cmd.Flags().StringVar(&kf.embedModel, "embed-model", "", "GGUF embedding model: adds the BM25+dense pipeline")
	cmd.Flags().StringVar(&kf.rerankModel, "rerank-model", "", "reranker GGUF: adds a pipeline reordering the top 50")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
