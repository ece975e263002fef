package tokenizer

// BPE pre-tokenizers. llama.cpp (src/unicode.cpp, unicode_regex_split) applies
// a list of regexes in turn, each splitting every current piece further into
// matches and the gaps between them. A few regexes have hand-written
// splitters there (GPT-2, Llama 3, Qwen 2, Qwen 3.5, Gemma 4); the others run
// through std::regex on a "collapsed" text where each non-ASCII code point is
// replaced by one byte standing for its category, and \p{L} etc. by classes
// over those bytes. Go's regexp has no lookahead and different Unicode
// classes, so every regex family is a hand-written scanner here, following
// the exact semantics of the llama.cpp path the regex takes.

// splitter splits the code points c[start:end] into consecutive pieces,
// appending their lengths to out.
type splitter func(c []rune, start, end int, out []int) []int

// matcher returns the length of the regex match starting at c[pos] (0 when
// the regex does not match there), never looking at or beyond end.
type matcher func(c []rune, pos, end int) int

// regexSplit is std::regex_iterator over a piece: leftmost matches, gaps
// between them become pieces too.
func regexSplit(m matcher) splitter {
	return func(c []rune, start, end int, out []int) []int {
		prev := start
		for pos := start; pos < end; {
			n := m(c, pos, end)
			if n == 0 {
				pos++
				continue
			}
			if pos > prev {
				out = append(out, pos-prev)
			}
			out = append(out, n)
			pos += n
			prev = pos
		}
		if prev < end {
			out = append(out, end-prev)
		}
		return out
	}
}

// Character classes of the std::regex path. Non-ASCII whitespace has been
// replaced by 0x0B there, so it matches \s and nothing else; in collapsed
// mode non-ASCII code points only match the \p class of their category.

// reSpace is \s: C-locale isspace.
func reSpace(r rune) bool {
	if r < 128 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return isSpaceCpt(r)
}

// collapsedIs reports whether r is in \p{cat} of the collapsed text: ASCII
// code points by the literal ASCII sets llama.cpp substitutes, others by
// their category unless they are whitespace.
func collapsedIs(r rune, cat uint16) bool {
	if r < 0 {
		return false
	}
	if r < 128 {
		return asciiFlags[r]&cat != 0
	}
	f := cptFlags(r)
	return f&flagWhitespace == 0 && f&cat != 0
}

// wchar is the code point the std::wregex path sees: non-ASCII whitespace
// becomes 0x0B.
func wchar(r rune) rune {
	if r >= 128 && isSpaceCpt(r) {
		return 0x0B
	}
	return r
}

// runClass matches one or more code points satisfying in.
func runClass(in func(r rune) bool) matcher {
	return func(c []rune, pos, end int) int {
		n := 0
		for pos+n < end && in(c[pos+n]) {
			n++
		}
		return n
	}
}

// optSpaceRun matches \s?X+ with backtracking on the optional space.
func optSpaceRun(in func(r rune) bool) matcher {
	return func(c []rune, pos, end int) int {
		if reSpace(c[pos]) && pos+1 < end && in(c[pos+1]) {
			n := 2
			for pos+n < end && in(c[pos+n]) {
				n++
			}
			return n
		}
		n := 0
		for pos+n < end && in(c[pos+n]) {
			n++
		}
		return n
	}
}

// oneOf matches exactly one code point satisfying in.
func oneOf(in func(r rune) bool) matcher {
	return func(c []rune, pos, end int) int {
		if in(c[pos]) {
			return 1
		}
		return 0
	}
}

