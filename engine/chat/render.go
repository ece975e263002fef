package chat

import "strings"

// Each renderer below reproduces one family's official Jinja template for plain text conversations (no
// tools, no images), minus the leading BOS. The template each one was checked against is named in
// testdata/templates/manifest.json.

// renderChatML: <|im_start|>role\ncontent<|im_end|>\n (Qwen2/2.5, OpenHermes, HuatuoGPT-o1, Baichuan-M2).
func renderChatML(t *Template, b *strings.Builder, msgs []Message, gen bool) {
	if t.DefaultSystem != "" && msgs[0].Role != "system" {
		b.WriteString("<|im_start|>system\n" + t.DefaultSystem + "<|im_end|>\n")
	}
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if gen {
		b.WriteString("<|im_start|>assistant\n")
	}
}

// renderQwen3 is chatml plus Qwen3's reasoning rules: earlier assistant turns lose their <think> block, turns
// after the last user query keep it in a normalised form.
func renderQwen3(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	if msgs[0].Role == "system" {
		b.WriteString("<|im_start|>system\n" + msgs[0].Content + "<|im_end|>\n")
	}
	lastQuery := len(msgs) - 1
	for i := len(msgs) - 1; i >= 0; i-- {
		c := msgs[i].Content
		if msgs[i].Role == "user" && !(strings.HasPrefix(c, "<tool_response>") && strings.HasSuffix(c, "</tool_response>")) {
			lastQuery = i
			break
		}
	}
	for i, m := range msgs {
		switch {
		case m.Role == "user" || m.Role == "system" && i > 0:
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		case m.Role == "assistant":
			content, reasoning := m.Content, ""
			if strings.Contains(content, "</think>") {
				parts := strings.Split(content, "</think>")
				content = strings.TrimLeft(parts[len(parts)-1], "\n")
				r := strings.Split(strings.TrimRight(parts[0], "\n"), "<think>")
				reasoning = strings.TrimLeft(r[len(r)-1], "\n")
			}
			if i > lastQuery && (i == len(msgs)-1 || reasoning != "") {
				b.WriteString("<|im_start|>assistant\n<think>\n" + strings.Trim(reasoning, "\n") + "\n</think>\n\n" +
					strings.TrimLeft(content, "\n"))
			} else {
				b.WriteString("<|im_start|>assistant\n" + content)
			}
			b.WriteString("<|im_end|>\n")
		case m.Role == "tool":
			if i == 0 || msgs[i-1].Role != "tool" {
				b.WriteString("<|im_start|>user")
			}
			b.WriteString("\n<tool_response>\n" + m.Content + "\n</tool_response>")
			if i == len(msgs)-1 || msgs[i+1].Role != "tool" {
				b.WriteString("<|im_end|>\n")
			}
		}
	}
	if gen {
		b.WriteString("<|im_start|>assistant\n")
	}
}

// renderLlama2 covers llama.cpp's llama2 variants. withSys: <<SYS>> block in the first turn (otherwise the
// system text and "\n" lead the first user turn); bosInside: later turns start with "<s>"; chat: the exact
// Llama-2-chat spacing and stripping ("[INST] x [/INST] y </s>"), used with withSys and bosInside.
func renderLlama2(withSys, bosInside, chat bool) func(*Template, *strings.Builder, []Message, bool) {
	return func(_ *Template, b *strings.Builder, msgs []Message, _ bool) {
		sys, hasSys, rest := splitSystem(msgs)
		if hasSys && !withSys {
			rest = mergeSystem(msgs, "\n")
			hasSys = false
		}
		first := true
		for _, m := range rest {
			content := m.Content
			if first && hasSys {
				content = "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + content
			}
			switch m.Role {
			case "user":
				if !first && bosInside {
					b.WriteString("<s>")
				}
				if chat {
					b.WriteString("[INST] " + pyStrip(content) + " [/INST]")
				} else {
					b.WriteString("[INST] " + content + " [/INST]")
				}
			case "assistant":
				if chat {
					b.WriteString(" " + pyStrip(content) + " </s>")
				} else {
					b.WriteString(content + "</s>")
				}
			}
			first = false
		}
	}
}

// renderMistralV1: " [INST] sys\n\nuser [/INST] assistant</s>" (system joins the first user turn).
func renderMistralV1(_ *Template, b *strings.Builder, msgs []Message, _ bool) {
	sys, hasSys, rest := splitSystem(msgs)
	for i, m := range rest {
		switch m.Role {
		case "user":
			if i == 0 && hasSys {
				b.WriteString(" [INST] " + sys + "\n\n" + m.Content + " [/INST]")
			} else {
				b.WriteString(" [INST] " + m.Content + " [/INST]")
			}
		case "assistant":
			b.WriteString(" " + m.Content + "</s>")
		}
	}
}

