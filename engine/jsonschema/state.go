package jsonschema

import "fmt"

// frame is one level of the pushdown automaton. Its fields mean different things per node kind (see step).
type frame struct {
	n     *node
	phase uint8
	ws    uint8 // consecutive whitespace bytes in this gap
	a     int32 // object: next property index; array: items so far; string: characters so far;
	// literal: trie node; number: digits in the current part
	b int32 // object: key trie node; string: escape / UTF-8 progress
}

const (
	// root
	rValue uint8 = iota
	rDone
)

const (
	oStart uint8 = iota // after '{'
	oKey                // inside a closed object's key (trie walk)
	oColon              // after the key
	oValue              // after ':'
	oAfter              // after a value
	oComma              // after ','
)

const (
	aStart uint8 = iota
	aAfter
	aComma
)

const (
	sNormal uint8 = iota
	sEsc
	sHex
	sUTF
)

const (
	nStart uint8 = iota
	nMinus
	nZero
	nInt
	nFracStart
	nFrac
	nExpStart
	nExpSign
	nExp
)

const maxDepth = 2*maxAnyDepth + 2

// The "any JSON" sub-grammar's nodes. Immutable, shared by all grammars.
var (
	anyValue  = &node{kind: kAny}
	anyString = &node{kind: kString, maxLen: -1}
	anyObject = &node{kind: kObject, freeKeys: true, additional: anyValue, keyStringFn: anyString}
	anyArray  = &node{kind: kArray, items: anyValue, maxItems: -1}
	anyNumber = &node{kind: kNumber}
	anyTrue   = literalNode([][]byte{[]byte("true")})
	anyFalse  = literalNode([][]byte{[]byte("false")})
	anyNull   = literalNode([][]byte{[]byte("null")})
	rootMark  = &node{kind: kAny}
)

// State is a position in a Grammar: the JSON text generated so far. It is not safe for concurrent use.
type State struct {
	g       *Grammar
	stack   []frame
	scratch []frame
	levels  [][]frame // Masker scratch, one stack per trie depth
}

// NewState starts before the first byte of the document.
func (g *Grammar) NewState() *State {
	s := &State{g: g, stack: make([]frame, 1, 8)}
	s.stack[0] = frame{n: rootMark, phase: rValue}
	return s
}

// Clone returns an independent copy.
func (s *State) Clone() *State {
	c := &State{g: s.g}
	c.stack = append(make([]frame, 0, cap(s.stack)), s.stack...)
	return c
}

// Allowed reports whether the bytes can be appended to the text so far. It does not change the state.
func (s *State) Allowed(p []byte) bool {
	s.scratch = append(s.scratch[:0], s.stack...)
	for _, c := range p {
		if !s.g.step(&s.scratch, c) {
			return false
		}
	}
	return true
}

// Advance appends the bytes; on error the state is unchanged.
func (s *State) Advance(p []byte) error {
	s.scratch = append(s.scratch[:0], s.stack...)
	for i, c := range p {
		if !s.g.step(&s.scratch, c) {
			return fmt.Errorf("jsonschema: byte %d (%q) of %q is not allowed here", i, c, p)
		}
	}
	s.stack, s.scratch = s.scratch, s.stack
	return nil
}

// Done reports whether the text so far is a complete document (end of generation is allowed).
func (s *State) Done() bool { return done(s.stack) }

func done(st []frame) bool {
	switch len(st) {
	case 1:
		return st[0].phase == rDone
	case 2:
		f := st[1]
		switch f.n.kind {
		case kNumber, kInteger:
			return f.phase == nZero || f.phase == nInt || f.phase == nFrac || f.phase == nExp
		case kLiteral:
			return f.n.lit.nodes[f.a].terminal >= 0
		}
	}
	return false
}

// inCleanString reports whether the top frame is inside a string with no escape or UTF-8 sequence open, and
// returns that frame (the Masker's fast path).
func inCleanString(st []frame) (*frame, bool) {
	f := &st[len(st)-1]
	return f, f.n.kind == kString && f.phase == sNormal
}

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// ws accepts one whitespace byte in a gap, up to the grammar's bound.
func (g *Grammar) ws(f *frame) bool {
	if int(f.ws) >= g.maxWS {
		return false
	}
	f.ws++
	return true
}

