package relay

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type fakePeer struct {
	name string
	got  chan context.Context
}

func (p *fakePeer) CreateMessage(ctx context.Context, _ *mcp.CreateMessageWithToolsParams) (*mcp.CreateMessageWithToolsResult, error) {
	p.got <- ctx
	return &mcp.CreateMessageWithToolsResult{Model: p.name}, nil
}
func (p *fakePeer) Elicit(context.Context, *mcp.ElicitParams) (*mcp.ElicitResult, error) {
	return &mcp.ElicitResult{Action: p.name}, nil
}
func (p *fakePeer) ListRoots(context.Context, *mcp.ListRootsParams) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{}, nil
}
func (p *fakePeer) Notify(context.Context, string, mcp.Params) {}

type key struct{}

// TestHub_Routing: a request goes to the caller its context carries; else
// to the one peer with calls in flight, within its latest call but ending
// with the upstream's request rather than with that call; with calls of
// two peers in flight, to nobody.
func TestHub_Routing(t *testing.T) {
	h := NewHub()
	a := &fakePeer{name: "a", got: make(chan context.Context, 4)}
	b := &fakePeer{name: "b", got: make(chan context.Context, 4)}

	if _, err := h.CreateMessage(context.Background(), "s", nil); err != ErrNoPeer {
		t.Fatalf("no call in flight: err = %v, want ErrNoPeer", err)
	}

	first, cancelFirst := context.WithCancel(context.WithValue(context.Background(), key{}, "first"))
	defer cancelFirst()
	endFirst := h.BeginCall(first, "s", a)
	second, cancelSecond := context.WithCancel(context.WithValue(context.Background(), key{}, "second"))
	endSecond := h.BeginCall(second, "s", a)
	upstream, cancelUpstream := context.WithCancel(context.Background())
	res, err := h.CreateMessage(upstream, "s", nil)
	if err != nil || res.Model != "a" {
		t.Fatalf("one peer's calls in flight: %v, %v; want a's answer", res, err)
	}
	ctx := <-a.got
	if v := ctx.Value(key{}); v != "second" {
		t.Errorf("asked within %v, want the latest call", v)
	}
	// The call it was asked within ends before the answer: the question
	// must not end with it.
	endSecond()
	cancelSecond()
	if ctx.Err() != nil {
		t.Error("the question ended with the call it was asked within")
	}
	cancelUpstream()
	if ctx.Err() == nil {
		t.Error("the question outlived the upstream's request")
	}

	endB := h.BeginCall(context.Background(), "s", b)
	if _, err := h.CreateMessage(context.Background(), "s", nil); err != ErrNoPeer {
		t.Errorf("two peers' calls in flight: err = %v, want ErrNoPeer", err)
	}
	// The caller a context carries wins over the calls in flight.
	if res, err := h.CreateMessage(WithCaller(context.Background(), b), "s", nil); err != nil || res.Model != "b" {
		t.Errorf("with a caller: %v, %v; want b's answer", res, err)
	}
	<-b.got
	endB()
	endFirst()
}
