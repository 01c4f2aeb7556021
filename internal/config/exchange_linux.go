package config

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// exchange atomically swaps the files named a and b, so that b holds what
// a held and a what b held; it reports false if the file system cannot,
// in which case it has renamed a over b instead.
func exchange(a, b string) (swapped bool, err error) {
	err = unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		return false, os.Rename(a, b)
	default:
		return false, &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
}