// step feeds one byte to the automaton.
func (g *Grammar) step(stp *[]frame, c byte) bool {
	for {
		st := *stp
		f := &st[len(st)-1]
		switch f.n.kind {
		case kObject:
			return g.stepObject(stp, f, c)
		case kArray:
			return g.stepArray(stp, f, c)
		case kString:
			return stepString(stp, f, c)
		case kNumber, kInteger:
			ok, reprocess := stepNumber(f, c)
			if !reprocess {
				return ok
			}
			*stp = st[:len(st)-1] // the number ended before c
			continue
		case kLiteral:
			next := f.n.lit.child(f.a, c)
			if next >= 0 {
				f.a = next
				if len(f.n.lit.nodes[next].edges) == 0 {
					*stp = st[:len(st)-1]
				}
				return true
			}
			if f.n.lit.nodes[f.a].terminal >= 0 {
				*stp = st[:len(st)-1] // e.g. enum [1, 12] after "1"
				continue
			}
			return false
		}
		// root
		if f.phase == rDone {
			return false
		}
		if isWS(c) {
			return g.ws(f)
		}
		f.phase = rDone
		return g.startValue(stp, g.root, c)
	}
}

// startValue pushes a frame for a value of n whose first byte is c.
func (g *Grammar) startValue(stp *[]frame, n *node, c byte) bool {
	if len(*stp) >= maxDepth {
		return false
	}
	switch n.kind {
	case kAny:
		switch {
		case c == '{':
			n = anyObject
		case c == '[':
			n = anyArray
		case c == '"':
			n = anyString
		case c == '-' || c >= '0' && c <= '9':
			n = anyNumber
		case c == 't':
			n = anyTrue
		case c == 'f':
			n = anyFalse
		case c == 'n':
			n = anyNull
		default:
			return false
		}
		return g.startValue(stp, n, c)
	case kUnion:
		alt := n.first[c]
		if alt == nil {
			return false
		}
		return g.startValue(stp, alt, c)
	case kObject:
		if c != '{' {
			return false
		}
		*stp = append(*stp, frame{n: n, phase: oStart})
		return true
	case kArray:
		if c != '[' {
			return false
		}
		*stp = append(*stp, frame{n: n, phase: aStart})
		return true
	case kString:
		if c != '"' {
			return false
		}
		*stp = append(*stp, frame{n: n, phase: sNormal})
		return true
	case kNumber, kInteger:
		*stp = append(*stp, frame{n: n, phase: nStart})
		st := *stp
		ok, _ := stepNumber(&st[len(st)-1], c)
		if !ok {
			*stp = st[:len(st)-1]
		}
		return ok
	case kLiteral:
		*stp = append(*stp, frame{n: n})
		st := *stp
		next := n.lit.child(0, c)
		if next < 0 {
			*stp = st[:len(st)-1]
			return false
		}
		st[len(st)-1].a = next
		if len(n.lit.nodes[next].edges) == 0 {
			*stp = st[:len(st)-1]
		}
		return true
	}
	return false
}

// keyMask is the set of properties that may come next: from next up to the first required one.
func keyMask(n *node, next int32) uint64 {
	hi := n.nextReq[next]
	if hi >= len(n.props) {
		hi = len(n.props) - 1
	}
	var m uint64
	for i := int(next); i <= hi; i++ {
		m |= 1 << uint(i)
	}
	return m
}

func (g *Grammar) startKey(stp *[]frame, f *frame) bool {
	n := f.n
	if n.freeKeys {
		f.phase = oColon
		*stp = append(*stp, frame{n: n.keyStringFn, phase: sNormal})
		return true
	}
	if int(f.a) >= len(n.props) {
		return false
	}
	f.phase, f.b = oKey, 0
	return true
}

func (g *Grammar) stepObject(stp *[]frame, f *frame, c byte) bool {
	n := f.n
	closable := n.freeKeys || int(f.a) > n.lastReq
	switch f.phase {
	case oStart, oComma:
		if isWS(c) {
			return g.ws(f)
		}
		f.ws = 0
		if c == '"' {
			return g.startKey(stp, f)
		}
		if c == '}' && f.phase == oStart && closable {
			*stp = (*stp)[:len(*stp)-1]
			return true
		}
		return false
	case oKey:
		next := n.keys.child(f.b, c)
		if next < 0 || n.keys.nodes[next].mask&keyMask(n, f.a) == 0 {
			return false
		}
		f.b = next
		if t := n.keys.nodes[next].terminal; t >= 0 {
			f.a = int32(t) + 1
			f.phase = oColon
		}
		return true
	case oColon:
		if isWS(c) {
			return g.ws(f)
		}
		f.ws = 0
		if c == ':' {
			f.phase = oValue
			return true
		}
		return false
	case oValue:
		if isWS(c) {
			return g.ws(f)
		}
		f.ws = 0
		child := n.additional
		if !n.freeKeys {
			child = n.props[f.a-1].schema
		}
		f.phase = oAfter
		return g.startValue(stp, child, c)
	case oAfter:
		if isWS(c) {
			return g.ws(f)
		}
		f.ws = 0
		switch c {
		case ',':
			if n.freeKeys || int(f.a) < len(n.props) {
				f.phase = oComma
				return true
			}
		case '}':
			if closable {
				*stp = (*stp)[:len(*stp)-1]
				return true
			}
		}
		return false
	}
	return false
}

