package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Model is what evaluation needs of a language model. EngineModel adapts an
// engine.LM; tests substitute their own.
type Model interface {
	// Encode tokenizes text as a prompt (with the model's BOS, if it adds one).
	Encode(text string) []int32
	// LogLikelihoods returns, for each continuation, the sum of the
	// log-probabilities of its tokens following context.
	LogLikelihoods(ctx context.Context, context []int32, continuations [][]int32) ([]float64, error)
	// Generate answers prompt greedily with at most maxTokens tokens.
	Generate(ctx context.Context, prompt string, maxTokens int) (string, error)
}

// Modes.
const (
	ModeLoglik   = "loglik"
	ModeGenerate = "generate"
)

// Options control Run.
type Options struct {
	Mode      string // ModeLoglik (default) or ModeGenerate
	MaxTokens int    // generation budget per answer (default 32)
	MaxLen    int    // context length: items longer are skipped (0 = no check)
	// Progress is called after each item.
	Progress func(done, total int)
	// OnResult receives each item's result (for the per-item JSONL).
	OnResult func(*Result) error
}

// Result is one item's outcome; its JSON is a line of the per-item file.
type Result struct {
	ID          string    `json:"id"`
	Gold        []string  `json:"gold"`
	Pred        string    `json:"pred"`                // chosen label ("" when none)
	PredNorm    string    `json:"pred_norm,omitempty"` // loglik: label chosen per character
	Correct     bool      `json:"correct"`
	CorrectNorm bool      `json:"correct_norm,omitempty"`
	LogLik      []float64 `json:"loglik,omitempty"` // per option
	Output      string    `json:"output,omitempty"` // generate: the model's text
	Skipped     string    `json:"skipped,omitempty"`
}

// Summary is the aggregate of a run.
type Summary struct {
	Mode        string      `json:"mode"`
	Items       int         `json:"items"`   // read
	Scored      int         `json:"scored"`  // counted in the accuracy
	Skipped     int         `json:"skipped"` // no answer key, too long, multi-answer in loglik mode
	Correct     int         `json:"correct"`
	Accuracy    float64     `json:"accuracy"`
	CI95        [2]float64  `json:"ci95"` // Wilson score interval
	CorrectNorm int         `json:"correct_norm,omitempty"`
	AccNorm     float64     `json:"acc_norm,omitempty"`
	CI95Norm    *[2]float64 `json:"ci95_norm,omitempty"` // loglik mode only
	NoAnswer    int         `json:"no_answer,omitempty"` // generate: no option could be read from the output
	Seconds     float64     `json:"seconds"`
}

// z975 is the 0.975 quantile of the standard normal distribution.
const z975 = 1.959963984540054

// Wilson returns the 95 % Wilson score interval for k successes in n trials
// (Wilson 1927; the "score" interval of Newcombe 1998, method 3). Unlike the
// normal approximation it stays inside [0, 1] and is honest for small n and
// for accuracies near 0 or 1.
func Wilson(k, n int) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p := float64(k) / float64(n)
	nf := float64(n)
	z2 := z975 * z975
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z975 / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// Prompt is the text an item is asked with, ending where the answer starts.
// The English wording is lm-evaluation-harness's medmcqa and pubmedqa
// prompts; the Chinese mirrors it.
func Prompt(it *Item) string {
	var b strings.Builder
	zh := it.Lang == "zh"
	if it.Context != "" {
		if zh {
			b.WriteString("背景：")
		} else if it.Style == Cloze {
			b.WriteString("Abstract: ")
		} else {
			b.WriteString("Context: ")
		}
		b.WriteString(it.Context)
		b.WriteString("\n")
	}
	if zh {
		b.WriteString("问题：")
	} else {
		b.WriteString("Question: ")
	}
	b.WriteString(it.Question)
	b.WriteString("\n")
	if it.Style == Letters {
		if zh {
			b.WriteString("选项：\n")
		} else {
			b.WriteString("Choices:\n")
		}
		for i, o := range it.Options {
			fmt.Fprintf(&b, "%s. %s\n", letter(i), o)
		}
	}
	if zh {
		b.WriteString("答案：")
	} else {
		b.WriteString("Answer:")
	}
	return b.String()
}

// generationPrompt adds an instruction, since a generating model must be
// told the form of the answer.
func generationPrompt(it *Item) string {
	var instr string
	switch {
	case it.Style == Cloze && it.Lang == "zh":
		instr = "请只回答以下选项之一：" + strings.Join(it.Options, "、") + "。\n"
	case it.Style == Cloze:
		instr = "Answer with one of: " + strings.Join(it.Options, ", ") + ".\n"
	case it.Lang == "zh" && len(it.Answer) > 1:
		instr = "以下是一道多项选择题，请直接给出所有正确选项的字母。\n"
	case it.Lang == "zh":
		instr = "以下是一道单项选择题，请直接给出正确选项的字母。\n"
	default:
		instr = "Answer with the letter of the correct option.\n"
	}
	return instr + Prompt(it)
}

