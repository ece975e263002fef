// Package chat turns a conversation into the prompt text a model was trained on, choosing the format by
// recognising the GGUF's tokenizer.chat_template (a Jinja string) the way llama.cpp's llm_chat_detect_template
// does (src/llama-chat.cpp), or by name (--template chatml).
//
// It deliberately has no Jinja interpreter: each known family is a small Go renderer whose output is checked,
// byte for byte, against the real Jinja templates rendered by a real Jinja engine (testdata/gen). Unknown
// templates are an error that lists the known names, never a silent guess.
//
// BOS rule: Render never emits a leading BOS text, even when the Jinja template starts with {{ bos_token }}.
// Tokenize the result with parse_special=true and add_special=true: the tokenizer adds the single BOS when the
// vocabulary asks for it (tokenizer.ggml.add_bos_token), exactly as llama.cpp strips the template's leading
// bos_token before tokenizing with add_special. BOS texts inside the history (Llama-2-chat's "<s>[INST]" on later
// turns) are kept and become BOS tokens through parse_special.
package chat

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Message is one conversation turn. Role is "system", "user", "assistant" (also "tool" where the family has
// one); Content is plain text.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Template renders conversations in one family's format.
type Template struct {
	// Name is the family name, as accepted by ByName.
	Name string
	// DefaultSystem is inserted as the system turn when the conversation has none (chatml: Qwen2/Qwen2.5's
	// templates do this). Empty means none.
	DefaultSystem string
	// Date is the "Today Date" of the Llama 3.1 system header.
	Date string
	// ThinkPrompt makes the generation prompt open a reasoning block (DeepSeek-R1's "<think>\n").
	ThinkPrompt bool

	render func(t *Template, b *strings.Builder, msgs []Message, gen bool)
	stops  []string
}

// The end-of-turn texts and pieces of each family. Special-token texts are written as the vocabularies spell
// them (DeepSeek uses fullwidth bars and U+2581).
const (
	dsEOS       = "<｜end▁of▁sentence｜>"
	dsUser      = "<｜User｜>"
	dsAssistant = "<｜Assistant｜>"
	llama31Date = "26 Jul 2024" // the templates' own fallback when no date_string is passed
	deepseekSys = "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n"
)

type family struct {
	render func(t *Template, b *strings.Builder, msgs []Message, gen bool)
	stops  []string
}

// families is the registry: name → renderer and end-of-turn strings. Immutable.
var families = map[string]family{
	"chatml":            {renderChatML, []string{"<|im_end|>", "<|im_start|>"}},
	"qwen3":             {renderQwen3, []string{"<|im_end|>", "<|im_start|>"}},
	"llama2":            {renderLlama2(false, false, false), []string{"</s>"}},
	"llama2-sys":        {renderLlama2(true, false, false), []string{"</s>"}},
	"llama2-sys-bos":    {renderLlama2(true, true, false), []string{"</s>"}},
	"llama2-chat":       {renderLlama2(true, true, true), []string{"</s>"}},
	"mistral-v1":        {renderMistralV1, []string{"</s>"}},
	"mistral-v3":        {renderMistralV3(" ", true), []string{"</s>"}},
	"mistral-v3-tekken": {renderMistralV3("", false), []string{"</s>"}},
	"mistral-v7":        {renderMistralV7(" "), []string{"</s>"}},
	"mistral-v7-tekken": {renderMistralV7(""), []string{"</s>"}},
	"llama3":            {renderLlama3, []string{"<|eot_id|>", "<|start_header_id|>"}},
	"llama3.1":          {renderLlama31, []string{"<|eot_id|>", "<|eom_id|>", "<|start_header_id|>"}},
	"gemma":             {renderGemma, []string{"<end_of_turn>", "<start_of_turn>"}},
	"gemma4":            {renderGemma4, []string{"<turn|>", "<|turn>"}},
	"phi3":              {renderPhi3, []string{"<|end|>", "<|endoftext|>", "<|user|>"}},
	"phi3.5":            {renderPhi35, []string{"<|end|>", "<|endoftext|>", "<|user|>"}},
	"zephyr":            {renderZephyr, []string{"<|endoftext|>", "<|user|>"}},
	"deepseek":          {renderDeepSeek, []string{"<|EOT|>", "### Instruction:"}},
	"deepseek2":         {renderDeepSeek2, []string{dsEOS, "User:"}},
	"deepseek3":         {renderDeepSeek3, []string{dsEOS, dsUser}},
	"command-r":         {renderCommandR, []string{"<|END_OF_TURN_TOKEN|>"}},
}

// Names lists the known template names, sorted.
func Names() []string {
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrUnknown is returned (wrapped) for a template or name that matches no known family.
var ErrUnknown = errors.New("unknown chat template")

// ByName returns the named family with its default settings (chatml without a default system prompt,
// llama3.1 with the template's fallback date). The name "qwen2.5" is chatml with Qwen2.5's default system prompt.
func ByName(name string) (Template, error) {
	if name == "qwen2.5" {
		t, _ := ByName("chatml")
		t.DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
		return t, nil
	}
	f, ok := families[name]
	if !ok {
		return Template{}, fmt.Errorf("%w %q; known: %s", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	t := Template{Name: name, render: f.render, stops: f.stops}
	if name == "llama3.1" {
		t.Date = llama31Date
	}
	return t, nil
}

var (
	reDate = regexp.MustCompile(`set date_string = "([^"]+)"`)
	// chatml templates that insert a system turn when the conversation has none write it as a literal:
	// '<|im_start|>system\n...<|im_end|>' (with a real newline or the two-character escape).
	reDefaultSystem = regexp.MustCompile(`'<\|im_start\|>system(?:\n|\\n)([^'{}]*?)<\|im_end\|>`)
)

// Detect recognises a GGUF tokenizer.chat_template (or a bare family name) and returns its renderer. The
// heuristics follow llm_chat_detect_template in llama.cpp's src/llama-chat.cpp; where llama.cpp's built-in
// format differs from the official Jinja output (Llama 3.1's date header, Qwen3's reasoning handling, Mistral
// v3's system prompt placed in the last user turn, Llama-2-chat's spacing) the variant here follows the Jinja.
func Detect(tmpl string) (Template, error) {
	if t, err := ByName(tmpl); err == nil {
		return t, nil
	}
	has := func(s string) bool { return strings.Contains(tmpl, s) }
	name := ""
	switch {
	case tmpl == "":
		return Template{}, fmt.Errorf("%w: empty template; known: %s", ErrUnknown, strings.Join(Names(), ", "))
	case has("<|turn>") && has("<turn|>"):
		name = "gemma4"
	case has("<|im_start|>"):
		if has("<|im_sep|>") || has("<end_of_utterance>") {
			break // phi4 / SmolVLM: not chatml, not supported
		}
		if has("last_query_index") {
			name = "qwen3"
		} else {
			name = "chatml"
		}
	case strings.HasPrefix(tmpl, "mistral") || has("[INST]"):
		switch {
		case has("[SYSTEM_PROMPT]"):
			name = "mistral-v7"
		case has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]"):
			switch {
			case has(" [INST]"):
				name = "mistral-v1"
			case has(`"[INST]"`):
				name = "mistral-v3-tekken"
			default:
				name = "mistral-v3"
			}
		case has("content.strip()") && has("bos_token + '[INST]"):
			name = "llama2-chat"
		case has("bos_token + '[INST]"):
			name = "llama2-sys-bos"
		case has("<<SYS>>"):
			name = "llama2-sys"
		default:
			name = "llama2"
		}
	case has("<|assistant|>") && has("<|end|>"):
		if has("<|system|>") {
			name = "phi3.5"
		} else {
			name = "phi3"
		}
	case has("<|user|>") && has("<|endoftext|>"):
		name = "zephyr"
	case has("<start_of_turn>"):
		name = "gemma"
	case has("### Instruction:") && has("<|EOT|>"):
		name = "deepseek"
	case has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>"):
		name = "command-r"
	case has("<|start_header_id|>") && has("<|end_header_id|>"):
		if has("Cutting Knowledge Date") {
			name = "llama3.1"
		} else {
			name = "llama3"
		}
	case has("'Assistant: ' + message['content'] + eos_token"):
		name = "deepseek2"
	case has(dsAssistant) && has(dsUser) && has(dsEOS):
		name = "deepseek3"
	}
	if name == "" {
		return Template{}, fmt.Errorf("%w (%d bytes, starts %q); known: %s", ErrUnknown, len(tmpl),
			head(tmpl, 60), strings.Join(Names(), ", "))
	}
	t, _ := ByName(name)
	switch name {
	case "chatml":
		if m := reDefaultSystem.FindStringSubmatch(tmpl); m != nil {
			t.DefaultSystem = strings.ReplaceAll(m[1], `\n`, "\n")
		}
	case "llama3.1":
		if m := reDate.FindStringSubmatch(tmpl); m != nil {
			t.Date = m[1]
		}
	case "deepseek3":
		t.ThinkPrompt = has(`<think>\n`) || has("<think>\n")
	}
	return t, nil
}

func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Render returns the prompt text for msgs (see the package comment for the BOS rule). With
// addGenerationPrompt it ends with the header of an assistant turn, ready for the model to continue; families
// whose templates always end that way (Llama 2, Mistral, Phi-3-mini) ignore it.
func (t *Template) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	if t.render == nil {
		return "", fmt.Errorf("chat: zero Template; use Detect or ByName")
	}
	if len(msgs) == 0 {
		return "", fmt.Errorf("chat: %s: no messages to render", t.Name)
	}
	var b strings.Builder
	t.render(t, &b, msgs, addGenerationPrompt)
	return b.String(), nil
}

// StopStrings are the texts that end an assistant turn in this format (end-of-turn markers and the start of
// the next turn). Generation also stops on the vocabulary's end-of-generation tokens; these strings catch models
// that spell the marker as plain text.
func (t *Template) StopStrings() []string { return slices.Clone(t.stops) }

// splitSystem returns the leading system message's content (if any) and the rest.
func splitSystem(msgs []Message) (sys string, hasSys bool, rest []Message) {
	if len(msgs) > 0 && msgs[0].Role == "system" {
		return msgs[0].Content, true, msgs[1:]
	}
	return "", false, msgs
}

// pyStrip is Python's / Jinja's str.strip() and |trim: Unicode whitespace on both ends.
func pyStrip(s string) string { return strings.TrimSpace(s) }

// mergeSystem folds a leading system message into the first user message, separated by sep, for formats
// with no system role (llama.cpp's Jinja path does the same polyfill for such templates).
func mergeSystem(msgs []Message, sep string) []Message {
	sys, ok, rest := splitSystem(msgs)
	if !ok {
		return msgs
	}
	out := slices.Clone(rest)
	for i := range out {
		if out[i].Role == "user" {
			out[i].Content = sys + sep + out[i].Content
			return out
		}
	}
	return append([]Message{{Role: "user", Content: sys}}, out...)
}
