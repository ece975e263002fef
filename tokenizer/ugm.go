package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Unigram ("t5", UGM) as llama.cpp's llm_tokenizer_ugm and
// llm_tokenizer_ugm_session (src/llama-vocab.cpp, v0.5.0), which follow
// SentencePiece's optimised Viterbi for unigram language models and its
// normaliser:
//
//   - Normalisation: at each input position the longest user-defined token
//     prefix is kept as it is; otherwise the longest match in the
//     precompiled charsmap (SentencePiece's NFKC-style table, stored as a
//     XOR-compressed compact double array, Kanda 2018) is replaced by its
//     replacement string; otherwise one UTF-8 character is kept (a malformed
//     byte becomes U+FFFD). Spaces become ▁; with remove_extra_whitespaces
//     runs of spaces collapse and every word gets one ▁ in front, otherwise
//     add_space_prefix puts one ▁ before the first word.
//   - Viterbi: for each character start, every vocabulary token that begins
//     there proposes score(prefix) + score(token) for the position after it
//     (user-defined tokens score 0, the best so far wins, ties keep the
//     earlier proposal); a character no single token covers proposes the
//     unknown token at min(score) - 10. The best path is read backwards and
//     runs of unknown tokens become one.
//
// llama.cpp throws when the charsmap points outside itself while tokenizing;
// here such a lookup simply stops matching, so Encode never fails.

// ugmUnknownPenalty is llm_tokenizer_ugm::unknown_token_score_penalty
// (SentencePiece's kUnkPenalty).
const ugmUnknownPenalty = 10.0

// ugmSpace is the escaped space, U+2581.
const ugmSpace = "\xe2\x96\x81"

// byteTrie is a trie over byte strings with the children of each node stored
// contiguously in sorted order (llama.cpp uses a std::map per node; this is
// the same lookup in far less memory for a 250k-token vocabulary).
type byteTrie struct {
	nodes  []trieNodeU // nodes[0] is the root
	labels []byte      // edge labels, children of a node contiguous and sorted
	child  []int32     // edge targets, parallel to labels
}

type trieNodeU struct {
	first int32 // first edge
	n     int32 // number of edges
	value int32 // token id ending here, -1 if none
}

