package tokenizer

import "math"

// The SPM and BPE merge loops pick, again and again, the best pair of adjacent
// symbols. A queue entry is one uint64: the pair's priority in the high 32
// bits (smaller = better) and the left symbol's index in the low 32, so that
// ties go to the leftmost pair as in llama.cpp's comparators. An entry does
// not say which right neighbour it was made for: it is valid when the left
// symbol is alive and its current pair still has that priority
// (symbol.pair). A stale entry whose left symbol has since formed another
// pair of the same priority stands for that pair, whose own entry has the
// same key, so the merge order is llama.cpp's either way.

// noPair marks a symbol whose pair with its right neighbour is no merge.
const noPair = math.MaxUint32

// bpePriority orders by merge rank, lowest first.
func bpePriority(rank int32) uint32 { return uint32(rank) }

// spmPriority orders by score, highest first: the float's bits are mapped to
// an unsigned integer that sorts like the float, then inverted.
func spmPriority(score float32) uint32 {
	if score == 0 {
		score = 0 // -0 compares equal to +0 in llama.cpp's comparator
	}
	b := math.Float32bits(score)
	if b&0x80000000 != 0 {
		b = ^b
	} else {
		b |= 0x80000000
	}
	return ^b
}

func queueKey(priority uint32, left int) uint64 { return uint64(priority)<<32 | uint64(uint32(left)) }

// mergeQueue is a 4-ary min-heap of keys, written out for this one type
// because the merge loops of long words spend most of their time here.
type mergeQueue []uint64

func (q *mergeQueue) push(x uint64) {
	h := append(*q, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if h[p] <= x {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
	*q = h
}

// init orders keys appended without push into a heap, in O(n).
func (q mergeQueue) init() {
	if len(q) < 2 {
		return
	}
	for i := (len(q) - 2) / 4; i >= 0; i-- {
		q.down(i)
	}
}

// down moves q[i] down to its place.
func (q mergeQueue) down(i int) {
	x := q[i]
	n := len(q)
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if q[k] < q[m] {
				m = k
			}
		}
		if x <= q[m] {
			break
		}
		q[i] = q[m]
		i = m
	}
	q[i] = x
}

// pop removes and returns the smallest key; q must not be empty.
func (q *mergeQueue) pop() uint64 {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	if last > 0 {
		h.down(0)
	}
	*q = h
	return top
}
