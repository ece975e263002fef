package tokenizer

// pq is a binary heap ordered by before (the item for which before(a, b) holds
// comes out first). It is typed, unlike container/heap, so that pushing does
// not allocate.
type pq[T any] struct {
	items  []T
	before func(a, b T) bool
}

func (q *pq[T]) push(x T) {
	q.items = append(q.items, x)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.before(q.items[i], q.items[p]) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

func (q *pq[T]) pop() T {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.before(q.items[l], q.items[m]) {
			m = l
		}
		if r < last && q.before(q.items[r], q.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}
