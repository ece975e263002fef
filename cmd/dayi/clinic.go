package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"dayi/clinic"
	"dayi/engine"
	"dayi/engine/sample"
)

// clinicFlags are the flags the clinic commands share.
type clinicFlags struct {
	rules, routing string
	lang           string
	asJSON         bool
	model          string
	template       string
	seed           int64
	temp           float32
}

func (cf *clinicFlags) register(cmd *cobra.Command, modelHelp string) {
	f := cmd.Flags()
	f.StringVar(&cf.rules, "rules", "", "red-flag rule file (default: the shipped rules)")
	f.StringVar(&cf.routing, "routing", "", "department routing table (default: the shipped table)")
	f.StringVar(&cf.lang, "lang", "", `language of the answer: "en" or "zh" (default: the input's)`)
	f.BoolVar(&cf.asJSON, "json", false, "print JSON")
	f.StringVarP(&cf.model, "model", "m", "", modelHelp)
	f.StringVar(&cf.template, "template", "", `chat template name when the model has none (default "chatml")`)
	f.Int64Var(&cf.seed, "seed", 42, "sampling seed (same seed, same output)")
	f.Float32Var(&cf.temp, "temperature", 0, "sampling temperature (0 = greedy)")
}

// deps builds the clinic dependencies; with useModel it loads the model (--model, or the embedded one).
func (cf *clinicFlags) deps(useModel bool) (clinic.Deps, func(), error) {
	var d clinic.Deps
	closeFn := func() {}
	var err error
	if cf.rules != "" {
		if d.Rules, err = clinic.LoadRules(cf.rules); err != nil {
			return d, closeFn, err
		}
	} else if d.Rules, err = clinic.DefaultRules(); err != nil {
		return d, closeFn, err
	}
	if cf.routing != "" {
		if d.Routing, err = clinic.LoadRouting(cf.routing, d.Rules.File.Negation); err != nil {
			return d, closeFn, err
		}
	}
	d.Sampling = sample.Options{Temperature: cf.temp, TopK: 40, TopP: 0.95, MinP: 0.05, TypicalP: 1, RepeatPenalty: 1, Seed: cf.seed}
	if !useModel {
		return d, closeFn, nil
	}
	mf := modelFlags{model: cf.model, kvType: "f16"}
	lm, _, err := mf.load()
	if err != nil {
		return d, closeFn, err
	}
	closeFn = func() { lm.File.Close() }
	d.Generate = lm.Generate
	d.ContextLength = lm.Ctx
	d.CountTokens = func(r *engine.Request) (int, error) {
		ids, _, err := lm.PromptTokens(r)
		return len(ids), err
	}
	d.Template = cf.template
	if d.Template == "" && lm.Template == nil {
		d.Template = "chatml"
	}
	return d, closeFn, nil
}

// argsOrStdin returns the arguments joined, or stdin when there are none (or the only one is "-").
func argsOrStdin(cmd *cobra.Command, args []string) (string, error) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		return strings.Join(args, " "), nil
	}
	b, err := io.ReadAll(cmd.InOrStdin())
	if err != nil {
		return "", fmt.Errorf("stdin: %w", err)
	}
	return string(b), nil
}

func newClinicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clinic",
		Short: "Clinical workflows: triage, pre-consultation intake, EMR notes, follow-up plans",
		Long: `clinic runs the clinical workflows on this machine. Red-flag rules are matched on the text before any
model runs: a match is always answered "emergency" with the rule's fixed advice.

dayi supports clinicians; it does not replace them. Every output is a draft for a clinician.`,
	}
	cmd.AddCommand(newClinicTriageCmd(), newClinicIntakeCmd(), newClinicEMRCmd(), newClinicFollowUpCmd(), newClinicRulesCmd())
	return cmd
}

