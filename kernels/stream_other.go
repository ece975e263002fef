//go:build !amd64

package kernels

// streamPrefetch is false off amd64: no kernel there issues software
// prefetches (stream_amd64.go says what amd64 chooses and why).
const streamPrefetch = false
