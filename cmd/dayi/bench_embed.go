package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"dayi/engine"
)

// benchEmbedWords are the words the synthetic passages are drawn from:
// Chinese and English medical text, as a hospital knowledge base holds.
const benchEmbedWords = `patient blood pressure diabetes insulin kidney function warfarin dose bleeding risk
guideline nurse ward infection antibiotic fever cough asthma inhaler heart failure stroke
患者 血压 糖尿病 胰岛素 肾功能 华法林 剂量 出血 风险 指南 护士 病房 感染 抗生素 发热 咳嗽 哮喘 心力衰竭 卒中
monitoring treatment chronic acute symptoms diagnosis 监测 治疗 慢性 急性 症状 诊断 the of and with for in`

// benchEmbedRow is one engine's best run.
type benchEmbedRow struct {
	Engine       string    `json:"engine"`
	Model        string    `json:"model"`
	Threads      int       `json:"threads"`
	Passages     int       `json:"passages"`
	Tokens       int       `json:"tokens"`  // all passages together, with CLS and SEP
	Seconds      []float64 `json:"seconds"` // each repetition's encode time
	Best         float64   `json:"best_seconds"`
	PassagesPerS float64   `json:"passages_per_s"`
	TokensPerS   float64   `json:"tokens_per_s"`
}

