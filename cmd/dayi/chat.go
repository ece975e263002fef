package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dayi/engine"
	"dayi/engine/chat"
	"dayi/knowledge"
	"dayi/memory"
	"dayi/server"
)

func newChatCmd() *cobra.Command {
	var mf modelFlags
	var sf samplingFlags
	var system, template, patient, kb, memoryPG, memoryKey string
	var budget int
	cmd := &cobra.Command{
		Use:   "chat [flags]",
		Short: "Chat with a model, remembering a patient across visits and citing a knowledge base",
		Long: `chat reads one message per line from stdin and answers each with the model's chat template.
--patient ID recalls that patient's earlier conversations (allergies, diagnoses, medications, results)
into the prompt and stores every turn, so later visits remember them. --kb NAME grounds answers in a
knowledge base under $DAYI_HOME/kb and lists the cited sources. dayi supports clinicians; it does not
replace them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			lm, _, err := mf.load()
			if err != nil {
				return err
			}
			base, err := sf.request()
			if err != nil {
				return err
			}
			base.Template = template
			if lm.Template == nil && template == "" {
				base.Template = "chatml"
			}
			var mem server.Memory
			if patient != "" {
				st, err := openMemoryStoreTo(ctx, memoryPG, memoryKey, cmd.ErrOrStderr())
				if err != nil {
					return fmt.Errorf("patient memory: %w", err)
				}
				defer st.Close()
				mem = patientMemory{m: memory.New(st, memory.Options{})}
			}
			var kr server.Retriever
			if kb != "" {
				kr = kbRetriever{lib: &knowledge.Library{Dir: filepath.Join(dayiHome(), "kb")}}
			}
			count := func(s string) int { return len(lm.Tok.Encode(s, false, false)) }
			out := cmd.OutOrStdout()
			sc := bufio.NewScanner(cmd.InOrStdin())
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var history []chat.Message
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				if line == "/bye" {
					break
				}
				grounding, cites, err := server.Ground(ctx, kr, mem, kb, patient, line, budgetFor(lm, budget), count)
				if err != nil {
					return err
				}
				msgs := append([]chat.Message(nil), history...)
				msgs = append(msgs, chat.Message{Role: "user", Content: line})
				sys := strings.TrimSpace(system + "\n\n" + grounding)
				if sys != "" {
					msgs = append([]chat.Message{{Role: "system", Content: sys}}, msgs...)
				}
				req := *base
				req.Messages = msgs
				res, err := lm.Generate(ctx, &req, func(s string) error { _, err := io.WriteString(out, s); return err })
				if err != nil {
					return err
				}
				fmt.Fprintln(out)
				for _, c := range cites {
					fmt.Fprintf(out, "[%d] %s — %s (%s)\n", c.N, c.Title, c.Source, c.Location)
				}
				history = append(history, chat.Message{Role: "user", Content: line}, chat.Message{Role: "assistant", Content: res.Text})
				if mem != nil {
					if err := mem.Record(ctx, patient, server.Turn{User: line, Assistant: res.Text, Time: time.Now()}); err != nil {
						return fmt.Errorf("patient memory: %w", err)
					}
				}
			}
			return sc.Err()
		},
	}
	mf.register(cmd)
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&system, "system", "", "system prompt")
	f.StringVar(&template, "template", "", "chat template name overriding the model's")
	f.StringVar(&patient, "patient", "", "patient id: recall and store this patient's history")
	f.StringVar(&kb, "kb", "", "knowledge base to ground answers in")
	f.StringVar(&memoryPG, "memory-pg", "", "PostgreSQL DSN of a shared patient-memory store")
	f.StringVar(&memoryKey, "memory-key", os.Getenv("DAYI_MEMORY_KEY"), memoryKeyUsage)
	f.IntVar(&budget, "grounding-tokens", 0, "token budget for recalled memory and passages (0 = a quarter of the context)")
	return cmd
}

// budgetFor is the grounding budget: the flag, or a quarter of the context.
func budgetFor(lm *engine.LM, flag int) int {
	if flag > 0 {
		return flag
	}
	return lm.Ctx / 4
}
