// Package upstream connects to one upstream MCP server and keeps it
// connected. It provides the transports (stdio child processes, streamable
// HTTP, SSE) and the Actor: one goroutine per server that owns that server's
// connection or child process, its backoff and its tool list. Connect opens
// one connection the same way, without an actor, for one-off use such as
// `mcpproxy upstream probe`.
//
// Concurrency contract: only an actor's own goroutine touches its session,
// process and backoff. Other goroutines talk to it through Restart and Stop,
// and read what it publishes in the state view (including the session, which
// the SDK makes safe for concurrent calls). Every goroutine started here is
// stopped and waited for by Actor.Stop / Conn.Close / LogBuffer.Close.
package upstream