func newBenchEmbedCmd() *cobra.Command {
	var mf modelFlags
	var passages, tokens, reps, llamaBatch int
	var llamaEmbedding string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "embed -m MODEL [--llama-embedding PATH] [--json]",
		Short: "Embeddings per second of an encoder, next to llama.cpp's llama-embedding",
		Long: `Makes --passages synthetic zh/en passages of exactly --tokens tokens each (with CLS and SEP, as
both engines tokenize them), and embeds them all, --reps times: with dayi in this process (after one
untimed run that compiles the graphs), and, with --llama-embedding, with llama.cpp's llama-embedding
in a fresh process each time (its own warm-up run; batch, ubatch and context --llama-batch tokens,
by default one passage per step as dayi packs 256-token passages: llama.cpp's encoder attends over
the whole ubatch with a mask, so packing 8 passages into 2048 rows costs it 8 times the attention). Engines alternate within each repetition. Times exclude loading: dayi's EmbedBatch wall
time, and llama.cpp's "prompt eval time" (llama_perf_context_print). Best of the repetitions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if mf.model == "" {
				return fmt.Errorf("bench embed: -m MODEL is required")
			}
			if passages < 1 || passages > 10000 || tokens < 4 || tokens > 8192 || reps < 1 || reps > 100 {
				return fmt.Errorf("bench embed: --passages 1..10000, --tokens 4..8192, --reps 1..100")
			}
			lm, _, err := mf.load()
			if err != nil {
				return err
			}
			if !lm.IsEncoder() {
				return fmt.Errorf("bench embed: %s is not an encoder", modelName(mf.model))
			}
			texts, total := benchEmbedTexts(lm, passages, tokens)
			ctx := cmd.Context()
			if _, _, err := lm.EmbedBatch(ctx, texts, false); err != nil { // compiles
				return err
			}
			var file string
			if llamaEmbedding != "" {
				dir, err := os.MkdirTemp("", "dayi-bench-embed-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				file = filepath.Join(dir, "passages.txt")
				if err := os.WriteFile(file, []byte(strings.Join(texts, "\n")+"\n"), 0o600); err != nil {
					return err
				}
			}
			threads := mf.threads
			rows := []*benchEmbedRow{}
			dayiRow := &benchEmbedRow{Engine: "dayi", Model: modelName(mf.model), Threads: threads, Passages: passages, Tokens: total}
			var llamaRow *benchEmbedRow
			if llamaEmbedding != "" {
				llamaRow = &benchEmbedRow{Engine: "llama.cpp", Model: modelName(mf.model), Threads: threads, Passages: passages, Tokens: total}
				rows = append(rows, llamaRow)
			}
			rows = append(rows, dayiRow)
			for r := 0; r < reps; r++ {
				if llamaRow != nil {
					s, n, err := runLlamaEmbedding(ctx, llamaEmbedding, mf.model, file, threads, max(llamaBatch, tokens))
					if err != nil {
						return err
					}
					if n != total {
						return fmt.Errorf("bench embed: llama.cpp read %d tokens, dayi %d", n, total)
					}
					llamaRow.Seconds = append(llamaRow.Seconds, s)
				}
				start := time.Now()
				if _, _, err := lm.EmbedBatch(ctx, texts, false); err != nil {
					return err
				}
				dayiRow.Seconds = append(dayiRow.Seconds, time.Since(start).Seconds())
			}
			for _, row := range rows {
				row.Best = row.Seconds[0]
				for _, s := range row.Seconds {
					row.Best = min(row.Best, s)
				}
				row.PassagesPerS = float64(row.Passages) / row.Best
				row.TokensPerS = float64(row.Tokens) / row.Best
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENGINE\tMODEL\tTHREADS\tPASSAGES\tTOKENS\tBEST S\tPASSAGES/S\tTOKENS/S")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.0f\n", r.Engine, r.Model, r.Threads, r.Passages, r.Tokens, r.Best, r.PassagesPerS, r.TokensPerS)
			}
			return tw.Flush()
		},
	}
	mf.register(cmd)
	cmd.Flags().IntVar(&passages, "passages", 16, "number of passages")
	cmd.Flags().IntVar(&tokens, "tokens", 256, "tokens per passage, CLS and SEP included")
	cmd.Flags().IntVar(&reps, "reps", 3, "repetitions (best is reported)")
	cmd.Flags().StringVar(&llamaEmbedding, "llama-embedding", "", "path of llama.cpp's llama-embedding, to measure it on the same passages")
	cmd.Flags().IntVar(&llamaBatch, "llama-batch", 0, "llama-embedding's -b, -ub and -c (default and minimum: --tokens)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rows as JSON")
	return cmd
}

// benchEmbedTexts draws n passages of words (seeded, so every run and both
// engines get the same ones), each grown word by word to exactly want
// tokens where a word fits (a word that would overshoot is skipped), and
// returns them with their total token count.
func benchEmbedTexts(lm *engine.LM, n, want int) ([]string, int) {
	words := strings.Fields(benchEmbedWords)
	rng := rand.New(rand.NewPCG(1, 2))
	count := func(s string) int { return len(lm.Tok.Encode(s, true, false)) }
	texts := make([]string, n)
	total := 0
	for i := range texts {
		var b strings.Builder
		have := count("")
		for miss := 0; have < want && miss < 200; {
			w := words[rng.IntN(len(words))]
			next := b.String()
			if next != "" {
				next += " "
			}
			next += w
			if c := count(next); c <= want {
				b.Reset()
				b.WriteString(next)
				have, miss = c, 0
			} else {
				miss++
			}
		}
		texts[i] = b.String()
		total += have
	}
	return texts, total
}

var llamaEvalRe = regexp.MustCompile(`prompt eval time =\s*([0-9.]+) ms /\s*([0-9]+) tokens`)

// runLlamaEmbedding embeds file's lines with llama-embedding and returns
// its prompt eval time in seconds and the tokens it counted.
func runLlamaEmbedding(ctx context.Context, bin, model, file string, threads, batch int) (float64, int, error) {
	if threads <= 0 {
		threads = -1
	}
	t, b := strconv.Itoa(threads), strconv.Itoa(batch)
	c := exec.CommandContext(ctx, bin, "-m", model, "-f", file, "-t", t, "-tb", t,
		"-b", b, "-ub", b, "-c", b, "--perf", "-lv", "4", "--embd-output-format", "array")
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = nil, &stderr
	if err := c.Run(); err != nil {
		return 0, 0, fmt.Errorf("llama-embedding: %w\n%s", err, tail(stderr.String(), 2000))
	}
	m := llamaEvalRe.FindStringSubmatch(stderr.String())
	if m == nil {
		return 0, 0, fmt.Errorf("llama-embedding printed no prompt eval time:\n%s", tail(stderr.String(), 2000))
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	n, _ := strconv.Atoi(m[2])
	return ms / 1000, n, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
