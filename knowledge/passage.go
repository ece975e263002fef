package knowledge

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrNoPassage is returned by Passage for a chunk id the knowledge base
// does not hold (never stored, or removed with its file).
var ErrNoPassage = errors.New("no such passage")

// Passage returns one stored chunk by its id (a citation's chunk_id), so a
// reader can open the passage an answer cites.
func (kb *KB) Passage(id int) (Passage, error) {
	var p Passage
	if id <= 0 {
		return p, fmt.Errorf("%w: %d", ErrNoPassage, id)
	}
	err := kb.db.View(func(tx *bolt.Tx) error {
		val := tx.Bucket(bucketChunks).Get(idKey(uint64(id)))
		if val == nil {
			return fmt.Errorf("%w: %d", ErrNoPassage, id)
		}
		h, text, err := kb.readChunk(val)
		if err != nil {
			return fmt.Errorf("chunk %d: %w", id, err)
		}
		p = Passage{ID: id, Source: h.Source, Title: h.Title, Location: h.Location, Text: text}
		return nil
	})
	return p, err
}