func newClinicTriageCmd() *cobra.Command {
	var cf clinicFlags
	cmd := &cobra.Command{
		Use:   "triage [flags] COMPLAINT",
		Short: "Urgency, red flags, department and follow-up questions for a complaint",
		Long: `triage answers {"urgency","red_flags","department","advice","questions"} for a patient's complaint (from
the arguments, else stdin). Without --model only the rule and routing tables are used; with --model the model
may choose among the routing table's tied departments and write the follow-up questions.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := argsOrStdin(cmd, args)
			if err != nil {
				return err
			}
			if strings.TrimSpace(text) == "" {
				return fmt.Errorf("no complaint given")
			}
			deps, done, err := cf.deps(cf.model != "")
			if err != nil {
				return err
			}
			defer done()
			res, err := clinic.Triage(cmd.Context(), deps, text, clinic.TriageOptions{Lang: cf.lang})
			if err != nil {
				return err
			}
			if cf.asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "urgency:    %s\n", res.Urgency)
			if len(res.RedFlags) > 0 {
				fmt.Fprintf(w, "red flags:  %s\n", strings.Join(res.RedFlags, ", "))
			}
			fmt.Fprintf(w, "department: %s\nadvice:     %s\n", res.Department, res.Advice)
			for _, q := range res.Questions {
				fmt.Fprintf(w, "  ? %s\n", q)
			}
			return nil
		},
	}
	cf.register(cmd, "GGUF model to refine the department and ask questions (default: none, tables only; \"dayi-tiny\" = embedded)")
	return cmd
}

func newClinicIntakeCmd() *cobra.Command {
	var cf clinicFlags
	cmd := &cobra.Command{
		Use:   "intake [flags]",
		Short: "Guided pre-consultation questions ending in a structured summary",
		Long: `intake asks the pre-consultation questions one by one on the terminal (answers from stdin) and prints the
summary (chief complaint, history of present illness, medications, allergies, past history) as JSON valid for
clinic/schemas/intake.schema.json. A red flag in any answer stops the dialogue with the emergency advice.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			deps, _, err := cf.deps(false)
			if err != nil {
				return err
			}
			in := bufio.NewScanner(cmd.InOrStdin())
			in.Buffer(make([]byte, 64<<10), 1<<20)
			req := clinic.IntakeRequest{Lang: cf.lang, Answers: map[string]string{}}
			w := cmd.OutOrStdout()
			for {
				step, err := clinic.Intake(deps, req)
				if err != nil {
					return err
				}
				if step.Done {
					if step.Urgency == clinic.Emergency {
						fmt.Fprintf(cmd.ErrOrStderr(), "\n!! %s\n\n", step.Advice)
					}
					return printJSON(w, step)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s\n> ", step.Question)
				if !in.Scan() {
					if err := in.Err(); err != nil {
						return err
					}
					return fmt.Errorf("intake: input ended before %s was answered", step.Step)
				}
				ans := strings.TrimSpace(in.Text())
				if ans == "" {
					ans = "-" // an empty answer is recorded as "-" so the dialogue moves on
				}
				req.Answers[step.Step] = ans
			}
		},
	}
	cf.register(cmd, "unused (intake is deterministic)")
	return cmd
}