// renderMistralV3: the system prompt joins the LAST user turn (as Mistral's v3 templates do). sp is the space
// after [INST] (v3) or nothing (v3-tekken); trimAssistant strips assistant text and prefixes a space (v3).
func renderMistralV3(sp string, trimAssistant bool) func(*Template, *strings.Builder, []Message, bool) {
	return func(_ *Template, b *strings.Builder, msgs []Message, _ bool) {
		sys, hasSys, rest := splitSystem(msgs)
		for i, m := range rest {
			switch m.Role {
			case "user":
				if i == len(rest)-1 && hasSys {
					b.WriteString("[INST]" + sp + sys + "\n\n" + m.Content + "[/INST]")
				} else {
					b.WriteString("[INST]" + sp + m.Content + "[/INST]")
				}
			case "assistant":
				if trimAssistant {
					b.WriteString(" " + pyStrip(m.Content) + "</s>")
				} else {
					b.WriteString(m.Content + "</s>")
				}
			}
		}
	}
}

// renderMistralV7: [SYSTEM_PROMPT] / [INST] blocks anywhere; sp is " " (v7) or "" (v7-tekken).
func renderMistralV7(sp string) func(*Template, *strings.Builder, []Message, bool) {
	return func(_ *Template, b *strings.Builder, msgs []Message, _ bool) {
		for _, m := range msgs {
			switch m.Role {
			case "system":
				b.WriteString("[SYSTEM_PROMPT]" + sp + m.Content + "[/SYSTEM_PROMPT]")
			case "user":
				b.WriteString("[INST]" + sp + m.Content + "[/INST]")
			case "assistant":
				b.WriteString(sp + m.Content + "</s>")
			}
		}
	}
}

func llama3Turn(b *strings.Builder, role, content string) {
	b.WriteString("<|start_header_id|>" + role + "<|end_header_id|>\n\n" + pyStrip(content) + "<|eot_id|>")
}

