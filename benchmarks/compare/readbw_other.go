//go:build !amd64

package compare

// sumWords returns the wrapping sum of the little-endian 64-bit words of
// b (len(b) a multiple of 8); prefetch has no portable meaning.
func sumWords(b []byte, prefetch bool) uint64 { return sumGo(b) }