// threeDigits matches [0-9][0-9][0-9].
func threeDigits(c []rune, pos, end int) int {
	if pos+3 <= end && isDigit(c[pos]) && isDigit(c[pos+1]) && isDigit(c[pos+2]) {
		return 3
	}
	return 0
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// splitTrailingSpace is \s+$ : the whitespace run that ends the piece.
func splitTrailingSpace(c []rune, start, end int, out []int) []int {
	k := end
	for k > start && reSpace(c[k-1]) {
		k--
	}
	if k > start {
		out = append(out, k-start)
	}
	if k < end {
		out = append(out, end-k)
	}
	return out
}

// splitNewlines is [^\n]+|[\n]+ (llama.cpp's custom splitter for Gemma 4).
func splitNewlines(c []rune, start, end int, out []int) []int {
	for pos := start; pos < end; {
		nl := c[pos] == '\n'
		k := pos
		for k < end && (c[k] == '\n') == nl {
			k++
		}
		out = append(out, k-pos)
		pos = k
	}
	return out
}

// rangeSet is a character class given as inclusive code point ranges.
type rangeSet [][2]rune

func (s rangeSet) has(r rune) bool {
	for _, rg := range s {
		if r >= rg[0] && r <= rg[1] {
			return true
		}
	}
	return false
}

// parseClass turns the body of a bracket expression made of literal
// characters and "a-b" ranges into a rangeSet.
func parseClass(body string) rangeSet {
	rs := []rune(body)
	var s rangeSet
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			s = append(s, [2]rune{rs[i], rs[i+2]})
			i += 2
			continue
		}
		s = append(s, [2]rune{rs[i], rs[i]})
	}
	return s
}

// DeepSeek's classes (from its tokenizer.json, as llama.cpp lists them),
// written with escapes so that no editor normalizes e.g. U+212A KELVIN SIGN.
var (
	deepseekLetters = parseClass("A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF" +
		"\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481" +
		"\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B" +
		"\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B" +
		"\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB" +
		"\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128" +
		"\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4" +
		"\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF" +
		"\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3" +
		"\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943")
	deepseekPunct = parseClass("!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002")
	deepseekCJK   = parseClass("\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF")
)

// bloomExcluded is the negated class of " ?[^(\s|.,!?…。，、।۔،)]+" (BLOOM,
// Poro, GPT-3 Finnish, Viking), whitespace aside.
var bloomExcluded = parseClass("(|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)")

// splitGPT2 is llama.cpp's unicode_regex_split_custom_gpt2, the GPT-2 regex
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func splitGPT2(c []rune, start, end int, out []int) []int {
	cpt := func(p int) rune {
		if p >= start && p < end {
			return c[p]
		}
		return cptInvalid
	}
	flags := func(p int) uint16 { return cptFlags(cpt(p)) }
	prevEnd := start
	add := func(e int) int {
		n := e - prevEnd
		if n > 0 {
			out = append(out, n)
		}
		prevEnd = e
		return n
	}
	const lnw = flagLetter | flagNumber | flagWhitespace
	for pos := start; pos < end; {
		r := cpt(pos)
		f := flags(pos)
		if r == '\'' && pos+1 < end {
			n1 := cpt(pos + 1)
			if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
				pos += add(pos + 2)
				continue
			}
			if pos+2 < end {
				n2 := cpt(pos + 2)
				if (n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l') {
					pos += add(pos + 3)
					continue
				}
			}
		}
		f2 := f
		if r == ' ' {
			f2 = flags(pos + 1)
		}
		if f2&flagLetter != 0 {
			if r == ' ' {
				pos++
			}
			for f2&flagLetter != 0 {
				pos++
				f2 = flags(pos)
			}
			add(pos)
			continue
		}
		if f2&flagNumber != 0 {
			if r == ' ' {
				pos++
			}
			for f2&flagNumber != 0 {
				pos++
				f2 = flags(pos)
			}
			add(pos)
			continue
		}
		if f2&lnw == 0 && f2 != 0 {
			if r == ' ' {
				pos++
			}
			for f2&lnw == 0 && f2 != 0 {
				pos++
				f2 = flags(pos)
			}
			add(pos)
			continue
		}
		nws := 0
		for flags(pos+nws)&flagWhitespace != 0 {
			nws++
		}
		if nws > 1 && cpt(pos+nws) != cptInvalid {
			pos += nws - 1
			add(pos)
			continue
		}
		if nws > 0 {
			pos += nws
			add(pos)
			continue
		}
		pos++
		add(pos)
	}
	return out
}

