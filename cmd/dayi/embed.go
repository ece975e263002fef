package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// maxStdinLine bounds one text read from stdin by dayi embed: a longer line
// is an error naming its number rather than an unbounded allocation.
const maxStdinLine = 4 << 20

// embedOutput is dayi embed --json: the shape of Ollama's /api/embed answer,
// so a script can switch between the command and the server.
type embedOutput struct {
	Model      string      `json:"model"`
	Embeddings [][]float32 `json:"embeddings"`
}

func newEmbedCmd() *cobra.Command {
	var mf modelFlags
	var asJSON, truncate bool
	cmd := &cobra.Command{
		Use:   "embed --model M [--json] [TEXT...]",
		Short: "Print the embedding of each text (one per argument, or one per stdin line)",
		Long: `Embeds each TEXT with an embedding model (bert, nomic-bert, XLM-R such as bge-m3; a chat model
embeds with its mean hidden state) and prints one L2-normalised vector per text, in order: one line
of space-separated numbers each, or with --json {"model", "embeddings"} as Ollama's /api/embed.
Without TEXT arguments, each non-empty line of stdin is a text.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			texts := args
			if len(texts) == 0 {
				var err error
				if texts, err = readLines(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			if len(texts) == 0 {
				return fmt.Errorf("embed: no text (give TEXT arguments or lines on stdin)")
			}
			lm, _, err := mf.load()
			if err != nil {
				return err
			}
			vecs, _, err := lm.EmbedBatch(cmd.Context(), texts, truncate)
			if err != nil {
				return fmt.Errorf("embed: %w", err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, embedOutput{Model: modelName(mf.model), Embeddings: vecs})
			}
			bw := bufio.NewWriter(w)
			for _, v := range vecs {
				for j, x := range v {
					if j > 0 {
						bw.WriteByte(' ')
					}
					bw.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
				}
				bw.WriteByte('\n')
			}
			return bw.Flush()
		},
	}
	mf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"model", "embeddings"} as JSON`)
	cmd.Flags().BoolVar(&truncate, "truncate", false, "cut texts longer than the context instead of failing")
	return cmd
}

// readLines reads the non-empty lines of r, each at most maxStdinLine bytes.
func readLines(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxStdinLine)
	var out []string
	n := 0
	for sc.Scan() {
		n++
		if s := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stdin line %d: %w", n+1, err)
	}
	return out, nil
}

// rerankHit is one dayi rerank result, as /v1/rerank's results (with the
// document's text for the reader).
type rerankHit struct {
	Index          int     `json:"index"`
	RelevanceScore float64 `json:"relevance_score"`
	Document       string  `json:"document"`
}

func newRerankCmd() *cobra.Command {
	var mf modelFlags
	var asJSON bool
	var query string
	var topN int
	cmd := &cobra.Command{
		Use:   "rerank --model M --query Q [--top-n N] [--json] DOC...",
		Short: "Score documents for a query with a reranker and print them best first",
		Long: `Scores each DOC for the query with a reranker model (rank pooling and a classifier head, such
as bge-reranker-v2-m3) and prints the documents best first with their index in the arguments and
the raw score (as llama.cpp's /v1/rerank reports it: higher is more relevant). --json prints
[{"index", "relevance_score", "document"}].`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if query == "" {
				return fmt.Errorf("rerank: --query is required")
			}
			if topN < 0 {
				return fmt.Errorf("rerank: --top-n %d: must be 0 (all) or more", topN)
			}
			lm, _, err := mf.load()
			if err != nil {
				return err
			}
			if !lm.IsReranker() {
				return fmt.Errorf("rerank: %s is not a reranker (no classifier head with rank pooling)", modelName(mf.model))
			}
			scores, _, err := lm.RankBatch(cmd.Context(), query, args)
			if err != nil {
				return fmt.Errorf("rerank: %w", err)
			}
			hits := make([]rerankHit, len(args))
			for i, d := range args {
				hits[i] = rerankHit{Index: i, RelevanceScore: float64(scores[i]), Document: d}
			}
			// Stable, so equal scores keep the documents' order.
			slices.SortStableFunc(hits, func(a, b rerankHit) int { return cmp.Compare(b.RelevanceScore, a.RelevanceScore) })
			if topN > 0 && topN < len(hits) {
				hits = hits[:topN]
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, hits)
			}
			for _, h := range hits {
				fmt.Fprintf(w, "%d\t%.6f\t%s\n", h.Index, h.RelevanceScore, h.Document)
			}
			return nil
		},
	}
	mf.register(cmd)
	cmd.Flags().StringVarP(&query, "query", "q", "", "the query the documents are scored for (required)")
	cmd.Flags().IntVarP(&topN, "top-n", "n", 0, "print only the N best (0 = all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print [{"index", "relevance_score", "document"}] as JSON`)
	return cmd
}