// targetDelimiter separates prompt and answer, as lm-evaluation-harness's default.
const targetDelimiter = " "

// splitPair tokenizes prompt+continuation and splits it where the prompt's
// own tokens end, as lm-evaluation-harness's TemplateLM._encode_pair does
// (trailing spaces of the context move to the continuation first), so the
// continuation's tokens are those the model would see in running text.
func splitPair(m Model, context, continuation string) ([]int32, []int32, error) {
	if trimmed := strings.TrimRight(context, " "); len(trimmed) < len(context) {
		continuation = context[len(trimmed):] + continuation
		context = trimmed
	}
	whole := m.Encode(context + continuation)
	ctxIDs := m.Encode(context)
	if len(ctxIDs) == 0 || len(ctxIDs) >= len(whole) {
		return nil, nil, fmt.Errorf("continuation %q adds no tokens to the prompt", continuation)
	}
	return whole[:len(ctxIDs)], whole[len(ctxIDs):], nil
}

// argmax returns the first index of the largest value (numpy's argmax).
func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func contains(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// scoreLoglik scores one single-answer item by log-likelihood.
func scoreLoglik(ctx context.Context, m Model, it *Item, maxLen int, r *Result) error {
	prompt := Prompt(it)
	ctxs := make([][]int32, len(it.Labels))
	conts := make([][]int32, len(it.Labels))
	shared := true // every option splits off the same prompt tokens
	for i, l := range it.Labels {
		c, cont, err := splitPair(m, prompt, targetDelimiter+l)
		if err != nil {
			return err
		}
		if maxLen > 0 && len(c)+len(cont) > maxLen {
			r.Skipped = fmt.Sprintf("prompt and option %s need %d tokens, context is %d", l, len(c)+len(cont), maxLen)
			return nil
		}
		ctxs[i], conts[i] = c, cont
		shared = shared && equalIDs(c, ctxs[0])
	}
	var lls []float64
	if shared {
		var err error
		if lls, err = m.LogLikelihoods(ctx, ctxs[0], conts); err != nil {
			return err
		}
	} else {
		// A token merged across the prompt/answer boundary for some option:
		// score each on its own split, as the harness does.
		for i := range conts {
			ll, err := m.LogLikelihoods(ctx, ctxs[i], conts[i:i+1])
			if err != nil {
				return err
			}
			lls = append(lls, ll[0])
		}
	}
	if len(lls) != len(conts) {
		return fmt.Errorf("model returned %d log-likelihoods for %d options", len(lls), len(conts))
	}
	r.LogLik = lls
	norm := make([]float64, len(lls))
	for i, l := range it.Labels {
		// acc_norm divides by the option's length in characters: the
		// harness's len(choice) on a Python str (code points; bytes for ASCII).
		norm[i] = lls[i] / float64(utf8.RuneCountInString(l))
	}
	p, pn := argmax(lls), argmax(norm)
	r.Pred, r.PredNorm = it.Labels[p], it.Labels[pn]
	r.Correct, r.CorrectNorm = contains(it.Answer, p), contains(it.Answer, pn)
	return nil
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Run scores items with m. Items without an answer key are skipped; so are
// multiple-answer items in loglik mode (one option's likelihood cannot name
// a set) and items longer than opt.MaxLen.
func Run(ctx context.Context, m Model, items []Item, opt Options) (*Summary, error) {
	if opt.Mode == "" {
		opt.Mode = ModeLoglik
	}
	if opt.Mode != ModeLoglik && opt.Mode != ModeGenerate {
		return nil, fmt.Errorf("mode %q (want %s or %s)", opt.Mode, ModeLoglik, ModeGenerate)
	}
	if opt.MaxTokens <= 0 {
		opt.MaxTokens = 32
	}
	start := time.Now()
	s := &Summary{Mode: opt.Mode, Items: len(items)}
	for i := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		it := &items[i]
		r := &Result{ID: it.ID}
		for _, a := range it.Answer {
			r.Gold = append(r.Gold, it.Labels[a])
		}
		switch {
		case len(it.Answer) == 0:
			r.Skipped = "no answer key"
		case opt.Mode == ModeLoglik && len(it.Answer) > 1:
			r.Skipped = "multiple-answer question (use --mode generate)"
		case opt.Mode == ModeLoglik:
			if err := scoreLoglik(ctx, m, it, opt.MaxLen, r); err != nil {
				return nil, fmt.Errorf("item %s: %w", it.ID, err)
			}
		default:
			out, err := m.Generate(ctx, generationPrompt(it), opt.MaxTokens)
			if err != nil && !errors.Is(err, errTooLong) {
				return nil, fmt.Errorf("item %s: %w", it.ID, err)
			}
			if err != nil {
				r.Skipped = err.Error()
				break
			}
			r.Output = out
			pred := Extract(it, out)
			if len(pred) == 0 {
				s.NoAnswer++
			}
			var labels []string
			for _, p := range pred {
				labels = append(labels, it.Labels[p])
			}
			r.Pred = strings.Join(labels, "")
			r.Correct = equalInts(pred, it.Answer)
		}
		if r.Skipped != "" {
			s.Skipped++
		} else {
			s.Scored++
			if r.Correct {
				s.Correct++
			}
			if r.CorrectNorm {
				s.CorrectNorm++
			}
		}
		if opt.OnResult != nil {
			if err := opt.OnResult(r); err != nil {
				return nil, err
			}
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(items))
		}
	}
	if s.Scored > 0 {
		s.Accuracy = float64(s.Correct) / float64(s.Scored)
		s.CI95[0], s.CI95[1] = Wilson(s.Correct, s.Scored)
		if opt.Mode == ModeLoglik {
			s.AccNorm = float64(s.CorrectNorm) / float64(s.Scored)
			lo, hi := Wilson(s.CorrectNorm, s.Scored)
			s.CI95Norm = &[2]float64{lo, hi}
		}
	}
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// errTooLong marks a prompt that does not fit the model's context; the item
// is skipped rather than the run failed.
var errTooLong = errors.New("prompt does not fit the context")

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Answer patterns, tried in order; the first whose letters are all options
// decides. Letters are matched after full-width forms are folded to ASCII,
// and only upper-case letters count (a lower-case "a" is an article).
var (
	reAnswerIs = regexp.MustCompile(`(?i:answer)(?:\s+(?i:is))?\s*[:：]?\s*[(\[]?([A-Z](?:\s*(?:,|、|和|and|&)?\s*[A-Z])*)\b`)
	reDaAn     = regexp.MustCompile(`答案\s*(?:是|为|应为|应该是)?\s*[:：]?\s*([A-Z](?:[\s,、和]*[A-Z])*)\b`)
	reLead     = regexp.MustCompile(`^\s*[(\[]?([A-Z](?:[\s,、]*[A-Z])*)[)\]]?(?:[.．、:：)\s]|$)`)
	reLone     = regexp.MustCompile(`\b([A-Z])\b`)
	reLetters  = regexp.MustCompile(`[A-Z]`)
	reWord     = regexp.MustCompile(`[\p{L}\p{N}]+`)
)

// fold maps full-width ASCII (Ａ, ：) to ASCII, common in Chinese answers.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0xFF01 && r <= 0xFF5E {
			return r - 0xFEE0
		}
		return r
	}, s)
}