func (g *Grammar) stepArray(stp *[]frame, f *frame, c byte) bool {
	n := f.n
	if isWS(c) {
		return g.ws(f)
	}
	f.ws = 0
	switch f.phase {
	case aStart, aComma:
		if c == ']' && f.phase == aStart && n.minItems == 0 {
			*stp = (*stp)[:len(*stp)-1]
			return true
		}
		if n.maxItems >= 0 && int(f.a) >= n.maxItems {
			return false
		}
		f.a++
		f.phase = aAfter
		return g.startValue(stp, n.items, c)
	case aAfter:
		switch c {
		case ',':
			if n.maxItems < 0 || int(f.a) < n.maxItems {
				f.phase = aComma
				return true
			}
		case ']':
			if int(f.a) >= n.minItems {
				*stp = (*stp)[:len(*stp)-1]
				return true
			}
		}
	}
	return false
}

func stepString(stp *[]frame, f *frame, c byte) bool {
	n := f.n
	full := n.maxLen >= 0 && int(f.a) >= n.maxLen
	switch f.phase {
	case sNormal:
		switch {
		case c == '"':
			if int(f.a) < n.minLen {
				return false
			}
			*stp = (*stp)[:len(*stp)-1]
			return true
		case full || c < 0x20:
			return false
		case c == '\\':
			f.phase = sEsc
			return true
		case c < 0x80:
			f.a++
			return true
		}
		// UTF-8 lead byte: remaining continuation bytes and the range of the next one (RFC 3629 table).
		var need, lo, hi int32
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need, lo, hi = 1, 0x80, 0xBF
		case c == 0xE0:
			need, lo, hi = 2, 0xA0, 0xBF
		case c == 0xED:
			need, lo, hi = 2, 0x80, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need, lo, hi = 2, 0x80, 0xBF
		case c == 0xF0:
			need, lo, hi = 3, 0x90, 0xBF
		case c >= 0xF1 && c <= 0xF3:
			need, lo, hi = 3, 0x80, 0xBF
		case c == 0xF4:
			need, lo, hi = 3, 0x80, 0x8F
		default:
			return false
		}
		f.a++
		f.phase = sUTF
		f.b = need | lo<<8 | hi<<16
		return true
	case sUTF:
		need, lo, hi := f.b&0xFF, (f.b>>8)&0xFF, (f.b>>16)&0xFF
		if int32(c) < lo || int32(c) > hi {
			return false
		}
		need--
		if need == 0 {
			f.phase = sNormal
		} else {
			f.b = need | 0x80<<8 | 0xBF<<16
		}
		return true
	case sEsc:
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			f.a++
			f.phase = sNormal
			return true
		case 'u':
			f.phase, f.b = sHex, 4
			return true
		}
		return false
	case sHex:
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
		f.b--
		if f.b == 0 {
			f.a++
			f.phase = sNormal
		}
		return true
	}
	return false
}

// stepNumber returns (accepted, reprocess): reprocess means the number was complete and c belongs to the
// parent.
func stepNumber(f *frame, c byte) (bool, bool) {
	digit := c >= '0' && c <= '9'
	frac := f.n.kind == kNumber
	switch f.phase {
	case nStart, nMinus:
		switch {
		case c == '-' && f.phase == nStart:
			f.phase = nMinus
		case c == '0':
			f.phase = nZero
		case digit:
			f.phase, f.a = nInt, 1
		default:
			return false, false
		}
		return true, false
	case nZero, nInt:
		switch {
		case digit && f.phase == nInt:
			if f.a >= maxIntDigits {
				return false, false
			}
			f.a++
			return true, false
		case digit:
			return false, false // no leading zeros
		case c == '.' && frac:
			f.phase = nFracStart
			return true, false
		case (c == 'e' || c == 'E') && frac:
			f.phase = nExpStart
			return true, false
		}
		return false, true
	case nFracStart:
		if digit {
			f.phase, f.a = nFrac, 1
			return true, false
		}
		return false, false
	case nFrac:
		switch {
		case digit:
			if f.a >= maxFracDigits {
				return false, false
			}
			f.a++
			return true, false
		case c == 'e' || c == 'E':
			f.phase = nExpStart
			return true, false
		}
		return false, true
	case nExpStart, nExpSign:
		switch {
		case (c == '+' || c == '-') && f.phase == nExpStart:
			f.phase = nExpSign
		case digit:
			f.phase, f.a = nExp, 1
		default:
			return false, false
		}
		return true, false
	case nExp:
		if digit {
			if f.a >= maxExpDigits {
				return false, false
			}
			f.a++
			return true, false
		}
		return false, true
	}
	return false, false
}
