package knowledge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// errSkip marks a file that is not ingested; its message is the reason shown
// to the user.
var errSkip = errors.New("skipped")

func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errSkip}, args...)...)
}

// Supported reports whether ingest reads files with this name's extension.
func Supported(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".md", ".markdown", ".html", ".htm", ".jsonl":
		return true
	}
	return false
}

// pdfReason says why PDF files are skipped: among the modules dayi may use
// (standard library, golang.org/x, and a short vetted list) none reads PDF,
// and a PDF text extractor good enough for clinical tables is a project of
// its own.
const pdfReason = "PDF is not supported (no pure-Go PDF reader among dayi's permitted modules); convert it to text first, e.g. pdftotext -layout FILE.pdf"

// decodeText turns file bytes into UTF-8 text: UTF-8 (with or without BOM),
// UTF-16 with a BOM, or GB18030 (which includes GBK and GB2312, still common
// in Chinese hospital systems). Binary data is refused.
func decodeText(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return decodeUTF16(b)
	}
	// git's heuristic: a NUL byte in the first 8000 bytes means binary
	if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
		return "", skipf("binary file (NUL bytes)")
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || bytes.Count(s, []byte("\uFFFD")) > len(s)/200 {
		return "", skipf("undecodable text (neither UTF-8, UTF-16 nor GB18030)")
	}
	return string(s), nil
}

func decodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", skipf("undecodable text (odd-length UTF-16)")
	}
	le := b[0] == 0xFF
	u := make([]uint16, 0, len(b)/2-1)
	for i := 2; i+1 < len(b); i += 2 {
		if le {
			u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
		} else {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		}
	}
	return string(utf16.Decode(u)), nil
}

// parseFile turns the bytes of the file at source into documents.
func parseFile(source string, data []byte) ([]document, []Skipped, error) {
	ext := strings.ToLower(filepath.Ext(source))
	if ext == ".pdf" {
		return nil, nil, skipf("%s", pdfReason)
	}
	if !Supported(source) {
		return nil, nil, skipf("unsupported file type %q (want .txt, .md, .html, .jsonl)", ext)
	}
	text, err := decodeText(data)
	if err != nil {
		return nil, nil, err
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	base := strings.TrimSuffix(filepath.Base(source), filepath.Ext(source))
	switch ext {
	case ".md", ".markdown":
		return []document{parseMarkdown(source, base, text)}, nil, nil
	case ".html", ".htm":
		return []document{parseHTML(source, base, text)}, nil, nil
	case ".jsonl":
		docs, skipped := parseJSONL(source, base, text)
		if len(docs) == 0 {
			return nil, skipped, skipf("no usable line (each line needs a JSON object with \"text\")")
		}
		return docs, skipped, nil
	}
	return []document{parsePlain(source, base, text)}, nil, nil
}

// headingStack keeps the current heading path by level.
type headingStack struct {
	levels []int
	titles []string
}

func (h *headingStack) push(level int, title string) {
	for len(h.levels) > 0 && h.levels[len(h.levels)-1] >= level {
		h.levels, h.titles = h.levels[:len(h.levels)-1], h.titles[:len(h.titles)-1]
	}
	h.levels, h.titles = append(h.levels, level), append(h.titles, title)
}

func (h *headingStack) path() []string { return append([]string(nil), h.titles...) }

// sectionBuilder collects body lines between headings.
type sectionBuilder struct {
	doc   *document
	stack headingStack
	body  strings.Builder
	line  int
}

func (sb *sectionBuilder) addLine(lineNo int, s string) {
	if sb.body.Len() == 0 {
		if strings.TrimSpace(s) == "" {
			return
		}
		sb.line = lineNo
	}
	sb.body.WriteString(s)
	sb.body.WriteByte('\n')
}

func (sb *sectionBuilder) flush() {
	if t := strings.TrimSpace(sb.body.String()); t != "" {
		sb.doc.sections = append(sb.doc.sections, section{headings: sb.stack.path(), text: sb.body.String(), line: sb.line})
	}
	sb.body.Reset()
}

func (sb *sectionBuilder) heading(level int, title string) {
	sb.flush()
	sb.stack.push(level, title)
	if sb.doc.title == "" && level == 1 {
		sb.doc.title = title
	}
}

var (
	atxHeading    = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	setextHeading = regexp.MustCompile(`^\s{0,3}(=+|-+)\s*$`)
)

// parseMarkdown follows ATX ("## Title") and setext (underlined) headings,
// ignoring '#' lines inside fenced code.
func parseMarkdown(source, base, text string) document {
	d := document{source: source}
	sb := sectionBuilder{doc: &d}
	lines := strings.Split(text, "\n")
	fence := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = !fence
		}
		if !fence {
			if m := atxHeading.FindStringSubmatch(l); m != nil {
				sb.heading(len(m[1]), m[2])
				continue
			}
			if i+1 < len(lines) && strings.TrimSpace(l) != "" && (i == 0 || strings.TrimSpace(lines[i-1]) == "") {
				if m := setextHeading.FindStringSubmatch(lines[i+1]); m != nil {
					level := 1
					if m[1][0] == '-' {
						level = 2
					}
					sb.heading(level, strings.TrimSpace(l))
					i++
					continue
				}
			}
		}
		sb.addLine(i+1, l)
	}
	sb.flush()
	if d.title == "" {
		d.title = base
	}
	return d
}

