package jsonschema

import (
	"fmt"
	"unicode/utf8"
)

// Vocab is what the Masker needs from a tokenizer. TokenBytes is the exact text a token appends (SPM's ▁ as a
// space, byte tokens as their byte); it must return nil for control tokens that may never appear in the JSON
// text (BOS, chat markers), which are then never allowed. IsEOG marks end-of-generation tokens, allowed exactly
// when the document is complete.
type Vocab interface {
	NumTokens() int
	TokenBytes(id int32) []byte
	IsEOG(id int32) bool
}

// Masker computes, for a State, which vocabulary tokens may come next. Build it once per vocabulary; it is
// immutable and safe for concurrent use (per-request scratch lives in the State).
//
// It walks a byte trie of the vocabulary, so a prefix shared by many tokens is checked once, and a subtree is
// skipped as soon as its prefix is rejected. Inside a string, tokens made only of plain string characters
// (most of the vocabulary) are allowed wholesale from a precomputed set, and only the other tokens are walked.
type Masker struct {
	n      int
	full   flatTrie // every token with non-empty bytes
	impure flatTrie // tokens that are not plain string content
	pure   []bool   // pure[id]: plain string content (no quote, backslash, control byte; complete UTF-8)
	pureID []int32
	pureN  []int32 // characters in each pureID token
	eog    []int32
}

type flatTrie struct {
	edgeStart []int32 // node i's edges: edgeByte/edgeTo[edgeStart[i]:edgeStart[i+1]]
	edgeByte  []byte
	edgeTo    []int32
	tokStart  []int32 // tokens ending at node i: toks[tokStart[i]:tokStart[i+1]]
	toks      []int32
}

// NewMasker indexes a vocabulary.
func NewMasker(v Vocab) (*Masker, error) {
	n := v.NumTokens()
	if n <= 0 {
		return nil, fmt.Errorf("jsonschema: vocabulary has %d tokens", n)
	}
	m := &Masker{n: n, pure: make([]bool, n)}
	var all, imp builder
	all.init()
	imp.init()
	for id := int32(0); int(id) < n; id++ {
		if v.IsEOG(id) {
			m.eog = append(m.eog, id)
			continue
		}
		b := v.TokenBytes(id)
		if len(b) == 0 {
			continue
		}
		all.insert(b, id)
		if plain(b) {
			m.pure[id] = true
			m.pureID = append(m.pureID, id)
			m.pureN = append(m.pureN, int32(utf8.RuneCount(b)))
		} else {
			imp.insert(b, id)
		}
	}
	m.full = all.flatten()
	m.impure = imp.flatten()
	return m, nil
}

func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// Fill sets mask[id] to whether token id may come next (mask must have NumTokens entries). EOG tokens are
// allowed only when the document is complete.
func (m *Masker) Fill(s *State, mask []bool) error {
	if len(mask) < m.n {
		return fmt.Errorf("jsonschema: mask has %d entries, vocabulary %d", len(mask), m.n)
	}
	mask = mask[:m.n]
	tr := &m.full
	if f, ok := inCleanString(s.stack); ok {
		n := f.n
		if n.maxLen < 0 {
			copy(mask, m.pure)
		} else {
			clear(mask)
			room := int32(n.maxLen) - f.a
			for i, id := range m.pureID {
				if m.pureN[i] <= room {
					mask[id] = true
				}
			}
		}
		tr = &m.impure
	} else {
		clear(mask)
	}
	if s.Done() {
		for _, id := range m.eog {
			mask[id] = true
		}
	}
	if len(tr.edgeStart) == 0 {
		return nil
	}
	if len(s.levels) == 0 {
		s.levels = make([][]frame, 1, 64)
	}
	s.levels[0] = append(s.levels[0][:0], s.stack...)
	s.walk(tr, 0, 0, mask)
	return nil
}

// walk visits the children of trie node t at depth d, whose automaton state is s.levels[d].
func (s *State) walk(tr *flatTrie, t int32, d int, mask []bool) {
	if len(s.levels) <= d+1 {
		s.levels = append(s.levels, nil)
	}
	for e := tr.edgeStart[t]; e < tr.edgeStart[t+1]; e++ {
		next := append(s.levels[d+1][:0], s.levels[d]...)
		ok := s.g.step(&next, tr.edgeByte[e])
		s.levels[d+1] = next
		if !ok {
			continue
		}
		to := tr.edgeTo[e]
		for _, id := range tr.toks[tr.tokStart[to]:tr.tokStart[to+1]] {
			mask[id] = true
		}
		if tr.edgeStart[to] < tr.edgeStart[to+1] {
			s.walk(tr, to, d+1, mask)
		}
	}
}

// builder is a pointer trie used only while indexing.
type builder struct{ nodes []bnode }

type bnode struct {
	kids [][2]int32 // (byte, node), unsorted while building
	toks []int32
}

func (b *builder) init() { b.nodes = []bnode{{}} }

func (b *builder) insert(s []byte, id int32) {
	cur := int32(0)
	for _, c := range s {
		next := int32(-1)
		for _, k := range b.nodes[cur].kids {
			if k[0] == int32(c) {
				next = k[1]
				break
			}
		}
		if next < 0 {
			next = int32(len(b.nodes))
			b.nodes = append(b.nodes, bnode{})
			b.nodes[cur].kids = append(b.nodes[cur].kids, [2]int32{int32(c), next})
		}
		cur = next
	}
	b.nodes[cur].toks = append(b.nodes[cur].toks, id)
}

// flatten lays the trie out in arrays, children sorted by byte.
func (b *builder) flatten() flatTrie {
	n := len(b.nodes)
	t := flatTrie{edgeStart: make([]int32, n+1), tokStart: make([]int32, n+1)}
	for i := range b.nodes {
		kids := b.nodes[i].kids
		// insertion sort: nodes have few children except the root
		for x := 1; x < len(kids); x++ {
			for y := x; y > 0 && kids[y][0] < kids[y-1][0]; y-- {
				kids[y], kids[y-1] = kids[y-1], kids[y]
			}
		}
		t.edgeStart[i] = int32(len(t.edgeByte))
		for _, k := range kids {
			t.edgeByte = append(t.edgeByte, byte(k[0]))
			t.edgeTo = append(t.edgeTo, k[1])
		}
		t.tokStart[i] = int32(len(t.toks))
		t.toks = append(t.toks, b.nodes[i].toks...)
	}
	t.edgeStart[n] = int32(len(t.edgeByte))
	t.tokStart[n] = int32(len(t.toks))
	return t
}
