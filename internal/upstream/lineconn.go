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
	"time"

	"github.com/mcpproxy/mcpproxy/internal/sse"
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
//
// Closing never waits on a write: Close closes the child's stdin first,
// which makes a write blocked on a child that stopped reading return. A
// write honours its context: it gives up waiting for its turn when the
// context ends, and a write blocked in the pipe past the context returns
// the context's error. A message cut off that way would corrupt the
// stream, so it ends the connection (the actor then reconnects).
type lineConn struct {
	w     io.WriteCloser // the child's stdin; Close stops the child
	wturn chan struct{}  // holds a token while a message is written: one at a time

	incoming chan jsonrpc.Message // to Read
	closed   chan struct{}        // closed by shut
	readDone chan struct{}        // closed when the reader has returned
	readErr  error                // why the reader returned; set before readDone is closed
	shutOnce sync.Once
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

// newLineConn reads messages from r until it ends or Close is called; a
// message of more than SpoolAfter bytes through a file in spool, if not
// empty.
func newLineConn(r io.Reader, w io.WriteCloser, maxMessage int64, spool string) *lineConn {
	c := &lineConn{
		w:        w,
		wturn:    make(chan struct{}, 1),
		incoming: make(chan jsonrpc.Message),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		waiting:  map[string]chan leanReply{},
	}
	go c.read(r, maxMessage, spool)
	return c
}

// read reads one message after another: the MCP stdio transport puts one
// message on a line. A line that is not one complete JSON value (a value
// split over lines, or several values on a line, as the SDK also accepts)
// is decoded value by value, the rest of it kept for the next line.
//
// A line is read into a slice of its own, of its exact size: a large result
// costs its size once here (a growing buffer would cost twice that, and a
// decoder kept for the connection would keep its buffer, grown to the
// largest message, until the child reconnects).
func (c *lineConn) read(r io.Reader, maxMessage int64, spool string) {
	lr := sse.NewReader(r, lineChunk)
	if spool != "" {
		lr.Spool(spool, SpoolAfter)
	}
	var pending []byte // the start of a value that goes on on the next line
	var err error
	for err == nil {
		var line []byte
		var owned bool
		line, owned, err = lr.Line(maxMessage - int64(len(pending)))
		if errors.Is(err, sse.ErrTooLong) {
			err = fmt.Errorf("upstream message exceeds %d bytes", maxMessage)
			break
		}
		if !owned {
			line = append([]byte(nil), line...)
		}
		if len(pending) == 0 && json.Valid(line) {
			if derr := c.dispatch(line); derr != nil {
				err = derr
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 && len(pending) == 0 {
			continue
		}
		pending = append(append(pending, line...), '\n')
		var derr error
		if pending, derr = c.dispatchValues(pending); derr != nil {
			err = derr
		}
	}
	if errors.Is(err, io.EOF) && len(bytes.TrimSpace(pending)) > 0 {
		err = io.ErrUnexpectedEOF
	}
	c.readErr = err
	c.fail(fmt.Errorf("connection closed: %w", err))
	close(c.readDone)
}

// dispatchValues dispatches every complete value in data and returns what
// is left of it: the start of a value not yet complete.
func (c *lineConn) dispatchValues(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var done int64
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		switch {
		case err == io.EOF:
			return nil, nil
		case err == io.ErrUnexpectedEOF:
			return append([]byte(nil), data[done:]...), nil
		case err != nil:
			return nil, err
		}
		done = dec.InputOffset()
		if err := c.dispatch(raw); err != nil {
			return nil, err
		}
	}
}

// lineChunk is the size of the reader's buffer, which every stdio server
// holds while it is connected: small, so that a thousand idle servers cost
// little; a long line is gathered past it.
const lineChunk = 4 << 10

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
// without first copying the result out of it, and a large text in place
// in msg: msg is the caller's to give, and must not change afterwards.
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
			return r.Result.callToolResult(msg), nil
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

func (c *lineConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	return c.writeLine(ctx, data)
}

// errClosed is what a write on a closed connection returns.
var errClosed = errors.New("connection closed")

// deadlineWriter is a writer whose blocked writes a deadline can end, as
// an *os.File pipe's can.
type deadlineWriter interface {
	SetWriteDeadline(t time.Time) error
}

// writeCloser is a writer that can close its write side alone, without
// the rest of what Close does (stopping the child).
type writeCloser interface {
	CloseWrite() error
}

// writeLine writes one message and its newline in one write, so that no
// other message can come between them. It returns ctx's error if ctx ends
// before the message is written; if part of it was written by then, the
// connection is closed, since the stream can no longer be framed.
func (c *lineConn) writeLine(ctx context.Context, data []byte) error {
	select {
	case c.wturn <- struct{}{}:
	case <-c.closed:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.wturn }()
	select {
	case <-c.closed:
		return errClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	line := append(data, '\n')
	dw, _ := c.w.(deadlineWriter)
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		if dw == nil || dw.SetWriteDeadline(time.Unix(1, 0)) != nil {
			// Nothing but closing can end the write.
			c.breakWrites(ctx.Err())
		}
	})
	n, err := c.w.Write(line)
	if stop() {
		return err
	}
	// ctx ended during the write; the deadline, if set, must not outlive it.
	<-interrupted
	if dw != nil {
		dw.SetWriteDeadline(time.Time{})
	}
	if n == len(line) {
		return nil
	}
	if n > 0 {
		c.breakWrites(ctx.Err())
		return fmt.Errorf("%w (after %d of %d bytes; connection closed)", ctx.Err(), n, len(line))
	}
	return ctx.Err()
}

// breakWrites ends the connection after a write cut off by its context:
// it closes the write side, which the child reads as the end of its
// input, and ends reads and waiting calls at once.
func (c *lineConn) breakWrites(why error) {
	if wc, ok := c.w.(writeCloser); ok {
		wc.CloseWrite()
	} else {
		c.w.Close()
	}
	c.shut(fmt.Errorf("connection closed: a write was cut off: %w", why))
}

// shut ends the connection for its users without waiting for anything:
// reads and writes return, and waiting calls fail with err.
func (c *lineConn) shut(err error) {
	c.shutOnce.Do(func() {
		close(c.closed)
		c.fail(err)
	})
}

// Close stops the child (through its stdin's closer, which closes stdin
// first, so that a blocked write returns), which ends the reader, and
// waits for the reader. It never waits for a write.
func (c *lineConn) Close() error {
	c.once.Do(func() {
		c.shut(errClosed)
		c.w.Close()
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
	if err := c.writeLine(ctx, data); err != nil {
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

// cancelNoticeGrace bounds how long telling the child that a call was
// cancelled may wait for the pipe, so that the call returns promptly.
const cancelNoticeGrace = 250 * time.Millisecond

// cancelRequest sends notifications/cancelled for one of mcpproxy's own
// requests, best effort: the child may be gone or not reading.
func (c *lineConn) cancelRequest(id string, why error) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelNoticeGrace)
	defer cancel()
	c.writeLine(ctx, cancelNotice(id, why.Error()))
}