// llama3Style configures splitLlama3 for the regex family
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?L+|\p{N}{1,D}| ?[^\s L \p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// where L is \p{L} (Llama 3, Qwen 2) or [\p{L}\p{M}] (Qwen 3.5) and D is 3
// (Llama 3) or 1 (Qwen).
type llama3Style struct {
	maxDigits int  // 3 for \p{N}{1,3}, 1 for \p{N}
	marks     bool // letters include \p{M}
}

// split is llama.cpp's unicode_regex_split_custom_llama3 / _qwen2 / _qwen35.
func (st llama3Style) split(c []rune, start, end int, out []int) []int {
	cpt := func(p int) rune {
		if p >= start && p < end {
			return c[p]
		}
		return cptInvalid
	}
	flags := func(p int) uint16 { return cptFlags(cpt(p)) }
	prevEnd := start
	add := func(e int) int {
		n := e - prevEnd
		if n > 0 {
			out = append(out, n)
		}
		prevEnd = e
		return n
	}
	letter := flagLetter
	if st.marks {
		letter |= flagAccentMark
	}
	lnw := letter | flagNumber | flagWhitespace
	for pos := start; pos < end; {
		r := cpt(pos)
		f := flags(pos)
		if r == '\'' && pos+1 < end {
			n1 := lowerASCII(cpt(pos + 1))
			if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
				pos += add(pos + 2)
				continue
			}
			if pos+2 < end {
				n2 := lowerASCII(cpt(pos + 2))
				if (n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l') {
					pos += add(pos + 3)
					continue
				}
			}
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if !(r == '\r' || r == '\n' || f&flagNumber != 0) {
			if f&letter != 0 || flags(pos+1)&letter != 0 {
				pos++
				for flags(pos)&letter != 0 {
					pos++
				}
				add(pos)
				continue
			}
		}
		// \p{N}{1,D}
		if f&flagNumber != 0 {
			if st.maxDigits == 1 {
				pos++
				add(pos)
				continue
			}
			ini := pos
			for flags(pos)&flagNumber != 0 {
				pos++
				if pos-ini >= st.maxDigits {
					add(pos)
					ini = pos
				}
			}
			add(pos)
			continue
		}
		// <space>?[^\s\p{L}\p{N}]+[\r\n]*
		f2 := f
		if r == ' ' {
			f2 = flags(pos + 1)
		}
		if f2&lnw == 0 && f != 0 {
			if r == ' ' {
				pos++
			}
			for f2&lnw == 0 && f2 != 0 {
				pos++
				f2 = flags(pos)
			}
			r2 := cpt(pos)
			for r2 == '\r' || r2 == '\n' {
				pos++
				r2 = cpt(pos)
			}
			add(pos)
			continue
		}
		nws, lastRN := 0, 0
		for flags(pos+nws)&flagWhitespace != 0 {
			r2 := cpt(pos + nws)
			if r2 == '\r' || r2 == '\n' {
				lastRN = pos + nws + 1
			}
			nws++
		}
		// \s*[\r\n]+
		if lastRN > 0 {
			pos = lastRN
			add(pos)
			continue
		}
		// \s+(?!\S)
		if nws > 1 && cpt(pos+nws) != cptInvalid {
			pos += nws - 1
			add(pos)
			continue
		}
		// \s+
		if nws > 0 {
			pos += nws
			add(pos)
			continue
		}
		pos++
		add(pos)
	}
	return out
}

// lowerASCII lowers the code points that llama.cpp's unicode_tolower maps to
// the ASCII letters the contraction rule compares with: only A-Z do.
func lowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// Pre-tokenizer building blocks.
var (
	splitLlama3 = llama3Style{maxDigits: 3}.split
	splitQwen2  = llama3Style{maxDigits: 1}.split
	splitQwen35 = llama3Style{maxDigits: 1, marks: true}.split

	isCollapsedNumber = func(r rune) bool { return collapsedIs(r, flagNumber) }
	isCollapsedLetter = func(r rune) bool { return collapsedIs(r, flagLetter) }
	isCollapsedPunct  = func(r rune) bool { return collapsedIs(r, flagPunctuation) }
)

// punctAnd returns the collapsed class [\p{P}<extra>].
func punctAnd(extra string) func(r rune) bool {
	return func(r rune) bool {
		if r >= 0 && r < 128 {
			for i := 0; i < len(extra); i++ {
				if rune(extra[i]) == r {
					return true
				}
			}
		}
		return isCollapsedPunct(r)
	}
}

// bloomWord matches " ?[^(\s|.,!?…。，、।۔،)]+" (std::wregex path).
func bloomWord(c []rune, pos, end int) int {
	in := func(r rune) bool { r = wchar(r); return !reSpace(r) && !bloomExcluded.has(r) }
	n := 0
	if c[pos] == ' ' && pos+1 < end && in(c[pos+1]) {
		n = 1
	}
	k := n
	for pos+k < end && in(c[pos+k]) {
		k++
	}
	if k == n {
		return 0
	}
	return k
}

// preTokenizers maps tokenizer.ggml.pre to its splitters and the vocabulary
// options llama.cpp sets with it (llama_vocab::impl::load).
type preConfig struct {
	splits       []splitter
	ignoreMerges bool
	keepSpaces   bool // clean_spaces = false
	addBOS       bool // forces add_bos (before the GGUF flag)
	addSep       bool
	noBOS        bool // special_bos_id = none
	rawBytes     bool // no GPT-2 byte encoding; ▁ for spaces (Gemma 4)
}

var (
	preDefault = []splitter{
		regexSplit(runClass(punctAnd("$+<=>^~|"))),
		splitGPT2,
		regexSplit(runClass(isCollapsedNumber)),
		regexSplit(threeDigits),
	}
	preGPT2      = []splitter{splitGPT2}
	preStarcoder = []splitter{regexSplit(oneOf(isCollapsedNumber)), splitGPT2}
	preLlama3    = []splitter{splitLlama3}
	preQwen2     = []splitter{splitQwen2}
)

func preConfigFor(name string) (preConfig, bool) {
	switch name {
	case "", "default":
		return preConfig{splits: preDefault}, true
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
		return preConfig{splits: preLlama3, ignoreMerges: true, addBOS: true}, true
	case "dbrx", "smaug-bpe":
		return preConfig{splits: preLlama3}, true
	case "glm4", "chatglm-bpe":
		return preConfig{splits: preLlama3, noBOS: true}, true
	case "deepseek-llm":
		return preConfig{keepSpaces: true, splits: []splitter{
			regexSplit(oneOf(func(r rune) bool { return r == '\r' || r == '\n' })),
			regexSplit(optSpaceRun(func(r rune) bool { return deepseekLetters.has(wchar(r)) })),
			regexSplit(optSpaceRun(func(r rune) bool { return deepseekPunct.has(wchar(r)) })),
			splitTrailingSpace,
			regexSplit(runClass(func(r rune) bool { return deepseekCJK.has(wchar(r)) })),
			regexSplit(runClass(isCollapsedNumber)),
		}}, true
	case "deepseek-coder":
		return preConfig{keepSpaces: true, splits: []splitter{
			regexSplit(oneOf(func(r rune) bool { return r == '\r' || r == '\n' })),
			regexSplit(optSpaceRun(isCollapsedLetter)),
			regexSplit(optSpaceRun(isCollapsedPunct)),
			regexSplit(runClass(func(r rune) bool { return deepseekCJK.has(wchar(r)) })),
			regexSplit(oneOf(isCollapsedNumber)),
		}}, true
	case "falcon":
		return preConfig{splits: []splitter{
			regexSplit(runClass(punctAnd("$+<=>^~|`"))),
			splitGPT2,
			regexSplit(threeDigits),
		}}, true
	case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
		"mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4":
		return preConfig{splits: preGPT2}, true
	case "trillion", "granite-docling":
		return preConfig{splits: preGPT2, keepSpaces: true}, true
	case "jina-v1-en", "jina-v2-code", "roberta-bpe":
		return preConfig{splits: preGPT2, addSep: true}, true
	case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
		return preConfig{splits: preStarcoder}, true
	case "command-r", "smollm":
		return preConfig{splits: preStarcoder, keepSpaces: true}, true
	case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open":
		return preConfig{splits: preQwen2, keepSpaces: true}, true
	case "stablelm2", "megrez":
		return preConfig{splits: preQwen2}, true
	case "qwen35":
		return preConfig{splits: []splitter{splitQwen35}, keepSpaces: true}, true
	case "gemma4", "granite-embed-multi-311m":
		return preConfig{splits: []splitter{splitNewlines}, rawBytes: true}, true
	case "poro-chat":
		return preConfig{splits: []splitter{regexSplit(bloomWord)}, keepSpaces: true}, true
	case "bloom", "gpt3-finnish":
		return preConfig{splits: []splitter{regexSplit(bloomWord)}}, true
	case "viking":
		return preConfig{splits: []splitter{regexSplit(bloomWord), regexSplit(oneOf(isCollapsedNumber))}, keepSpaces: true}, true
	}
	return preConfig{}, false
}
