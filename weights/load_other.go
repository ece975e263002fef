//go:build !unix

package weights

import "errors"

// allocAnon falls back to the Go heap where anonymous mappings are not
// available.
func allocAnon(n int) ([]byte, func(), error) { return make([]byte, n), func() {}, nil }

// lockMemory is not supported on this platform.
func lockMemory([]byte) (func(), error) {
	return nil, errors.New("mlock is not supported on this platform")
}