// newByteTrie builds a trie over keys (distinct strings) with values vals.
func newByteTrie(keys []string, vals []int32) *byteTrie {
	type kv struct {
		key string
		val int32
	}
	sorted := make([]kv, len(keys))
	for i := range keys {
		sorted[i] = kv{keys[i], vals[i]}
	}
	slices.SortFunc(sorted, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	tr := &byteTrie{nodes: []trieNodeU{{value: -1}}}
	// build fills node for sorted[lo:hi], whose keys share their first
	// depth bytes: it appends the node's edges (one per distinct next byte,
	// contiguous), then builds each child in turn.
	var build func(node int32, lo, hi, depth int)
	build = func(node int32, lo, hi, depth int) {
		if lo < hi && len(sorted[lo].key) == depth {
			tr.nodes[node].value = sorted[lo].val
			lo++
		}
		first := int32(len(tr.labels))
		for i := lo; i < hi; {
			c := sorted[i].key[depth]
			for i < hi && sorted[i].key[depth] == c {
				i++
			}
			tr.labels = append(tr.labels, c)
			tr.child = append(tr.child, int32(len(tr.nodes)))
			tr.nodes = append(tr.nodes, trieNodeU{value: -1})
		}
		tr.nodes[node].first, tr.nodes[node].n = first, int32(len(tr.labels))-first
		e := first
		for i := lo; i < hi; e++ {
			j, c := i, sorted[i].key[depth]
			for j < hi && sorted[j].key[depth] == c {
				j++
			}
			build(tr.child[e], i, j, depth+1)
			i = j
		}
	}
	build(0, 0, len(sorted), 0)
	return tr
}

// next returns the child of node along byte c, or -1.
func (tr *byteTrie) next(node int32, c byte) int32 {
	nd := tr.nodes[node]
	labels := tr.labels[nd.first : nd.first+nd.n]
	if len(labels) <= 8 {
		for k, l := range labels {
			if l == c {
				return tr.child[nd.first+int32(k)]
			}
		}
		return -1
	}
	if k, ok := slices.BinarySearch(labels, c); ok {
		return tr.child[nd.first+int32(k)]
	}
	return -1
}

// pathLen is naive_trie::get_longest_prefix: how many bytes of s can be
// followed from the root, whether or not a key ends there. (llama.cpp uses
// this for the user-defined tokens, so a partial match of one also counts.)
func (tr *byteTrie) pathLen(s string) int {
	node := int32(0)
	for i := 0; i < len(s); i++ {
		if node = tr.next(node, s[i]); node < 0 {
			return i
		}
	}
	return len(s)
}

// ugmModel is the unigram model's data, built once per vocabulary.
type ugmModel struct {
	tokens      *byteTrie // normal, user-defined and unused tokens
	userDefined *byteTrie // user-defined tokens, nil if none
	unkScore    float64   // min normal score - 10, computed in float32 as llama.cpp does
	xcda        []uint32  // charsmap double array, nil if there is no charsmap
	repl        []byte    // NUL-terminated replacement strings
	mergeSpaces bool      // tokenizer.ggml.remove_extra_whitespaces
}

// newUGM builds the unigram model of t (whose tokens, scores and types are
// set) from the precompiled charsmap.
func (t *Tokenizer) newUGM(charsmap []byte, mergeSpaces bool) (*ugmModel, error) {
	m := &ugmModel{mergeSpaces: mergeSpaces}
	if len(charsmap) > 0 {
		if len(charsmap) < 4 {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.precompiled_charsmap has %d bytes, too small for its size header", len(charsmap))
		}
		blob := uint64(binary.LittleEndian.Uint32(charsmap))
		if blob+4 >= uint64(len(charsmap)) {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.precompiled_charsmap: double array of %d bytes does not fit in %d bytes", blob, len(charsmap))
		}
		m.xcda = make([]uint32, blob/4)
		for i := range m.xcda {
			m.xcda[i] = binary.LittleEndian.Uint32(charsmap[4+4*i:])
		}
		m.repl = charsmap[4+blob:]
	}
	var keys, userKeys []string
	var vals, userVals []int32
	seen := map[string]int{} // a later token with the same text wins, as in naive_trie::insert
	userSeen := map[string]bool{}
	minScore := float32(math.MaxFloat32)
	for i, s := range t.text {
		// llama.cpp builds the unigram model (init_tokenizer) before its
		// text-based special-token detection changes attributes, so the
		// matchers and the minimum score see the GGUF token types alone.
		a := attrOfType(t.ttype[i])
		if a&attrNormal != 0 && t.score[i] < minScore {
			minScore = t.score[i] // std::min: a NaN score never becomes the minimum
		}
		if a&(attrNormal|attrUserDefined|attrUnused) != 0 {
			if k, ok := seen[s]; ok {
				vals[k] = int32(i)
			} else {
				seen[s] = len(keys)
				keys = append(keys, s)
				vals = append(vals, int32(i))
			}
		}
		if a&attrUserDefined != 0 && !userSeen[s] {
			userSeen[s] = true
			userKeys = append(userKeys, s)
			userVals = append(userVals, int32(i))
		}
	}
	m.unkScore = float64(minScore - ugmUnknownPenalty)
	m.tokens = newByteTrie(keys, vals)
	if len(userKeys) > 0 {
		m.userDefined = newByteTrie(userKeys, userVals)
	}
	return m, nil
}

// xcda node fields (llama.cpp's xcda_array_view): BASE in bits 10-30,
// shifted left by 8 when bit 9 is set; LEAF in bit 8; LCHECK in bits 0-7
// (bit 31 set means the node holds a value, so it never matches a byte);
// VALUE in bits 0-30.
func xcdaBase(n uint32) uint32   { return (n >> 10) << ((n & (1 << 9)) >> 6) }
func xcdaLCheck(n uint32) uint32 { return n & (1<<31 | 0xff) }
func xcdaLeaf(n uint32) bool     { return (n>>8)&1 != 0 }
func xcdaValue(n uint32) uint32  { return n & (1<<31 - 1) }

// normalizePrefix is normalize_prefix: the normalised form of the start of
// s[off:] and how many input bytes it consumes (at least one).
func (m *ugmModel) normalizePrefix(s string, off int) (string, int) {
	if m.userDefined != nil {
		if n := m.userDefined.pathLen(s[off:]); n > 0 {
			return s[off : off+n], n
		}
	}
	if len(m.xcda) > 0 {
		if n, r, ok := m.charsmapMatch(s, off); ok {
			return r, n
		}
	}
	if n := utf8Struct(s, off); n > 0 {
		return s[off : off+n], n
	}
	return "\uFFFD", 1
}

// charsmapMatch walks the charsmap double array from the root along s[off:]
// and returns the longest matched length with its replacement string.
func (m *ugmModel) charsmapMatch(s string, off int) (int, string, bool) {
	xcda := m.xcda
	at := func(i uint32) (uint32, bool) {
		if uint64(i) >= uint64(len(xcda)) {
			return 0, false
		}
		return xcda[i], true
	}
	root, _ := at(0)
	node := xcdaBase(root)
	bestLen, bestOff := 0, uint32(0)
	for p := off; p < len(s); p++ {
		c := uint32(s[p])
		if c == 0 {
			break
		}
		node ^= c
		v, ok := at(node)
		if !ok || xcdaLCheck(v) != c {
			break
		}
		leaf := xcdaLeaf(v)
		node ^= xcdaBase(v)
		if leaf {
			lv, ok := at(node)
			if !ok {
				break
			}
			bestLen, bestOff = p-off+1, xcdaValue(lv)
		}
	}
	if bestLen == 0 || uint64(bestOff) >= uint64(len(m.repl)) {
		return 0, "", false
	}
	r := m.repl[bestOff:]
	end := slices.Index(r, 0)
	if end < 0 {
		return 0, "", false // unterminated: llama.cpp throws
	}
	return bestLen, string(r[:end]), true
}

// utf8Struct is the length of the UTF-8 sequence at s[i:] when it is
// well formed as llama.cpp's unicode_cpt_from_utf8 checks it (lead byte and
// continuation bytes only: overlong forms, surrogates and code points above
// U+10FFFF pass), else 0.
func utf8Struct(s string, i int) int {
	b := s[i]
	var n int
	switch {
	case b&0x80 == 0:
		return 1
	case b&0x40 == 0:
		return 0
	case b&0x20 == 0:
		n = 2
	case b&0x10 == 0:
		n = 3
	case b&0x08 == 0:
		n = 4
	default:
		return 0
	}
	if i+n-1 >= len(s) {
		return 0
	}
	for k := 1; k < n; k++ {
		if s[i+k]&0xC0 != 0x80 {
			return 0
		}
	}
	return n
}

// ugmNormalize appends the normalised form of s to dst, as
// llm_tokenizer_ugm_session::normalize (escape_whitespaces is always on for
// UGM in llama.cpp, treat_whitespace_as_suffix always off).
func (t *Tokenizer) ugmNormalize(s string, dst []byte) []byte {
	m := t.ugm
	prepend := t.addSpacePrefix
	spacePrepended, inWord := false, false
	for off := 0; off < len(s); {
		r, n := m.normalizePrefix(s, off)
		for i := 0; i < len(r); i++ {
			c := r[i]
			if c != ' ' {
				if !inWord {
					inWord = true
					if (prepend && !spacePrepended) || m.mergeSpaces {
						dst = append(dst, ugmSpace...)
						spacePrepended = true
					}
				}
				dst = append(dst, c)
				continue
			}
			inWord = false
			if !m.mergeSpaces {
				dst = append(dst, ugmSpace...)
			}
		}
		off += n
	}
	return dst
}

// ugmBest is best_tokenization: the best path to one position.
type ugmBest struct {
	id    int32
	from  int32 // where its last token starts
	score float64
}

// encodeUGM appends the unigram tokens of one raw fragment to out.
func (t *Tokenizer) encodeUGM(text string, out []int32) []int32 {
	m := t.ugm
	norm := t.ugmNormalize(text, make([]byte, 0, len(text)+len(text)/2+3))
	n := len(norm)
	if n == 0 {
		return out
	}
	best := make([]ugmBest, n+1)
	for i := range best {
		best[i] = ugmBest{id: t.unk, score: -math.MaxFloat64}
	}
	best[0].score = 0
	for off := 0; off < n; {
		cn := min(utf8Len(norm[off]), n-off)
		cur := best[off]
		single := false
		node := int32(0)
		for p := off; p < n; p++ {
			if node = m.tokens.next(node, norm[p]); node < 0 {
				break
			}
			id := m.tokens.nodes[node].value
			if id < 0 {
				continue
			}
			end := p + 1
			if end-off == cn {
				single = true
			}
			score := float64(t.score[id])
			if t.attr[id]&attrUserDefined != 0 {
				score = 0
			}
			if s := cur.score + score; s > best[end].score {
				best[end] = ugmBest{id: id, from: int32(off), score: s}
			}
		}
		if !single {
			if s := cur.score + m.unkScore; s > best[off+cn].score {
				best[off+cn] = ugmBest{id: t.unk, from: int32(off), score: s}
			}
		}
		off += cn
	}
	start := len(out)
	prevUnk := false
	for pos := n; ; {
		b := best[pos]
		unk := b.id == t.unk
		if !(prevUnk && unk) {
			out = append(out, b.id)
		}
		if b.from == 0 {
			break
		}
		prevUnk = unk
		pos = int(b.from)
	}
	slices.Reverse(out[start:])
	return out
}
