package tokenizer

// symbol is a span of the text being merged; n == 0 once merged away. id is
// its token id when known (-1: not known or not a token). pair is the queue
// priority of the pair (this, next), noPair if it is no merge, and pairID the
// token the pair would become (-1 if not known).
type symbol struct {
	off, n     int32
	prev, next int32
	id, pairID int32
	pair       uint32
}

// merger is the merge loop shared by SPM and BPE (llama.cpp's
// llm_tokenizer_spm_session::tokenize and llm_tokenizer_bpe_session::tokenize):
// split into UTF-8 characters, then merge the best adjacent pair until no
// pair is a merge. Every symbol is a contiguous span of the text.
type merger struct {
	syms  []symbol
	queue mergeQueue
}

// split makes one symbol per character (lengths from the lead byte only,
// the last one truncated at the end of text), or one for the whole text.
func (m *merger) split(text string, whole bool) {
	m.reset(len(text))
	if whole {
		m.syms = append(m.syms, symbol{off: 0, n: int32(len(text)), prev: -1, next: -1, id: -1, pairID: -1, pair: noPair})
		return
	}
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		m.add(off, n)
		off += n
	}
}

func (m *merger) reset(n int) {
	m.syms = m.syms[:0]
	if cap(m.syms) < n {
		m.syms = make([]symbol, 0, n)
	}
}

// add appends the symbol text[off:off+n] after the previous one.
func (m *merger) add(off, n int) {
	idx := int32(len(m.syms))
	if idx > 0 {
		m.syms[idx-1].next = idx
	}
	m.syms = append(m.syms, symbol{off: int32(off), n: int32(n), prev: idx - 1, next: -1, id: -1, pairID: -1, pair: noPair})
}

// run merges until done. priority returns the queue priority of merging the
// adjacent symbols l and r (noPair if they do not merge) and the token the
// merge makes (-1 if not known).
func (m *merger) run(priority func(l, r *symbol) (uint32, int32)) {
	syms := m.syms
	m.queue = m.queue[:0]
	for i := 0; i+1 < len(syms); i++ {
		p, id := priority(&syms[i], &syms[i+1])
		syms[i].pair, syms[i].pairID = p, id
		if p != noPair {
			m.queue = append(m.queue, queueKey(p, i))
		}
	}
	m.queue.init()
	update := func(i int32) {
		if i < 0 {
			return
		}
		s := &syms[i]
		if s.next < 0 {
			s.pair, s.pairID = noPair, -1
			return
		}
		p, id := priority(s, &syms[s.next])
		s.pair, s.pairID = p, id
		if p != noPair {
			m.queue.push(queueKey(p, int(i)))
		}
	}
	for len(m.queue) > 0 {
		k := m.queue.pop()
		left := int32(uint32(k))
		l := &syms[left]
		if l.n == 0 || l.pair != uint32(k>>32) {
			continue // stale: the pair was merged or changed since
		}
		r := &syms[l.next]
		l.n += r.n
		l.id = l.pairID
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = left
		}
		update(l.prev)
		update(left)
	}
}
