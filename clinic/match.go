package clinic

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Match is a red-flag rule that fired.
type Match struct {
	ID     string `json:"id"`
	Title  Text   `json:"title"`
	Advice Text   `json:"advice"`
	// Evidence names the concepts that made the rule fire, e.g. ["chest_pain", "sweating"].
	Evidence []string `json:"evidence"`
}

// Findings is what the matcher read in a text: the concepts present (not negated), the ages and body
// temperatures written in it.
type Findings struct {
	Text     string // normalised
	Present  map[string]bool
	Count    map[string]int // not-negated occurrences per concept
	AgesDays []int
	TempsC   []float64
	// Spans are the byte spans in Text of each concept's not-negated
	// occurrences, so a reader can be shown what fired a rule.
	Spans map[string][][2]int
}

// occ is one occurrence of a term in the normalised text (byte offsets).
type occ struct {
	concept    int
	start, end int
	negated    bool
	listNeg    bool // negated by a list cue, so the negation carries over commas
}

type span struct{ start, end int }

func inSpans(sp []span, start, end int) bool {
	for _, s := range sp {
		if start >= s.start && end <= s.end {
			return true
		}
	}
	return false
}

// isWordRune reports whether r belongs to a word of a space-separated script; such terms need word
// boundaries ("fit" must not match "benefit"), Chinese terms do not.
func isWordRune(r rune) bool {
	return r < 0x2E80 && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// boundaryOK reports whether s[start:end] is a whole word where its edges are word runes.
func boundaryOK(s string, start, end int, prefix bool) bool {
	if start > 0 {
		first, _ := utf8.DecodeRuneInString(s[start:])
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		if isWordRune(first) && isWordRune(before) {
			return false
		}
	}
	if end < len(s) && !prefix {
		last, _ := utf8.DecodeLastRuneInString(s[:end])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if isWordRune(last) && isWordRune(after) {
			return false
		}
	}
	return true
}

// findAll returns the whole-word occurrences of needle in s.
func findAll(s, needle string, prefix bool) []span {
	var out []span
	for from := 0; from <= len(s)-len(needle); {
		i := strings.Index(s[from:], needle)
		if i < 0 {
			break
		}
		i += from
		if boundaryOK(s, i, i+len(needle), prefix) {
			end := i + len(needle)
			if prefix {
				end = wordEnd(s, end) // "radiat*" covers all of "radiating"
			}
			out = append(out, span{i, end})
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		from = i + w
	}
	return out
}

// wordEnd extends i to the end of the word it is in.
func wordEnd(s string, i int) int {
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			break
		}
		i += w
	}
	return i
}

