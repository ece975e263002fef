package knowledge

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// section is text under one heading path, as found in a source document.
type section struct {
	headings []string // outermost first; empty before the first heading
	text     string
	line     int // 1-based line of text's first byte in the file; 0 when lines mean nothing (HTML)
}

// document is one parsed source: a file, or one line of a JSON-lines file.
type document struct {
	source   string // what citations show
	title    string
	location string // prefix of every chunk location (e.g. "line 7" of a JSON-lines file)
	sections []section
}

// chunk is a retrievable piece of a document.
type chunk struct {
	Source   string
	Title    string
	Location string // heading path and line range, e.g. "高血压 > 药物治疗, lines 12-18"
	Heading  string // heading path alone; indexed with the text
	Text     string
	Tokens   int
}

// sentenceEnd holds the punctuation after which a sentence ends: Chinese full
// stops, question and exclamation marks and semicolons (a clinical guideline
// often lists one recommendation per clause ending in "；").
const sentenceEnd = "。！？；!?;"

// closers may follow sentence punctuation and belong to the sentence before.
const closers = "”’」』）)】\"'"

// sentenceSpans returns [start, end) byte offsets of the sentences of text.
// A sentence ends after Chinese or Western terminal punctuation (plus any
// closing quotes), after a '.' followed by white space or the end of text,
// and at a blank line. A '.' between digits ("2.5 mg") or letters ("e.g")
// ends nothing. White space between sentences is not part of either.
func sentenceSpans(text string) [][2]int {
	var spans [][2]int
	start := -1
	emit := func(end int) {
		if start >= 0 && end > start {
			spans = append(spans, [2]int{start, end})
		}
		start = -1
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if start < 0 {
			if unicode.IsSpace(r) {
				i += size
				continue
			}
			start = i
		}
		next := i + size
		switch {
		case r == '\n':
			// a blank line ends a paragraph; a single newline inside a
			// paragraph is a soft wrap, unless the next line starts a list item
			j := next
			for j < len(text) && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
				j++
			}
			if j >= len(text) || text[j] == '\n' || listItemAt(text[j:]) {
				emit(i)
			}
		case strings.ContainsRune(sentenceEnd, r):
			for next < len(text) {
				c, cs := utf8.DecodeRuneInString(text[next:])
				if !strings.ContainsRune(closers, c) && !strings.ContainsRune(sentenceEnd, c) {
					break
				}
				next += cs
			}
			emit(next)
		case r == '.':
			if next >= len(text) {
				emit(next)
				break
			}
			c, _ := utf8.DecodeRuneInString(text[next:])
			if (unicode.IsSpace(c) || isCJK(c)) && !abbreviationBefore(text[:i]) {
				emit(next)
			}
		}
		i = next
	}
	emit(len(strings.TrimRightFunc(text, unicode.IsSpace)))
	return spans
}

// listItemAt reports whether s starts a list item ("- ", "* ", "1. ", "（1）").
func listItemAt(s string) bool {
	if strings.HasPrefix(s, "- ") || strings.HasPrefix(s, "* ") || strings.HasPrefix(s, "+ ") ||
		strings.HasPrefix(s, "•") || strings.HasPrefix(s, "（") || strings.HasPrefix(s, "(") {
		return true
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(s) {
		return false
	}
	return strings.HasPrefix(s[i:], "、") || (s[i] == '.' || s[i] == ')') && i+1 < len(s) && s[i+1] == ' '
}

// abbreviationBefore reports whether the word ending at the end of s is a
// common abbreviation after which '.' does not end the sentence.
func abbreviationBefore(s string) bool {
	j := len(s)
	for j > 0 && (s[j-1] >= 'a' && s[j-1] <= 'z' || s[j-1] >= 'A' && s[j-1] <= 'Z' || s[j-1] == '.') {
		j--
	}
	switch strings.ToLower(s[j:]) {
	case "e.g", "i.e", "dr", "mr", "mrs", "ms", "vs", "etc", "approx", "fig", "no", "st":
		return true
	}
	return false
}

// SplitSentences returns the sentences of text (see sentenceSpans).
func SplitSentences(text string) []string {
	spans := sentenceSpans(text)
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = text[s[0]:s[1]]
	}
	return out
}