// Extract reads the chosen options from generated text: letters for
// letter-style items ("The answer is B", "答案：ABD", "(C) …", a lone "D"),
// the first option text mentioned for cloze items ("Yes, because …").
// It returns sorted indices, none when nothing could be read. A single-answer
// item answered with several letters has no answer (hedging is not credit).
func Extract(it *Item, out string) []int {
	out = fold(out)
	if it.Style == Cloze {
		return extractText(it, out)
	}
	var groups []string
	for _, re := range []*regexp.Regexp{reAnswerIs, reDaAn, reLead} {
		if m := re.FindStringSubmatch(out); m != nil {
			groups = append(groups, m[1])
		}
	}
	for _, m := range reLone.FindAllStringSubmatch(out, -1) {
		groups = append(groups, m[1])
	}
	for _, g := range groups {
		if got, ok := lettersOf(g, len(it.Options)); ok {
			if len(it.Answer) <= 1 && len(got) > 1 {
				return nil
			}
			return got
		}
	}
	return nil
}

// lettersOf returns the sorted distinct option indices named in g.
func lettersOf(g string, n int) ([]int, bool) {
	seen := map[int]bool{}
	var got []int
	for _, l := range reLetters.FindAllString(g, -1) {
		i, ok := letterIndex(l, n)
		if !ok {
			return nil, false
		}
		if !seen[i] {
			seen[i] = true
			got = append(got, i)
		}
	}
	sort.Ints(got)
	return got, len(got) > 0
}

// extractText finds the option mentioned first (whole words for one-word
// options, so "no" is not found in "know").
func extractText(it *Item, out string) []int {
	best, at := -1, len(out)+1
	low := strings.ToLower(out)
	for i, o := range it.Options {
		o = strings.ToLower(o)
		if reWord.FindString(o) == o {
			for _, loc := range reWord.FindAllStringIndex(low, -1) {
				if low[loc[0]:loc[1]] == o {
					if loc[0] < at {
						best, at = i, loc[0]
					}
					break
				}
			}
		} else if k := strings.Index(low, o); k >= 0 && k < at {
			best, at = i, k
		}
	}
	if best < 0 {
		return nil
	}
	return []int{best}
}