func newClinicEMRCmd() *cobra.Command {
	var cf clinicFlags
	var maxTokens int
	cmd := &cobra.Command{
		Use:   "emr [flags] [TRANSCRIPT_FILE|-]",
		Short: "SOAP note (JSON) from a consultation transcript",
		Long: `emr writes a SOAP note from a consultation transcript (a file, or stdin) as JSON valid for
clinic/schemas/emr_soap.schema.json, generated under JSON-schema constrained decoding. The note is a draft for
the clinician to review and sign.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var text string
			if len(args) == 1 && args[0] != "-" {
				b, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				text = string(b)
			} else {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				text = string(b)
			}
			if strings.TrimSpace(text) == "" {
				return fmt.Errorf("empty transcript")
			}
			deps, done, err := cf.deps(true)
			if err != nil {
				return err
			}
			defer done()
			res, err := clinic.EMR(cmd.Context(), deps, text, clinic.EMROptions{Lang: cf.lang, MaxTokens: maxTokens})
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		},
	}
	cf.register(cmd, "GGUF model file (default: the embedded dayi-tiny model)")
	cmd.Flags().IntVar(&maxTokens, "max-tokens", 0, "length the note aims at in tokens (0 = the whole context)")
	return cmd
}

func newClinicFollowUpCmd() *cobra.Command {
	var cf clinicFlags
	var req clinic.FollowUpRequest
	cmd := &cobra.Command{
		Use:   "followup [flags]",
		Short: "Dated follow-up plan after a visit",
		Long: `followup prints a follow-up plan with dated items (clinic/schemas/followup.schema.json). With --use-model
the model may add up to three steps from --summary. Plans are saved to patient memory by the server when a
patient id is given and a memory store is configured; this command only prints them.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			deps, done, err := cf.deps(req.UseModel)
			if err != nil {
				return err
			}
			defer done()
			req.Lang = cf.lang
			plan, err := clinic.FollowUp(cmd.Context(), deps, req)
			if err != nil {
				return err
			}
			if cf.asJSON {
				return printJSON(cmd.OutOrStdout(), plan)
			}
			w := cmd.OutOrStdout()
			for _, it := range plan.Items {
				fmt.Fprintf(w, "%s  +%-3d %-17s %s\n", it.Date, it.DaysAfter, it.Kind, it.Action)
			}
			fmt.Fprintf(w, "\n%s\n", plan.ReturnIf)
			return nil
		},
	}
	cf.register(cmd, "GGUF model for --use-model (default: the embedded dayi-tiny model)")
	f := cmd.Flags()
	f.StringVar(&req.PatientID, "patient", "", "patient id")
	f.StringVar(&req.Start, "start", "", "visit date YYYY-MM-DD (default: today)")
	f.StringVar(&req.Summary, "summary", "", "visit summary or diagnosis")
	f.BoolVar(&req.OnMedication, "on-medication", false, "add a medication review at 30 days")
	f.BoolVar(&req.UseModel, "use-model", false, "let the model propose up to three more steps from --summary")
	return cmd
}

func newClinicRulesCmd() *cobra.Command {
	var rules string
	cmd := &cobra.Command{Use: "rules", Short: "Check or try a red-flag rule file"}
	check := &cobra.Command{
		Use:   "check [--rules FILE]",
		Short: "Compile a rule file and run its own examples (positives must fire, negated ones must not)",
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := loadRuleSet(rules)
			if err != nil {
				return err
			}
			fails := rs.CheckExamples()
			for _, f := range fails {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			if len(fails) > 0 {
				return fmt.Errorf("%d example(s) failed", len(fails))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d rules, all examples pass\n", len(rs.File.Rules))
			return nil
		},
	}
	match := &cobra.Command{
		Use:   "match [--rules FILE] TEXT",
		Short: "Show which red-flag rules a text fires (JSON)",
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := loadRuleSet(rules)
			if err != nil {
				return err
			}
			text, err := argsOrStdin(cmd, args)
			if err != nil {
				return err
			}
			f := rs.Analyze(text)
			return printJSON(cmd.OutOrStdout(), map[string]any{"matches": rs.MatchFindings(f), "present": f.Present, "ages_days": f.AgesDays, "normalized": f.Text})
		},
	}
	for _, c := range []*cobra.Command{check, match} {
		c.Flags().StringVar(&rules, "rules", "", "rule file (default: the shipped rules)")
	}
	cmd.AddCommand(check, match)
	return cmd
}

func loadRuleSet(path string) (*clinic.RuleSet, error) {
	if path == "" {
		return clinic.DefaultRules()
	}
	return clinic.LoadRules(path)
}