// chunker cuts documents into chunks of at most maxTokens tokens without
// crossing a heading and without splitting a sentence, unless one sentence
// alone is longer than maxTokens (then it is cut at commas, then anywhere).
type chunker struct {
	maxTokens int
	count     func(string) int
}

func (c *chunker) chunks(d *document) []chunk {
	var out []chunk
	for si := range d.sections {
		s := &d.sections[si]
		var cur []string
		curTok, firstLine, lastLine := 0, 0, 0
		flush := func() {
			if len(cur) == 0 {
				return
			}
			text := strings.Join(cur, joiner(cur))
			out = append(out, chunk{
				Source: d.source, Title: d.title, Text: text, Tokens: c.count(text),
				Location: location(d.location, s.headings, firstLine, lastLine),
				Heading:  strings.Join(s.headings, " > "),
			})
			cur, curTok = cur[:0], 0
		}
		for _, sp := range sentenceSpans(s.text) {
			line := 0
			if s.line > 0 {
				line = s.line + strings.Count(s.text[:sp[0]], "\n")
			}
			endLine := line
			if s.line > 0 {
				endLine = line + strings.Count(s.text[sp[0]:sp[1]], "\n")
			}
			for _, piece := range c.fit(collapseSpace(s.text[sp[0]:sp[1]])) {
				n := c.count(piece)
				if len(cur) > 0 && curTok+n > c.maxTokens {
					flush()
				}
				if len(cur) == 0 {
					firstLine = line
				}
				cur = append(cur, piece)
				curTok += n
				lastLine = endLine
			}
		}
		flush()
	}
	return out
}

// fit splits a sentence longer than maxTokens at commas, and pieces still too
// long at rune boundaries.
func (c *chunker) fit(sentence string) []string {
	if c.count(sentence) <= c.maxTokens {
		return []string{sentence}
	}
	var out []string
	var cur strings.Builder
	for _, clause := range splitAfterAny(sentence, "，,、：:") {
		if cur.Len() > 0 && c.count(cur.String()+clause) > c.maxTokens {
			out = append(out, cur.String())
			cur.Reset()
		}
		if c.count(clause) > c.maxTokens {
			out = append(out, c.hardSplit(clause)...)
			continue
		}
		cur.WriteString(clause)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// hardSplit cuts s into pieces of at most maxTokens by bisection on runes.
func (c *chunker) hardSplit(s string) []string {
	var out []string
	for s != "" {
		runes := []rune(s)
		lo, hi := 1, len(runes)
		for lo < hi { // largest prefix that fits, at least one rune
			mid := (lo + hi + 1) / 2
			if c.count(string(runes[:mid])) <= c.maxTokens {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		out = append(out, string(runes[:lo]))
		s = string(runes[lo:])
	}
	return out
}

func splitAfterAny(s, seps string) []string {
	var out []string
	start := 0
	for i, r := range s {
		if strings.ContainsRune(seps, r) {
			end := i + utf8.RuneLen(r)
			out = append(out, s[start:end])
			start = end
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// joiner is "" between Chinese sentences and " " between others.
func joiner(parts []string) string {
	for _, p := range parts {
		r, _ := utf8.DecodeLastRuneInString(p)
		if !isCJK(r) && !strings.ContainsRune("。！？；：，、”」』）】", r) {
			return " "
		}
	}
	return ""
}

// collapseSpace turns soft line wraps and runs of white space into one space
// (none between two CJK characters, where a wrap is not a word break).
func collapseSpace(s string) string {
	var b strings.Builder
	space := false
	var prev rune
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 && !(isCJK(prev) && isCJK(r)) {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func location(prefix string, headings []string, first, last int) string {
	var parts []string
	if prefix != "" {
		parts = append(parts, prefix)
	}
	if len(headings) > 0 {
		parts = append(parts, strings.Join(headings, " > "))
	}
	switch {
	case first <= 0:
	case last > first:
		parts = append(parts, "lines "+strconv.Itoa(first)+"-"+strconv.Itoa(last))
	default:
		parts = append(parts, "line "+strconv.Itoa(first))
	}
	return strings.Join(parts, ", ")
}