// plainHeading recognises headings of plain-text guidelines: Chinese
// chapter/section markers (第一章, 第二节, 一、, （一）) and short numbered
// lines ("2.1 Dosing") without sentence punctuation. Levels follow the usual
// order of Chinese official documents: 章, 节, 一、, （一）, then 1., 1.1.
var plainHeading = []struct {
	re    *regexp.Regexp
	level int
}{
	{regexp.MustCompile(`^第[一二三四五六七八九十百零〇0-9]+[章篇部]`), 1},
	{regexp.MustCompile(`^第[一二三四五六七八九十百零〇0-9]+节`), 2},
	{regexp.MustCompile(`^[一二三四五六七八九十]+、`), 3},
	{regexp.MustCompile(`^[（(][一二三四五六七八九十]+[）)]`), 4},
	{regexp.MustCompile(`^[0-9]+(\.[0-9]+)*\.?\s+\S`), 0}, // level from the number's depth
}

func plainHeadingLevel(line string) int {
	t := strings.TrimSpace(line)
	if t == "" || utf8.RuneCountInString(t) > 40 || strings.ContainsAny(t, "。；;！？!?") {
		return 0
	}
	if r, _ := utf8.DecodeLastRuneInString(t); r == '.' || r == '，' || r == ',' || r == '：' || r == ':' {
		return 0
	}
	for _, h := range plainHeading {
		if h.re.MatchString(t) {
			if h.level > 0 {
				return h.level
			}
			num := strings.Fields(t)[0]
			return 5 + strings.Count(strings.TrimSuffix(num, "."), ".")
		}
	}
	return 0
}

func parsePlain(source, base, text string) document {
	d := document{source: source}
	sb := sectionBuilder{doc: &d}
	for i, l := range strings.Split(text, "\n") {
		if lvl := plainHeadingLevel(l); lvl > 0 {
			sb.heading(lvl+1, strings.TrimSpace(l)) // +1: the file's title is level 1
			continue
		}
		sb.addLine(i+1, l)
	}
	sb.flush()
	if d.title == "" {
		d.title = base
	}
	return d
}

// htmlBlocks are elements that end a paragraph.
var htmlBlocks = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "tr": true, "td": true, "th": true, "table": true,
	"ul": true, "ol": true, "section": true, "article": true, "blockquote": true, "pre": true,
	"dd": true, "dt": true, "hr": true, "main": true, "header": true, "footer": true,
}

// htmlSkip are elements whose content is not text for readers.
var htmlSkip = map[string]bool{"script": true, "style": true, "noscript": true, "template": true, "svg": true, "head": true}

// parseHTML is a tolerant tag scanner, not a full HTML5 parser: it keeps text,
// turns <h1>..<h6> into headings and block elements into paragraph breaks,
// takes <title> as the title and drops scripts and styles.
func parseHTML(source, base, text string) document {
	d := document{source: source}
	sb := sectionBuilder{doc: &d}
	var docTitle, head strings.Builder
	skip := ""
	headLevel := 0
	inTitle := false
	for len(text) > 0 {
		lt := strings.IndexByte(text, '<')
		if lt < 0 {
			lt = len(text)
		}
		chunk := html.UnescapeString(text[:lt])
		switch {
		case inTitle:
			docTitle.WriteString(chunk)
		case skip != "":
		case headLevel > 0:
			head.WriteString(chunk)
		default:
			sb.body.WriteString(chunk)
		}
		text = text[lt:]
		if text == "" {
			break
		}
		if strings.HasPrefix(text, "<!--") {
			end := strings.Index(text, "-->")
			if end < 0 {
				break
			}
			text = text[end+3:]
			continue
		}
		gt := strings.IndexByte(text, '>')
		if gt < 0 {
			break
		}
		tag := text[1:gt]
		text = text[gt+1:]
		closing := strings.HasPrefix(tag, "/")
		name := strings.ToLower(strings.TrimLeft(tag, "/"))
		if i := strings.IndexAny(name, " \t\n/"); i >= 0 {
			name = name[:i]
		}
		switch {
		case name == "title":
			inTitle = !closing
		case htmlSkip[name]:
			if closing && skip == name {
				skip = ""
			} else if !closing && skip == "" {
				skip = name
			}
		case skip != "":
		case len(name) == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6':
			if !closing {
				headLevel = int(name[1] - '0')
				head.Reset()
			} else if headLevel > 0 {
				sb.heading(headLevel, collapseSpace(head.String()))
				headLevel = 0
			}
		case htmlBlocks[name]:
			sb.body.WriteString("\n\n")
		}
	}
	if sb.body.Len() > 0 && strings.TrimSpace(sb.body.String()) != "" {
		sb.line = 0
		sb.flush()
	}
	if t := collapseSpace(docTitle.String()); t != "" {
		d.title = t
	}
	if d.title == "" {
		d.title = base
	}
	return d
}

// jsonlRecord is one line of a JSON-lines corpus.
type jsonlRecord struct {
	Text   string `json:"text"`
	Title  string `json:"title"`
	Source string `json:"source"`
}

func parseJSONL(source, base, text string) ([]document, []Skipped) {
	var docs []document
	var skipped []Skipped
	for i, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		where := source + ":" + strconv.Itoa(i+1)
		var r jsonlRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			skipped = append(skipped, Skipped{Path: where, Reason: "invalid JSON: " + err.Error()})
			continue
		}
		if strings.TrimSpace(r.Text) == "" {
			skipped = append(skipped, Skipped{Path: where, Reason: `no "text" field`})
			continue
		}
		d := document{source: source, title: r.Title, location: "line " + strconv.Itoa(i+1)}
		if r.Source != "" {
			d.source, d.location = r.Source, ""
		}
		if d.title == "" {
			d.title = base
		}
		d.sections = []section{{text: r.Text}}
		docs = append(docs, d)
	}
	return docs, skipped
}
