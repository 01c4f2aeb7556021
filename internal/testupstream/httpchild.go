package testupstream

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ModeHTTP serves NewServer over streamable HTTP on a loopback port of its
// own, in its own process as real HTTP upstreams are, and writes its
// endpoint URL as the first line of stdout. It stops at stdin EOF.
const ModeHTTP = "http"

func serveHTTPChild(opts Options) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testupstream: %v\n", err)
		return 1
	}
	srv := NewServer(opts)
	hs := &http.Server{Handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	fmt.Printf("http://%s/mcp\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	hs.Close()
	<-done
	return 0
}
