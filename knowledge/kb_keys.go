package knowledge

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// indexText is what a chunk is indexed and embedded as: its document title
// and heading path give context the text itself often leaves out.
func indexText(title, heading, text string) string {
	return title + "\n" + heading + "\n" + text
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func postKey(term string, id uint64) []byte {
	k := make([]byte, 0, len(term)+9)
	k = append(k, term...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

func vecBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// termCounts returns each term's count and the total.
func termCounts(text string) (map[string]int, int) {
	terms := Terms(text)
	tf := make(map[string]int, len(terms))
	for _, t := range terms {
		tf[t]++
	}
	return tf, len(terms)
}

func addCounter(m *bolt.Bucket, key []byte, delta int64) error {
	var v int64
	if b := m.Get(key); len(b) == 8 {
		v = int64(binary.BigEndian.Uint64(b))
	}
	return m.Put(key, binary.BigEndian.AppendUint64(nil, uint64(v+delta)))
}

func counter(m *bolt.Bucket, key []byte) int64 {
	if b := m.Get(key); len(b) == 8 {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// kv is a pending bucket write.
type kv struct{ k, v []byte }

// putChunk stores a chunk and appends its postings to posts, which the
// caller writes sorted: bbolt inserts into a leaf by copying its tail, and
// leaves split only at commit, so random-order keys make a large
// transaction quadratic (a 5 MB ingest took minutes) where sorted ones
// append.
func (kb *KB) putChunk(tx *bolt.Tx, ch chunk, posts *[]kv) (uint64, error) {
	cb := tx.Bucket(bucketChunks)
	id, err := cb.NextSequence()
	if err != nil {
		return 0, err
	}
	hdr, err := json.Marshal(chunkHeader{Source: ch.Source, Title: ch.Title, Location: ch.Location, Heading: ch.Heading, Tokens: ch.Tokens})
	if err != nil {
		return 0, err
	}
	val := binary.AppendUvarint(nil, uint64(len(hdr)))
	val = append(val, hdr...)
	val = kb.enc.EncodeAll([]byte(ch.Text), val)
	if err := cb.Put(idKey(id), val); err != nil {
		return 0, err
	}
	tf, n := termCounts(indexText(ch.Title, ch.Heading, ch.Text))
	for t, c := range tf {
		v := binary.AppendUvarint(nil, uint64(c))
		v = binary.AppendUvarint(v, uint64(n))
		*posts = append(*posts, kv{postKey(t, id), v})
	}
	m := tx.Bucket(bucketMeta)
	if err := addCounter(m, keyN, 1); err != nil {
		return 0, err
	}
	return id, addCounter(m, keyTotalLen, int64(n))
}

// readChunk decodes a stored chunk.
func (kb *KB) readChunk(val []byte) (chunkHeader, string, error) {
	var h chunkHeader
	n, k := binary.Uvarint(val)
	if k <= 0 || uint64(len(val)-k) < n {
		return h, "", errors.New("corrupt chunk record")
	}
	if err := json.Unmarshal(val[k:k+int(n)], &h); err != nil {
		return h, "", fmt.Errorf("corrupt chunk header: %w", err)
	}
	text, err := kb.dec.DecodeAll(val[k+int(n):], nil)
	if err != nil {
		return h, "", fmt.Errorf("chunk text: %w", err)
	}
	return h, string(text), nil
}

// deleteChunks removes chunks with their postings and vectors; the postings
// are found again by re-analysing the stored text.
func (kb *KB) deleteChunks(tx *bolt.Tx, ids []uint64) error {
	cb, pb, vb, m := tx.Bucket(bucketChunks), tx.Bucket(bucketPost), tx.Bucket(bucketVecs), tx.Bucket(bucketMeta)
	for _, id := range ids {
		val := cb.Get(idKey(id))
		if val == nil {
			continue
		}
		h, text, err := kb.readChunk(val)
		if err != nil {
			return fmt.Errorf("chunk %d: %w", id, err)
		}
		tf, n := termCounts(indexText(h.Title, h.Heading, text))
		for t := range tf {
			if err := pb.Delete(postKey(t, id)); err != nil {
				return err
			}
		}
		if err := vb.Delete(idKey(id)); err != nil {
			return err
		}
		if err := cb.Delete(idKey(id)); err != nil {
			return err
		}
		if err := addCounter(m, keyN, -1); err != nil {
			return err
		}
		if err := addCounter(m, keyTotalLen, -int64(n)); err != nil {
			return err
		}
	}
	return nil
}
