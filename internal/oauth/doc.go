// Package oauth logs mcpproxy in to HTTP upstreams that require OAuth 2.1
// and keeps the resulting tokens fresh. It wraps the go-sdk's auth and
// oauthex packages: discovery of protected-resource metadata (RFC 9728) and
// authorization-server metadata (RFC 8414 / OpenID Connect), dynamic client
// registration (RFC 7591), the authorization-code flow with PKCE (S256) and
// the resource parameter (RFC 8707) are theirs; this package adds the
// loopback redirect listener, storage of grants and registered clients in
// the store (bound to the server's URL), refresh, and the Manager that the
// daemon's REST API and upstream actors use.
//
// Login is usable on its own: given an Open callback that follows the
// authorization URL (a browser, or a program for non-interactive runs), it
// returns the grant.
//
// Concurrency contract: Manager is safe for concurrent use. Its mutex
// guards in-memory maps only and is never held across network or disk I/O;
// each login runs on a goroutine the Manager owns, which Close cancels and
// waits for. Tokens, codes and client secrets never appear in its errors,
// events or logs.
package oauth
