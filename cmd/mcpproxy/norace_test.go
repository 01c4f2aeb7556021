//go:build !race

package main

// raceEnabled is false without -race: benchmarks then measure a normal build.
const raceEnabled = false