// hardBoundary reports whether s[i] ends a sentence: . ; ! ? (a full stop between digits is a decimal point).
func hardBoundary(s string, i int) bool {
	switch s[i] {
	case ';', '!', '?':
		return true
	case '.':
		return !(i > 0 && i+1 < len(s) && isDigit(s[i-1]) && isDigit(s[i+1]))
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hasHard(s string, from, to int) bool {
	for i := from; i < to; i++ {
		if hardBoundary(s, i) {
			return true
		}
	}
	return false
}

const gapRunes = 30 // most runes between the parts of a gapped term

// findTerm returns the occurrences of a compiled term.
func findTerm(s string, t *term) []span {
	p0 := t.parts[0]
	if len(t.parts) == 1 {
		return findAll(s, p0.text, p0.prefix)
	}
	var out []span
	for _, first := range findAll(s, p0.text, p0.prefix) {
		end, ok := first.end, true
		for _, p := range t.parts[1:] {
			if !ok {
				break
			}
			ok = false
			limit := end
			for n := 0; n < gapRunes && limit < len(s); n++ {
				_, w := utf8.DecodeRuneInString(s[limit:])
				limit += w
			}
			limit = min(limit+len(p.text), len(s))
			for from := end; from < limit; {
				i := strings.Index(s[from:limit], p.text)
				if i < 0 {
					break
				}
				i += from
				if hasHard(s, end, i) {
					break
				}
				if boundaryOK(s, i, i+len(p.text), p.prefix) {
					end, ok = i+len(p.text), true
					if p.prefix {
						end = wordEnd(s, end)
					}
					break
				}
				_, w := utf8.DecodeRuneInString(s[i:])
				from = i + w
			}
		}
		if ok {
			out = append(out, span{first.start, end})
		}
	}
	return out
}

// Analyze reads text: which concepts are present and not negated, and the ages and temperatures stated.
func (rs *analyzer) Analyze(text string) *Findings {
	s := Normalize(text)
	f := &Findings{Text: s, Present: map[string]bool{}, Count: map[string]int{}, AgesDays: parseAges(s), TempsC: parseTemps(s),
		Spans: map[string][][2]int{}}

	var pseudo, termSpans, cueSpans []span
	for _, p := range rs.pseudo {
		pseudo = append(pseudo, findAll(s, p, false)...)
	}
	var occs []occ
	for i := range rs.terms {
		t := &rs.terms[i]
		for _, sp := range findTerm(s, t) {
			occs = append(occs, occ{concept: t.concept, start: sp.start, end: sp.end})
			termSpans = append(termSpans, sp)
		}
	}
	type cueOcc struct {
		span
		c *cueC
	}
	var cues []cueOcc
	for i := range rs.cues {
		c := &rs.cues[i]
		for _, sp := range findAll(s, c.text, false) {
			if inSpans(pseudo, sp.start, sp.end) || inSpans(termSpans, sp.start, sp.end) {
				continue // "no reason", "无明显诱因"; or the cue is part of a term ("not breathing", "四肢无力")
			}
			cues = append(cues, cueOcc{sp, c})
			cueSpans = append(cueSpans, sp)
		}
	}
	// Clause boundaries: punctuation, and boundary words that are not part of a cue, a term or a pseudo phrase.
	var bounds []int
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || hardBoundary(s, i) {
			bounds = append(bounds, i)
		}
	}
	for _, b := range rs.bounds {
		for _, sp := range findAll(s, b, false) {
			if inSpans(pseudo, sp.start, sp.end) || inSpans(cueSpans, sp.start, sp.end) || inSpans(termSpans, sp.start, sp.end) {
				continue
			}
			bounds = append(bounds, sp.start)
		}
	}
	slices.Sort(bounds)
	boundIn := func(from, to int) bool {
		i, _ := slices.BinarySearch(bounds, from)
		return i < len(bounds) && bounds[i] < to
	}

	slices.SortStableFunc(occs, func(a, b occ) int { return a.start - b.start })
	for i := range occs {
		o := &occs[i]
		for _, c := range cues {
			if c.end > o.start || boundIn(c.end, o.start) {
				continue
			}
			if utf8.RuneCountInString(s[c.end:o.start]) <= c.c.maxGap {
				o.negated, o.listNeg = true, o.listNeg || c.c.list
			}
		}
		if !o.negated && rs.postNegated(s, o.end, pseudo) {
			o.negated = true
		}
		if !o.negated {
			// A negation carries along a list: "无胸痛、胸闷", "no chest pain or sweating",
			// "denies chest pain, dyspnoea, or sweating".
			for j := i - 1; j >= 0; j-- {
				p := &occs[j]
				if !p.negated || p.end > o.start {
					continue
				}
				if comma, ok := rs.listJoin(s[p.end:o.start]); ok && (!comma || p.listNeg) {
					o.negated, o.listNeg = true, p.listNeg
					break
				}
			}
		}
	}
	names := rs.names
	for _, o := range occs {
		if !o.negated {
			f.Present[names[o.concept]] = true
			f.Count[names[o.concept]]++
			f.Spans[names[o.concept]] = append(f.Spans[names[o.concept]], [2]int{o.start, o.end})
		}
	}
	for ci, lo := range rs.tempMin {
		if lo == 0 {
			continue
		}
		for _, t := range f.TempsC {
			if t >= lo {
				f.Present[names[ci]] = true
			}
		}
	}
	return f
}

// listJoin reports whether between (the text between two terms) only joins list items, and whether it
// contains a comma.
func (rs *analyzer) listJoin(between string) (comma, ok bool) {
	rest := strings.TrimSpace(between)
	for rest != "" {
		switch {
		case rest[0] == ',':
			comma = true
			rest = strings.TrimSpace(rest[1:])
			continue
		}
		matched := false
		for _, j := range rs.joins {
			if strings.HasPrefix(rest, j) && boundaryOK(rest, 0, len(j), false) {
				rest = strings.TrimSpace(rest[len(j):])
				matched = true
				break
			}
		}
		if !matched {
			return false, false
		}
	}
	return comma, true
}

// postNegated reports whether a post cue follows the term ending at end ("chest pain: denied", "胸痛(-)").
func (rs *analyzer) postNegated(s string, end int, pseudo []span) bool {
	i := end
	for n := 0; i < len(s) && n < 3 && (s[i] == ' ' || s[i] == ':' || s[i] == '-'); n++ {
		i++
	}
	for _, p := range rs.post {
		if strings.HasPrefix(s[i:], p) && boundaryOK(s, i, i+len(p), false) && !inSpans(pseudo, i, i+len(p)) {
			return true
		}
	}
	return false
}

// Match runs every rule on text and returns those that fire, in rule-file order. It never calls a model.
func (rs *RuleSet) Match(text string) []Match {
	return rs.MatchFindings(rs.Analyze(text))
}

// MatchFindings runs every rule on what Analyze found.
func (rs *RuleSet) MatchFindings(f *Findings) []Match {
	var out []Match
	names := rs.names
	for ri, rc := range rs.rules {
		r := &rs.File.Rules[ri]
		var evidence []string
		fired := false
		for _, groups := range rc.when {
			ev, ok := patternHolds(groups, f.Present, names)
			if ok {
				fired, evidence = true, ev
				break
			}
		}
		if !fired || !ageHolds(rc, f, names) {
			continue
		}
		out = append(out, Match{ID: r.ID, Title: r.Title, Advice: r.Advice, Evidence: evidence})
	}
	return out
}

func patternHolds(groups [][]int, present map[string]bool, names []string) ([]string, bool) {
	var ev []string
	for _, g := range groups {
		found := false
		for _, ci := range g {
			if present[names[ci]] {
				ev = append(ev, names[ci])
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return ev, true
}

// ageHolds applies a rule's age qualifier: a stated age within the limit, or no stated infant age beyond it
// and an "unknown age" concept such as "newborn".
func ageHolds(rc ruleC, f *Findings, names []string) bool {
	if rc.ageMax < 0 {
		return true
	}
	ruledOut := false
	for _, d := range f.AgesDays {
		if d <= rc.ageMax {
			return true
		}
		if d < 18*365 { // a child's stated age; an adult's (a parent's) says nothing about the infant
			ruledOut = true
		}
	}
	if ruledOut {
		return false
	}
	for _, ci := range rc.ifUnknown {
		if f.Present[names[ci]] {
			return true
		}
	}
	return false
}
