package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/eval"
)

// evalOutput is `dayi eval --json`.
type evalOutput struct {
	Model   string        `json:"model"`
	Task    string        `json:"task"`
	File    string        `json:"file"`
	Format  string        `json:"format"`
	Results string        `json:"results_file"`
	Summary *eval.Summary `json:"summary"`
}

// defaultEvalCtx bounds the KV cache of each question's session: a model's
// full context (often 128k tokens) would allocate gigabytes per question.
const defaultEvalCtx = 4096

func newEvalCmd() *cobra.Command {
	var (
		mf                   modelFlags
		task, file, format   string
		mode, out            string
		limit, maxTokens     int
		copBase              int
		asJSON, chatTemplate bool
		noProgress           bool
	)
	cmd := &cobra.Command{
		Use:   "eval --model M --task mcq --file DATA.jsonl [--limit N] [--mode loglik|generate] [--json]",
		Short: "Measure a model on multiple-choice questions (PubMedQA, MedMCQA, CMB or your own)",
		Long: `Scores a model on multiple-choice questions offline, as lm-evaluation-harness does: by the
log-likelihood of each option after the question (acc, and acc_norm per character of the option), or
by generating an answer and reading the letter from it (--mode generate; needed for CMB's
multiple-answer questions). Accuracy is reported with a 95 % Wilson interval. Each question's result
goes, as one JSON line, to --out (default: $DAYI_HOME/evals/MODEL-FORMAT-TIME.jsonl).

File formats (detected): dayi's JSONL {"question","options","answer"}, PubMedQA, MedMCQA, CMB-Exam.
See eval/README.md in the source for the fields and where to obtain the full data sets.

The context is at most ` + fmt.Sprint(defaultEvalCtx) + ` tokens unless --ctx says otherwise; longer questions are skipped and counted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if task != "mcq" {
				return fmt.Errorf("--task %q: the only task is mcq", task)
			}
			if file == "" {
				return fmt.Errorf("--file is required")
			}
			ropt := eval.ReadOptions{Format: format}
			if cmd.Flags().Changed("cop-base") {
				ropt.MedMCQABase, ropt.MedMCQABaseSet = copBase, true
			}
			items, fmtName, err := eval.ReadFile(file, ropt)
			if err != nil {
				return err
			}
			if limit > 0 && limit < len(items) {
				items = items[:limit]
			}
			modelName := mf.model
			if mf.model, err = resolveModel(mf.model); err != nil {
				return err
			}
			if modelName == "" {
				modelName = mf.model
			}
			if mf.ctx == 0 {
				f, err := openModelFile(mf.model)
				if err != nil {
					return err
				}
				if n := f.Uint(f.ArchKey("context_length"), 0); n > defaultEvalCtx {
					mf.ctx = defaultEvalCtx
				}
				f.Close()
			}
			lm, _, err := mf.load()
			if err != nil {
				return err
			}
			defer lm.File.Close()

			if out == "" {
				dir := filepath.Join(dayiHome(), "evals")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				out = filepath.Join(dir, fmt.Sprintf("%s-%s-%s.jsonl", safeName(modelName), fmtName, time.Now().Format("20060102-150405")))
			}
			rf, err := os.Create(out)
			if err != nil {
				return err
			}
			defer rf.Close()
			bw := bufio.NewWriter(rf)
			enc := json.NewEncoder(bw)
			enc.SetEscapeHTML(false)

			opt := eval.Options{Mode: mode, MaxTokens: maxTokens, MaxLen: lm.Ctx, OnResult: func(r *eval.Result) error { return enc.Encode(r) }}
			var bar *progressbar.ProgressBar
			if errOut, ok := cmd.ErrOrStderr().(*os.File); ok && !noProgress && term.IsTerminal(int(errOut.Fd())) {
				bar = progressbar.NewOptions(len(items), progressbar.OptionSetWriter(errOut),
					progressbar.OptionSetDescription("evaluating"), progressbar.OptionShowCount(),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
				opt.Progress = func(done, _ int) { bar.Set(done) }
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			s, err := eval.Run(ctx, &eval.EngineModel{LM: lm, Chat: chatTemplate}, items, opt)
			if bar != nil {
				bar.Finish()
			}
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			res := evalOutput{Model: modelName, Task: task, File: file, Format: fmtName, Results: out, Summary: s}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s on %s (%s, %s): %d questions scored, %d skipped, %.1fs\n",
				modelName, filepath.Base(file), fmtName, s.Mode, s.Scored, s.Skipped, s.Seconds)
			fmt.Fprintf(w, "  accuracy   %5.1f%%  (%d/%d; 95%% CI %.1f–%.1f%%)\n", 100*s.Accuracy, s.Correct, s.Scored, 100*s.CI95[0], 100*s.CI95[1])
			if s.CI95Norm != nil {
				fmt.Fprintf(w, "  acc_norm   %5.1f%%  (%d/%d; 95%% CI %.1f–%.1f%%)\n", 100*s.AccNorm, s.CorrectNorm, s.Scored, 100*s.CI95Norm[0], 100*s.CI95Norm[1])
			} else if s.NoAnswer > 0 {
				fmt.Fprintf(w, "  no answer  %d (nothing readable in the output; counted wrong)\n", s.NoAnswer)
			}
			fmt.Fprintf(w, "  per-question results: %s\n", out)
			return nil
		},
	}
	mf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&task, "task", "mcq", "task: mcq (multiple choice)")
	f.StringVar(&file, "file", "", "question file")
	f.StringVar(&format, "format", "auto", "file format: "+strings.Join(eval.Formats(), ", "))
	f.StringVar(&mode, "mode", eval.ModeLoglik, "scoring: loglik (option likelihoods) or generate (answer extraction)")
	f.IntVar(&limit, "limit", 0, "evaluate only the first N questions")
	f.IntVar(&maxTokens, "max-tokens", 32, "generate mode: tokens per answer")
	f.BoolVar(&chatTemplate, "chat", false, "generate mode: ask through the model's chat template")
	f.IntVar(&copBase, "cop-base", 0, "MedMCQA: the number of the first option in cop (0 Hugging Face, 1 original JSON); detected when not given")
	f.StringVar(&out, "out", "", "per-question results file (JSONL)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	return cmd
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName makes a model name usable in a file name.
func safeName(s string) string {
	s = unsafeChars.ReplaceAllString(strings.TrimSuffix(filepath.Base(s), ".gguf"), "_")
	if s == "" {
		return "model"
	}
	return s
}
