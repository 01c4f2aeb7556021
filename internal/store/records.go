package store

import (
	"errors"

	"github.com/mcpproxy/mcpproxy/internal/mcpproxy"
	bolt "go.etcd.io/bbolt"
)

// The Store keeps the records of other packages (mcpproxy.Store) in
// buckets of its file, one bbolt bucket per bucket name, keys and values as
// given: the layout those packages wrote when they held the file
// themselves.
var _ mcpproxy.Store = (*Store)(nil)

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(mcpproxy.StoreTx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update runs fn in a read-write transaction, committed if fn returns nil.
func (s *Store) Update(fn func(mcpproxy.StoreTx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Get(bucket string, key []byte) []byte {
	if b := t.tx.Bucket([]byte(bucket)); b != nil {
		return b.Get(key)
	}
	return nil
}

// writable returns bucket, created if needed.
func (t boltTx) writable(bucket string) (*bolt.Bucket, error) {
	if !t.tx.Writable() {
		return nil, errors.New("store: write in a read-only transaction")
	}
	if b := t.tx.Bucket([]byte(bucket)); b != nil {
		return b, nil
	}
	return t.tx.CreateBucket([]byte(bucket))
}

func (t boltTx) Put(bucket string, key, value []byte) error {
	b, err := t.writable(bucket)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

func (t boltTx) Append(bucket string, key, value []byte) error {
	b, err := t.writable(bucket)
	if err != nil {
		return err
	}
	// Pages split when full rather than half full: keys in increasing
	// order leave them untouched afterwards.
	b.FillPercent = 0.9
	return b.Put(key, value)
}

func (t boltTx) Delete(bucket string, key []byte) error {
	if !t.tx.Writable() {
		return errors.New("store: write in a read-only transaction")
	}
	if b := t.tx.Bucket([]byte(bucket)); b != nil {
		return b.Delete(key)
	}
	return nil
}

func (t boltTx) Scan(bucket string, from []byte, reverse bool, fn func(key, value []byte) bool) {
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case !reverse && from == nil:
		k, v = c.First()
	case !reverse:
		k, v = c.Seek(from)
	case from == nil:
		k, v = c.Last()
	default:
		if k, _ = c.Seek(from); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	next := c.Next
	if reverse {
		next = c.Prev
	}
	for ; k != nil && fn(k, v); k, v = next() {
	}
}

func (t boltTx) Len(bucket string) int {
	if b := t.tx.Bucket([]byte(bucket)); b != nil {
		return b.Stats().KeyN
	}
	return 0
}
