package tokenizer

import "strings"

// fragment is a piece of the input after special-token partitioning: either
// raw text s[off:off+n] (tok < 0) or a special token.
type fragment struct {
	tok    int32
	off, n int
}

// specialTrie finds which special-token texts occur in a text, so that the
// partition below only scans for those (llama.cpp scans the whole text once
// per special token, which is slow for vocabularies with thousands of them).
type specialTrie struct {
	nodes []trieNode
}

type trieNode struct {
	next  map[byte]int32
	token bool // some special text ends here
}

func newSpecialTrie(text []string, ids []int32) specialTrie {
	tr := specialTrie{nodes: []trieNode{{}}}
	for _, id := range ids {
		s := text[id]
		cur := int32(0)
		for i := 0; i < len(s); i++ {
			nx, ok := tr.nodes[cur].next[s[i]]
			if !ok {
				if tr.nodes[cur].next == nil {
					tr.nodes[cur].next = map[byte]int32{}
				}
				nx = int32(len(tr.nodes))
				tr.nodes[cur].next[s[i]] = nx
				tr.nodes = append(tr.nodes, trieNode{})
			}
			cur = nx
		}
		tr.nodes[cur].token = true
	}
	return tr
}

// present returns the set of special texts (by end node) that occur in s.
func (tr *specialTrie) present(s string) map[string]bool {
	var found map[string]bool
	root := tr.nodes[0].next
	if len(root) == 0 {
		return nil
	}
	for i := 0; i < len(s); i++ {
		cur, ok := root[s[i]]
		for j := i + 1; ok; j++ {
			if tr.nodes[cur].token {
				if found == nil {
					found = map[string]bool{}
				}
				found[s[i:j]] = true
			}
			if j >= len(s) {
				break
			}
			cur, ok = tr.nodes[cur].next[s[j]]
		}
	}
	return found
}

// isCSpace is C's isspace in the "C" locale, which llama.cpp's lstrip/rstrip
// use.
func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// partition splits s at special-token texts as llama.cpp's
// tokenizer_st_partition does: special tokens are taken longest first, each
// splits every remaining raw fragment at its leftmost non-overlapping
// occurrences; control and unknown tokens only count when parseSpecial is
// set (user-defined ones always do); lstrip/rstrip tokens eat adjacent
// whitespace.
func (t *Tokenizer) partition(s string, parseSpecial bool) []fragment {
	if s == "" {
		return nil
	}
	frags := []fragment{{tok: -1, off: 0, n: len(s)}}
	found := t.trie.present(s)
	if len(found) == 0 {
		return frags
	}
	var next []fragment
	for _, id := range t.special {
		a := t.attr[id]
		if !parseSpecial && a&(attrControl|attrUnknown) != 0 {
			continue
		}
		st := t.text[id]
		if !found[st] {
			continue
		}
		next = next[:0]
		for _, f := range frags {
			if f.tok >= 0 {
				next = append(next, f)
				continue
			}
			base, n := f.off, f.n
			for {
				k := strings.Index(s[base:base+n], st)
				if k < 0 {
					if n > 0 {
						next = append(next, fragment{tok: -1, off: base, n: n})
					}
					break
				}
				match := base + k
				if k > 0 {
					ln := k
					if a&attrLStrip != 0 {
						for ln > 0 && isCSpace(s[base+ln-1]) {
							ln--
						}
					}
					if ln > 0 {
						next = append(next, fragment{tok: -1, off: base, n: ln})
					}
				}
				next = append(next, fragment{tok: id, off: match, n: len(st)})
				roff := match + len(st)
				rn := base + n - roff
				if a&attrRStrip != 0 {
					for rn > 0 && isCSpace(s[roff]) {
						roff++
						rn--
					}
				}
				base, n = roff, rn
			}
		}
		frags, next = next, frags
	}
	return frags
}
