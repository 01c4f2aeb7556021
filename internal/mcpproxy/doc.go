// Package mcpproxy holds the plain vocabulary shared by every other package:
// server specifications, server states and statuses, tools, events and the
// application error type. It has no goroutines and depends only on the
// standard library; values here are treated as immutable once published.
package mcpproxy
