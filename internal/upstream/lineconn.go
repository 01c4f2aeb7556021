package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// lineConn is the mcp.Connection of a stdio upstream: JSON-RPC messages over
// the child's stdin and stdout, one per line. Beside the SDK's session it
// carries mcpproxy's own tools/call requests (CallTool), whose ids start
// with leanPrefix: their responses go straight to the waiting call and
// never reach the SDK. The SDK decodes every message it reads several times,
// each time with a fresh 32 KiB buffer; on a proxied call that garbage, not
// mcpproxy's work, was most of what the daemon spent.
//
// Everything else the child writes (responses to the SDK's requests, its
// notifications, its requests such as sampling) goes to the SDK as before,
// so the session, its handlers and the progress tap work unchanged.
type lineConn struct {
	w   io.WriteCloser // the child's stdin; Close stops the child
	wmu sync.Mutex     // one message written at a time

	incoming chan jsonrpc.Message // to Read
	closed   chan struct{}        // closed by Close
	readDone chan struct{}        // closed when the reader has returned
	readErr  error                // why the reader returned; set before readDone is closed
	once     sync.Once

	next    atomic.Uint64
	mu      sync.Mutex
	waiting map[string]chan leanReply // guarded by mu; by request id
	dead    error                     // guarded by mu; set when no reply can come any more
}

// leanPrefix starts the id of every request mcpproxy sends on its own. The
// SDK numbers its requests, so the two never collide.
const leanPrefix = "mcpproxy-"

// leanMarker is what a message answering such a request contains: the id
// as a JSON string.
var leanMarker = []byte(`"` + leanPrefix)

// leanReply is the result of one of mcpproxy's own requests, or why there
// is none.
type leanReply struct {
	res *mcp.CallToolResult
	err error
}

// newLineConn reads messages from r until it ends or Close is called.
func newLineConn(r io.Reader, w io.WriteCloser, maxMessage int64) *lineConn {
	c := &lineConn{
		w:        w,
		incoming: make(chan jsonrpc.Message),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		waiting:  map[string]chan leanReply{},
	}
	go c.read(r, maxMessage)
	return c
}

// read decodes one JSON value after another: the MCP stdio transport puts
// one message on a line, but a value may be split over lines, as the SDK
// also accepts.
//
// A decoder keeps its buffer, grown to the largest value it has read, for
// as long as it lives; after a value of more than keepDecoderBytes the
// reader starts a new decoder on what the old one had read ahead, so that
// one large result does not stay in memory until the child reconnects.
func (c *lineConn) read(r io.Reader, maxMessage int64) {
	lim := &budgetReader{r: r}
	dec := json.NewDecoder(lim)
	var base int64 // bytes read by decoders before dec
	var err error
	for {
		start := base + dec.InputOffset()
		lim.left = maxMessage + start // budget for the next value (approximately: the decoder reads ahead)
		var raw json.RawMessage
		if err = dec.Decode(&raw); err != nil {
			if lim.over {
				err = fmt.Errorf("upstream message exceeds %d bytes", maxMessage)
			}
			break
		}
		if base+dec.InputOffset()-start > keepDecoderBytes {
			ahead, _ := io.ReadAll(dec.Buffered()) // a copy: the old buffer goes
			base += dec.InputOffset()
			dec = json.NewDecoder(io.MultiReader(bytes.NewReader(ahead), lim))
		}
		if err = c.dispatch(raw); err != nil {
			break
		}
	}
	c.readErr = err
	c.fail(fmt.Errorf("connection closed: %w", err))
	close(c.readDone)
}

// keepDecoderBytes is the largest value after which read keeps its decoder.
const keepDecoderBytes = 1 << 20

// budgetReader fails once more than left bytes have been read in total.
type budgetReader struct {
	r    io.Reader
	read int64
	left int64 // the total the reader may reach
	over bool
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.read >= b.left {
		b.over = true
		return 0, errors.New("message too large")
	}
	if rem := b.left - b.read; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// dispatch hands one value read (a message or, in older protocol versions,
// a batch) to a waiting call or to the SDK.
func (c *lineConn) dispatch(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(raw, &batch); err != nil {
			return err
		}
		for _, m := range batch {
			if err := c.dispatch(m); err != nil {
				return err
			}
		}
		return nil
	}
	if bytes.Contains(raw, leanMarker) && c.claim(raw) {
		return nil
	}
	msg, err := jsonrpc.DecodeMessage(raw)
	if err != nil {
		return err
	}
	select {
	case c.incoming <- msg:
		return nil
	case <-c.closed:
		return io.EOF
	}
}

// leanEnvelope is a JSON-RPC message as mcpproxy's own requests read it,
// without its result: decoding it skips a result of many megabytes without
// copying it, and callResult then decodes the result from the message.
type leanEnvelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Error  *jsonrpc.Error  `json:"error"`
}