// renderLlama3: Meta-Llama-3-Instruct, every turn trimmed.
func renderLlama3(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	for _, m := range msgs {
		llama3Turn(b, m.Role, m.Content)
	}
	if gen {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
}

// renderLlama31: Llama 3.1/3.3, whose system turn always carries the knowledge-cutoff and date header.
func renderLlama31(t *Template, b *strings.Builder, msgs []Message, gen bool) {
	sys, _, rest := splitSystem(msgs)
	date := t.Date
	if date == "" {
		date = llama31Date
	}
	b.WriteString("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " +
		date + "\n\n" + pyStrip(sys) + "<|eot_id|>")
	for _, m := range rest {
		role := m.Role
		if role == "tool" || role == "ipython" {
			b.WriteString("<|start_header_id|>ipython<|end_header_id|>\n\n" + m.Content + "<|eot_id|>")
			continue
		}
		llama3Turn(b, role, m.Content)
	}
	if gen {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
}

// renderGemma: Gemma 2/3. "assistant" is "model"; the system prompt (Gemma 3's rule; Gemma 2's template
// refuses it) leads the first turn followed by a blank line; turns are trimmed.
func renderGemma(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	sys, hasSys, rest := splitSystem(msgs)
	prefix := ""
	if hasSys {
		prefix = sys + "\n\n"
	}
	for i, m := range rest {
		role := m.Role
		if role == "assistant" {
			role = "model"
		}
		b.WriteString("<start_of_turn>" + role + "\n")
		if i == 0 {
			b.WriteString(prefix)
		}
		b.WriteString(pyStrip(m.Content) + "<end_of_turn>\n")
	}
	if gen {
		b.WriteString("<start_of_turn>model\n")
	}
}

// renderGemma4: <|turn>role\n...<turn|>\n with a real system turn; model turns drop <|channel>…<channel|>
// thoughts; the generation prompt closes an empty thought channel (thinking off, the template's default).
func renderGemma4(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	rest := msgs
	if r := msgs[0].Role; r == "system" || r == "developer" {
		b.WriteString("<|turn>system\n" + pyStrip(msgs[0].Content) + "<turn|>\n")
		rest = msgs[1:]
	}
	for _, m := range rest {
		role := m.Role
		if role == "assistant" {
			role = "model"
		}
		b.WriteString("<|turn>" + role + "\n")
		if role == "model" {
			b.WriteString(stripThinking(m.Content))
		} else {
			b.WriteString(pyStrip(m.Content))
		}
		b.WriteString("<turn|>\n")
	}
	if gen {
		b.WriteString("<|turn>model\n<|channel>thought\n<channel|>")
	}
}

func stripThinking(s string) string {
	var out strings.Builder
	for _, part := range strings.Split(s, "<channel|>") {
		if i := strings.Index(part, "<|channel>"); i >= 0 {
			out.WriteString(part[:i])
		} else {
			out.WriteString(part)
		}
	}
	return pyStrip(out.String())
}

// renderPhi3: Phi-3-mini's template, which has no system role (the system text leads the first user turn)
// and always opens the assistant turn after a user turn.
func renderPhi3(_ *Template, b *strings.Builder, msgs []Message, _ bool) {
	for _, m := range mergeSystem(msgs, "\n") {
		switch m.Role {
		case "user":
			b.WriteString("<|user|>\n" + m.Content + "<|end|>\n<|assistant|>\n")
		case "assistant":
			b.WriteString(m.Content + "<|end|>\n")
		}
	}
}

// renderPhi35: Phi-3.5 / Phi-3-medium style with a system role; without a generation prompt it ends in EOS.
func renderPhi35(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	for _, m := range msgs {
		switch m.Role {
		case "system":
			if m.Content != "" {
				b.WriteString("<|system|>\n" + m.Content + "<|end|>\n")
			}
		case "user", "assistant":
			b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
		}
	}
	if gen {
		b.WriteString("<|assistant|>\n")
	} else {
		b.WriteString("<|endoftext|>")
	}
}

// renderZephyr follows llama.cpp's built-in zephyr format (StableLM-style <|endoftext|> turns).
func renderZephyr(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|endoftext|>\n")
	}
	if gen {
		b.WriteString("<|assistant|>\n")
	}
}

// renderDeepSeek: deepseek-coder-instruct, with its default system prompt when none is given.
func renderDeepSeek(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	if !hasRole(msgs, "system") {
		b.WriteString(deepseekSys)
	}
	for _, m := range msgs {
		switch m.Role {
		case "system":
			b.WriteString(m.Content)
		case "user":
			b.WriteString("### Instruction:\n" + m.Content + "\n")
		default:
			b.WriteString("### Response:\n" + m.Content + "\n<|EOT|>\n")
		}
	}
	if gen {
		b.WriteString("### Response:\n")
	}
}

func hasRole(msgs []Message, role string) bool {
	for _, m := range msgs {
		if m.Role == role {
			return true
		}
	}
	return false
}

// renderDeepSeek2: DeepSeek-V2 chat ("User: …\n\nAssistant: …<｜end▁of▁sentence｜>").
func renderDeepSeek2(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	for _, m := range msgs {
		switch m.Role {
		case "user":
			b.WriteString("User: " + m.Content + "\n\n")
		case "assistant":
			b.WriteString("Assistant: " + m.Content + dsEOS)
		case "system":
			b.WriteString(m.Content + "\n\n")
		}
	}
	if gen {
		b.WriteString("Assistant:")
	}
}

// renderDeepSeek3: DeepSeek-V3 / R1 (and the R1 distills): the last system prompt goes first, assistant turns
// keep only the text after </think>.
func renderDeepSeek3(t *Template, b *strings.Builder, msgs []Message, gen bool) {
	sys := ""
	for _, m := range msgs {
		if m.Role == "system" {
			sys = m.Content
		}
	}
	b.WriteString(sys)
	for _, m := range msgs {
		switch m.Role {
		case "user":
			b.WriteString(dsUser + m.Content)
		case "assistant":
			c := m.Content
			if i := strings.LastIndex(c, "</think>"); i >= 0 {
				c = c[i+len("</think>"):]
			}
			b.WriteString(dsAssistant + c + dsEOS)
		}
	}
	if gen {
		b.WriteString(dsAssistant)
		if t.ThinkPrompt {
			b.WriteString("<think>\n")
		}
	}
}

// renderCommandR: Cohere Command-R.
func renderCommandR(_ *Template, b *strings.Builder, msgs []Message, gen bool) {
	sys, hasSys, rest := splitSystem(msgs)
	if hasSys {
		b.WriteString("<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>" + sys + "<|END_OF_TURN_TOKEN|>")
	}
	for _, m := range rest {
		switch m.Role {
		case "user":
			b.WriteString("<|START_OF_TURN_TOKEN|><|USER_TOKEN|>" + pyStrip(m.Content) + "<|END_OF_TURN_TOKEN|>")
		case "assistant":
			b.WriteString("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" + pyStrip(m.Content) + "<|END_OF_TURN_TOKEN|>")
		}
	}
	if gen {
		b.WriteString("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>")
	}
}
