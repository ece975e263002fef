package knowledge

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	// bucketReembed holds the vectors a re-embed sets aside (chunkID(8) →
	// float32s) for the model named by keyReembed, until its swap.
	bucketReembed = []byte("reembed")
	keyReembed    = []byte("reembedModel")
)

func (kb *KB) reembedPending(ctx context.Context, model string) ([]pendingChunk, int, string, error) {
	var from string
	err := kb.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		from = string(m.Get(keyEmbed))
		if string(m.Get(keyReembed)) == model && tx.Bucket(bucketReembed) != nil {
			return nil
		}
		if tx.Bucket(bucketReembed) != nil {
			if err := tx.DeleteBucket(bucketReembed); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(bucketReembed); err != nil {
			return err
		}
		return m.Put(keyReembed, []byte(model))
	})
	if err != nil {
		return nil, 0, "", err
	}
	var todo []pendingChunk
	done := 0
	err = kb.db.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketReembed)
		return tx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(k) != 8 {
				return nil
			}
			id := binary.BigEndian.Uint64(k)
			if rb.Get(k) != nil {
				done++
				return nil
			}
			h, text, err := kb.readChunk(v)
			if err != nil {
				return fmt.Errorf("chunk %d: %w", id, err)
			}
			todo = append(todo, pendingChunk{id: id, text: indexText(h.Title, h.Heading, text)})
			return nil
		})
	})
	return todo, done, from, err
}

func (kb *KB) reembedPut(_ context.Context, model string, ids []uint64, vecs [][]float32) error {
	err := kb.db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketReembed)
		if rb == nil || string(tx.Bucket(bucketMeta).Get(keyReembed)) != model {
			return fmt.Errorf("another re-embed (not %q) took over the knowledge base", model)
		}
		cb := tx.Bucket(bucketChunks)
		for i, id := range ids {
			if cb.Get(idKey(id)) == nil {
				continue
			}
			if err := rb.Put(idKey(id), vecBytes(vecs[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && kb.afterCommit != nil {
		kb.afterCommit()
	}
	return err
}

func (kb *KB) reembedSwap(_ context.Context, model string) (missing, chunks int, err error) {
	err = kb.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		rb := tx.Bucket(bucketReembed)
		if rb == nil || string(m.Get(keyReembed)) != model {
			return fmt.Errorf("another re-embed (not %q) took over the knowledge base", model)
		}
		cb := tx.Bucket(bucketChunks)
		var ids [][]byte
		if err := cb.ForEach(func(k, _ []byte) error {
			if rb.Get(k) == nil {
				missing++
			}
			ids = append(ids, k)
			return nil
		}); err != nil {
			return err
		}
		if missing > 0 {
			return nil
		}
		chunks = len(ids)
		if err := tx.DeleteBucket(bucketVecs); err != nil {
			return err
		}
		vb, err := tx.CreateBucket(bucketVecs)
		if err != nil {
			return err
		}
		for _, k := range ids { // in key order: bbolt appends
			if err := vb.Put(k, rb.Get(k)); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(bucketReembed); err != nil {
			return err
		}
		if err := m.Delete(keyReembed); err != nil {
			return err
		}
		if err := m.Put(keyEmbed, []byte(model)); err != nil {
			return err
		}
		fb := tx.Bucket(bucketFiles)
		var recs []kv
		if err := fb.ForEach(func(k, v []byte) error {
			var rec fileRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("file record %s: %w", k, err)
			}
			rec.Settings = withEmbedSetting(rec.Settings, model)
			nv, err := json.Marshal(rec)
			recs = append(recs, kv{append([]byte(nil), k...), nv})
			return err
		}); err != nil {
			return err
		}
		for _, r := range recs {
			if err := fb.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || missing > 0 {
		chunks = 0
	}
	return missing, chunks, err
}
