// Package relay carries what passes between an upstream's session and the
// downstream clients, for the actors (which receive it) and the MCP
// endpoints (which serve the clients) without either importing the other:
// the Hub routes an upstream's requests (sampling, elicitation, roots) to
// the client whose call caused them and its notifications to every
// attached client; the ProgressRouter hands progress notifications back to
// the calling client under its own token; ConvertTool turns an SDK tool
// into the proxy's.
//
// Concurrency contract: a Hub and a ProgressRouter are safe for concurrent
// use. Each guards its maps with a mutex held only for map work, never
// while a client is called. A ProgressRouter delivers a call's
// notifications on a goroutine of that call's own, started while it has
// notifications pending; releasing the call's route waits, for a bounded
// time, until it is done.
package relay