func (e *leanEnvelope) hasID() bool { return len(e.ID) > 0 && string(e.ID) != "null" }

// leanID returns the id of one of mcpproxy's own requests that e answers.
func (e *leanEnvelope) leanID() (string, bool) {
	var id string
	if e.Method != "" || json.Unmarshal(e.ID, &id) != nil || len(id) <= len(leanPrefix) || id[:len(leanPrefix)] != leanPrefix {
		return "", false
	}
	return id, true
}

// answers reports whether e is the response to the request with id.
func (e *leanEnvelope) answers(id string) bool {
	got, ok := e.leanID()
	return ok && got == id
}

// callResult returns the tools/call result the response msg carries, or
// its error. Text content, the common case, is decoded straight from msg,
// without first copying the result out of it.
func callResult(msg []byte) (*mcp.CallToolResult, error) {
	var r struct {
		Error  *jsonrpc.Error `json:"error"`
		Result *leanResult    `json:"result"`
	}
	if err := json.Unmarshal(msg, &r); err == nil {
		switch {
		case r.Error != nil:
			return nil, r.Error
		case r.Result == nil:
			return nil, fmt.Errorf("tools/call: the upstream's response has no result")
		case r.Result.simple():
			return r.Result.callToolResult(), nil
		}
	}
	var whole struct {
		Error  *jsonrpc.Error  `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(msg, &whole); err != nil {
		return nil, fmt.Errorf("tools/call: decode the upstream's result: %w", err)
	}
	if whole.Error != nil {
		return nil, whole.Error
	}
	return decodeCallResult(whole.Result)
}

// claim delivers raw to the call waiting for it, if raw is the response to
// one of mcpproxy's own requests. A response whose call has given up is
// dropped undecoded: the SDK did not send that request. The result is
// decoded here, so that raw is garbage as soon as claim returns.
func (c *lineConn) claim(raw []byte) bool {
	var env leanEnvelope
	if json.Unmarshal(raw, &env) != nil {
		return false
	}
	id, ok := env.leanID()
	if !ok {
		return false
	}
	c.mu.Lock()
	ch := c.waiting[id]
	delete(c.waiting, id)
	c.mu.Unlock()
	if ch != nil {
		res, err := callResult(raw)
		ch <- leanReply{res: res, err: err} // buffered
	}
	return true
}

// fail ends every call waiting for a response, and any made later, with err.
func (c *lineConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead == nil {
		c.dead = err
	}
	for id, ch := range c.waiting {
		ch <- leanReply{err: c.dead}
		delete(c.waiting, id)
	}
}

func (c *lineConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-c.incoming:
		return m, nil
	case <-c.readDone:
		// The reader hands over every message before it returns.
		if c.readErr == nil || errors.Is(c.readErr, io.EOF) {
			return nil, io.EOF
		}
		return nil, c.readErr
	case <-c.closed:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *lineConn) Write(_ context.Context, msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	return c.writeLine(data)
}

// writeLine writes one message and its newline in one write, so that no
// other message can come between them.
func (c *lineConn) writeLine(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closed:
		return errors.New("connection closed")
	default:
	}
	_, err := c.w.Write(append(data, '\n'))
	return err
}

// Close stops the child (through its stdin's closer), which ends the
// reader, and waits for the reader.
func (c *lineConn) Close() error {
	c.once.Do(func() {
		c.wmu.Lock()
		close(c.closed)
		c.wmu.Unlock()
		c.w.Close()
		c.fail(errors.New("connection closed"))
	})
	<-c.readDone
	return nil
}

func (c *lineConn) SessionID() string { return "" }

// leanRequest is one of mcpproxy's own requests on the wire.
type leanRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      string `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// CallTool calls a tool on the child with a request of mcpproxy's own,
// beside the SDK's session, and decodes the result without the SDK. When
// ctx ends first, the child is told the request is cancelled, as the SDK
// would.
func (c *lineConn) CallTool(ctx context.Context, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	id, data, err := encodeCall(&c.next, params)
	if err != nil {
		return nil, err
	}
	ch := make(chan leanReply, 1)
	c.mu.Lock()
	if c.dead != nil {
		err := c.dead
		c.mu.Unlock()
		return nil, err
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	if err := c.writeLine(data); err != nil {
		c.forget(id)
		return nil, fmt.Errorf("send tools/call: %w", err)
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		c.forget(id)
		c.cancelRequest(id, ctx.Err())
		return nil, ctx.Err()
	}
}

func (c *lineConn) forget(id string) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// cancelRequest sends notifications/cancelled for one of mcpproxy's own
// requests.
func (c *lineConn) cancelRequest(id string, why error) {
	c.writeLine(cancelNotice(id, why.Error())) // best effort: the child may be gone
}
