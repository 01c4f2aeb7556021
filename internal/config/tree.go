package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// node is an order-preserving JSON value. encoding/json's maps lose key order
// and its float64 numbers lose precision, and the file is the user's: an edit
// must give back their keys in their order with their numbers untouched.
type node struct {
	kind nodeKind
	raw  []byte   // valueNode: the literal, compact (strings re-encoded)
	keys []string // objectNode; duplicates are kept, lookups use the last
	vals []*node  // objectNode values parallel to keys, or arrayNode elements
}

type nodeKind uint8

const (
	valueNode nodeKind = iota
	objectNode
	arrayNode
)

var nullRaw = []byte("null")

// parseTree parses a whole file, which must be one JSON object.
func parseTree(data []byte) (*node, error) {
	if !json.Valid(data) {
		return nil, syntaxError(data)
	}
	n, err := parseValue(data)
	if err != nil {
		return nil, invalidf("config: %v", err)
	}
	if n.kind != objectNode {
		return nil, invalidf("config: want a JSON object")
	}
	return n, nil
}

// parseValue parses one JSON value; data must already be valid JSON.
func parseValue(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the top-level value")
	}
	return n, nil
}

func readNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: objectNode}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("want an object key, got %v", kt)
				}
				v, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil { // the closing '}'
				return nil, err
			}
			return n, nil
		case '[':
			n := &node{kind: arrayNode}
			for dec.More() {
				v, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil { // the closing ']'
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &node{raw: encodeString(t)}, nil
	case json.Number:
		return &node{raw: []byte(t)}, nil
	case bool:
		return &node{raw: []byte(strconv.FormatBool(t))}, nil
	case nil:
		return &node{raw: nullRaw}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// encodeString quotes s as JSON without escaping <, > and &: this is a file
// people read, not HTML.
func encodeString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// toNode converts a Go value to a node through its JSON encoding, so that
// anything json.Marshal accepts (including json.RawMessage) can be stored.
func toNode(v any) (*node, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return parseValue(b.Bytes())
}

func (n *node) isNull() bool { return n.kind == valueNode && bytes.Equal(n.raw, nullRaw) }

// str returns the value of a string node.
func (n *node) str() (string, bool) {
	if n.kind != valueNode || len(n.raw) == 0 || n.raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(n.raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// index returns the position of the last occurrence of key, matching
// encoding/json where a repeated key's last value wins.
func (n *node) index(key string) int {
	for i := len(n.keys) - 1; i >= 0; i-- {
		if n.keys[i] == key {
			return i
		}
	}
	return -1
}

func (n *node) get(key string) (*node, bool) {
	if i := n.index(key); i >= 0 {
		return n.vals[i], true
	}
	return nil, false
}

// set replaces key's value in place, or appends the key.
func (n *node) set(key string, v *node) {
	if i := n.index(key); i >= 0 {
		n.vals[i] = v
		return
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

// setOrdered is set, except that a new key goes after the nearest key that
// precedes it in order (or first), so entries we write keep a natural shape.
func (n *node) setOrdered(key string, v *node, order []string) {
	if i := n.index(key); i >= 0 {
		n.vals[i] = v
		return
	}
	at := 0
	for _, k := range order {
		if k == key {
			break
		}
		if i := n.index(k); i >= 0 && i+1 > at {
			at = i + 1
		}
	}
	n.insert(at, key, v)
}

func (n *node) insert(at int, key string, v *node) {
	n.keys = slices.Insert(n.keys, at, key)
	n.vals = slices.Insert(n.vals, at, v)
}

// del removes every occurrence of key.
func (n *node) del(key string) {
	for i := len(n.keys) - 1; i >= 0; i-- {
		if n.keys[i] == key {
			n.keys = slices.Delete(n.keys, i, i+1)
			n.vals = slices.Delete(n.vals, i, i+1)
		}
	}
}

func (n *node) clone() *node {
	c := &node{kind: n.kind, raw: n.raw, keys: slices.Clone(n.keys)}
	if n.vals != nil {
		c.vals = make([]*node, len(n.vals))
		for i, v := range n.vals {
			c.vals[i] = v.clone()
		}
	}
	return c
}

// encode writes n as JSON, indented by indent per level, or compact when
// indent is empty.
func (n *node) encode(b *bytes.Buffer, indent string, depth int) {
	newline := func(d int) {
		if indent == "" {
			return
		}
		b.WriteByte('\n')
		for range d {
			b.WriteString(indent)
		}
	}
	switch n.kind {
	case valueNode:
		b.Write(n.raw)
	case objectNode, arrayNode:
		open, closing := byte('{'), byte('}')
		if n.kind == arrayNode {
			open, closing = '[', ']'
		}
		b.WriteByte(open)
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			if n.kind == objectNode {
				b.Write(encodeString(n.keys[i]))
				b.WriteByte(':')
				if indent != "" {
					b.WriteByte(' ')
				}
			}
			v.encode(b, indent, depth+1)
		}
		if len(n.vals) > 0 {
			newline(depth)
		}
		b.WriteByte(closing)
	}
}

func (n *node) compact() []byte {
	var b bytes.Buffer
	n.encode(&b, "", 0)
	return b.Bytes()
}

// kindName names the JSON type of n, for messages.
func (n *node) kindName() string {
	switch {
	case n.kind == objectNode:
		return "object"
	case n.kind == arrayNode:
		return "array"
	case len(n.raw) == 0:
		return "nothing"
	}
	switch n.raw[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
