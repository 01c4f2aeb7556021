//go:build !linux

package config

import "os"

// exchange renames a over b: this system has no atomic exchange of two
// names, so it reports false.
func exchange(a, b string) (swapped bool, err error) {
	return false, os.Rename(a, b)
}
