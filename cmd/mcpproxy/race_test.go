//go:build race

package main

// raceEnabled makes TestMain build the daemon with -race when the tests run
// with -race, so the daemon's own data races fail the end-to-end tests too.
const raceEnabled = true
