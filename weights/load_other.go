//go:build !unix

package weights

import "errors"

// AllocAnon falls back to the Go heap where anonymous mappings are not
// available; free does nothing.
func AllocAnon(n int) ([]byte, func(), error) { return make([]byte, n), func() {}, nil }

// lockMemory is not supported on this platform.
func lockMemory([]byte) (func(), error) {
	return nil, errors.New("mlock is not supported on this platform")
}
