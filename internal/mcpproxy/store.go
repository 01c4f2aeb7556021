package mcpproxy

// Store keeps learned state: named buckets of records, each a key and a
// value of bytes, in key order. The packages that keep learned state
// (pinning, oauth, activity, token) own their buckets and the encoding of
// their records and see the store only through this interface; package
// store implements it over the bbolt file in the data directory.
//
// Update runs one transaction at a time; View runs beside them and sees a
// consistent state. A transaction whose fn returns an error changes nothing.
type Store interface {
	View(fn func(StoreTx) error) error
	Update(fn func(StoreTx) error) error
}

// StoreTx is one transaction of a Store. Keys and values it returns are
// valid until the transaction ends; copy them to keep them. A bucket that
// was never written reads as empty. Put, Append and Delete fail in a View.
type StoreTx interface {
	// Get returns the value of key in bucket, or nil.
	Get(bucket string, key []byte) []byte
	// Put sets the value of key in bucket.
	Put(bucket string, key, value []byte) error
	// Append is Put for keys that mostly arrive in increasing order, which
	// a store may pack more tightly.
	Append(bucket string, key, value []byte) error
	// Delete removes key from bucket; a missing key is not an error.
	Delete(bucket string, key []byte) error
	// Scan calls fn for the records of bucket in key order, from the first
	// key at or after from (nil: the first key), until fn returns false.
	// With reverse, in descending order from the last key before from
	// (nil: the last key). fn must not write to the transaction.
	Scan(bucket string, from []byte, reverse bool, fn func(key, value []byte) bool)
	// Len is the number of records in bucket.
	Len(bucket string) int
}
