// Package testupstream provides MCP servers with scripted behaviour for tests
// of mcpproxy. It is test-only: nothing outside _test.go files and test
// helpers may import it.
//
// It owns three kinds of upstream:
//
//   - [NewServer] builds an in-process go-sdk server with a fixed tool set
//     (echo, add, sleep, fail, add_tool, remove_tool) plus generated tools.
//   - [StartStreamable], [StartSSE], [StartHanging] and [StartStatus] serve
//     HTTP on a loopback port; each [HTTPServer] is closed by tb.Cleanup.
//   - [RunIfChild] and [Command] turn the running test binary into a stdio
//     upstream with a scripted failure mode (hang, exit, crash, garbage, …).
//
// Concurrency: a server built by NewServer may serve many sessions at once
// (the SDK serialises its own state). HTTPServer methods are safe for
// concurrent use; Close waits until every handler it started has returned,
// so a test that closes its servers leaks no goroutines from them.
package testupstream
